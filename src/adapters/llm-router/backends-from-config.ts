/**
 * Builds the configured LLM backends, each behind its own bounded queue: the built-in `ollama` (OLLAMA_HOST),
 * `openai` (OPENAI_BASE_URL / OPENAI_API_KEY, when configured or the default) and `host` (the MCP host's
 * model), plus every entry of `llm.backends`. Which one is the default follows `llm.defaultBackend`, else
 * `llm.provider` (`auto` = Ollama with the host's model as its stand-in).
 */
import type { Config } from '../../config/schema.js';
import type { LlmProvider } from '../../ports/llm.js';
import type { LlmSlotLeases } from '../../ports/llm-slot-leases.js';
import type { LlmSlots } from '../../ports/llm-slots.js';
import { FallbackToHostProvider, HostLlmProvider, type HostModelBridge } from '../host/host-model.js';
import { QueuedLlmProvider } from '../llm-queue/queued-provider.js';
import { normalizeOllamaHost, OllamaProvider, type OllamaLogger } from '../ollama/ollama-provider.js';
import { OpenAiProvider } from '../openai/openai-provider.js';
import type { BackendKind, RoutedBackend } from './model-router.js';

/** Where the built-in `openai` backend points when OPENAI_BASE_URL is not set. */
export const DEFAULT_OPENAI_URL = 'https://api.openai.com/v1';

export interface BuiltBackends {
  backends: RoutedBackend[];
  defaultBackend: string;
}

export interface BackendOptions {
  logger: OllamaLogger;
  hostModel: HostModelBridge;
  /** Replaces the default backend's adapter (tests of other backends); it keeps the default's name and queue. */
  override?: LlmProvider;
  /**
   * With several nodes: the slots the nodes share for a backend (by name), so its concurrency and queue
   * bound hold for the deployment. Not asked for the MCP host's model (each host lends its own).
   */
  sharedSlots?: (backend: string, limits: { concurrency: number; maxQueued: number }) => LlmSlots;
  onSharedFailure?: (backend: string, error: unknown) => void;
  /**
   * A jobs worker thread's: each backend leases its slots from the main thread's queue of the same name
   * (`QueuedLlmProvider`'s `leases`), so a chat there preempts this thread's background calls. Not asked
   * for the MCP host's model (the worker has no MCP host).
   */
  leases?: (backend: string) => LlmSlotLeases;
}

export function backendsFromConfig(llm: Config['llm'], options: BackendOptions): BuiltBackends {
  const queue = (name: string, kind: BackendKind, provider: LlmProvider, limits: { concurrency?: number | undefined; maxQueued?: number | undefined } = {}): QueuedLlmProvider => {
    const bounds = { concurrency: limits.concurrency ?? llm.concurrency, maxQueued: limits.maxQueued ?? llm.maxQueued };
    const shared = kind === 'host' ? undefined : options.sharedSlots?.(name, bounds);
    const leases = kind === 'host' ? undefined : options.leases?.(name);
    return new QueuedLlmProvider(provider, {
      ...bounds,
      ...(shared === undefined ? {} : { shared, onSharedFailure: (error: unknown) => options.onSharedFailure?.(name, error) }),
      ...(leases === undefined ? {} : { leases }),
    });
  };
  const timeouts = { requestTimeoutMs: llm.timeoutMs, firstTokenTimeoutMs: llm.firstTokenTimeoutMs, logger: options.logger };

  const host = new HostLlmProvider(options.hostModel);
  const ollamaUrl = normalizeOllamaHost(llm.ollamaHost);
  const ollama = new OllamaProvider({ baseUrl: ollamaUrl, ...timeouts });
  const entries: Array<{ name: string; kind: BackendKind; endpoint: string; provider: LlmProvider; limits?: { concurrency?: number | undefined; maxQueued?: number | undefined }; contextTokens?: number | undefined }> = [
    { name: 'ollama', kind: 'ollama', endpoint: ollamaUrl, provider: llm.provider === 'auto' ? new FallbackToHostProvider(ollama, host, options.hostModel) : ollama },
  ];
  const hasOpenAi = llm.provider === 'openai' || llm.openai.baseUrl !== undefined || llm.openai.apiKey !== undefined || llm.defaultBackend === 'openai';
  if (hasOpenAi) {
    const baseUrl = llm.openai.baseUrl ?? DEFAULT_OPENAI_URL;
    entries.push({
      name: 'openai',
      kind: 'openai',
      endpoint: baseUrl,
      provider: new OpenAiProvider({ name: 'openai', baseUrl, apiKey: llm.openai.apiKey, sendExtraOptions: llm.openai.sendExtraOptions ?? baseUrl !== DEFAULT_OPENAI_URL, ...timeouts }),
    });
  }
  for (const [name, backend] of Object.entries(llm.backends)) {
    const backendTimeouts = {
      requestTimeoutMs: backend.timeoutMs ?? llm.timeoutMs,
      firstTokenTimeoutMs: backend.firstTokenTimeoutMs ?? llm.firstTokenTimeoutMs,
      logger: options.logger,
    };
    const entry =
      backend.kind === 'ollama'
        ? (() => {
            const url = normalizeOllamaHost(backend.url);
            return { endpoint: url, provider: new OllamaProvider({ baseUrl: url, ...backendTimeouts }) };
          })()
        : {
            endpoint: backend.url,
            provider: new OpenAiProvider({ name, baseUrl: backend.url, apiKey: backend.apiKey, sendExtraOptions: backend.sendExtraOptions ?? true, ...backendTimeouts }),
          };
    const existing = entries.findIndex((candidate) => candidate.name === name);
    const full = { name, kind: backend.kind, ...entry, limits: { concurrency: backend.concurrency, maxQueued: backend.maxQueued }, contextTokens: backend.contextTokens };
    if (existing === -1) entries.push(full);
    else entries[existing] = full; // a named `ollama` or `openai` replaces the built-in one
  }
  entries.push({ name: 'host', kind: 'host', endpoint: 'the MCP host (sampling)', provider: host });

  const defaultBackend = llm.defaultBackend ?? (llm.provider === 'auto' ? 'ollama' : llm.provider);
  return {
    defaultBackend,
    backends: entries.map((entry) => ({
      name: entry.name,
      kind: entry.kind,
      endpoint: entry.endpoint,
      contextTokens: entry.contextTokens ?? null,
      provider: queue(entry.name, entry.kind, entry.name === defaultBackend && options.override !== undefined ? options.override : entry.provider, entry.limits),
    })),
  };
}
