/**
 * `doctor` for the backends beside the built-in Ollama (docs/backends.md): every OpenAI-compatible or named
 * Ollama backend is asked for its models, and each model a persona, the default, a task or the fall-back
 * chain names on it is checked there. Which backend a model reference means is decided as the server
 * decides it (`parseModelRef`).
 */
import { DEFAULT_OPENAI_URL } from '../adapters/llm-router/backends-from-config.js';
import { normalizeOllamaHost, OllamaProvider } from '../adapters/ollama/ollama-provider.js';
import { OpenAiProvider } from '../adapters/openai/openai-provider.js';
import type { Config } from '../config/schema.js';
import { isAppError } from '../domain/errors.js';
import { isModelListed, parseModelRef, type ModelRef } from '../domain/model-selection.js';
import type { LlmProvider } from '../ports/llm.js';
import type { Check } from './doctor-checks.js';

interface BackendToCheck {
  name: string;
  kind: 'ollama' | 'openai';
  endpoint: string;
  provider: LlmProvider;
}

/** The default backend's name, as the server picks it. */
export function defaultBackendName(config: Config): string {
  return config.llm.defaultBackend ?? (config.llm.provider === 'auto' ? 'ollama' : config.llm.provider);
}

/** Every model reference in use, resolved: the default, each persona's, the tasks', the fall-back chain. */
export function modelsInUse(config: Config, personas: Array<{ name: string; model: string | null }>): Array<{ ref: ModelRef; users: string[] }> {
  const names = ['ollama', 'openai', 'host', ...Object.keys(config.llm.backends)];
  const resolve = (reference: string): ModelRef => parseModelRef(reference, names, defaultBackendName(config));
  const uses = new Map<string, { ref: ModelRef; users: string[] }>();
  const add = (reference: string, user: string): void => {
    const ref = resolve(reference);
    const key = `${ref.backend}:${ref.model}`;
    const entry = uses.get(key) ?? { ref, users: [] };
    if (!entry.users.includes(user)) entry.users.push(user);
    uses.set(key, entry);
  };
  add(config.llm.model, 'default');
  for (const persona of personas) add(persona.model ?? config.llm.model, persona.name);
  for (const [task, reference] of Object.entries(config.llm.tasks)) if (reference !== undefined) add(reference, `task ${task}`);
  for (const reference of config.llm.fallback) add(reference, 'fall-back');
  return [...uses.values()];
}

/** Checks for every backend other than the built-in Ollama and the MCP host, with the models used on each. */
export async function checkOtherBackends(config: Config, personas: Array<{ name: string; model: string | null }>): Promise<Check[]> {
  const backends: BackendToCheck[] = [];
  const limits = { listTimeoutMs: 3000, statusTimeoutMs: 2000 };
  const hasOpenAi = config.llm.provider === 'openai' || config.llm.openai.baseUrl !== undefined || config.llm.openai.apiKey !== undefined || config.llm.defaultBackend === 'openai';
  if (hasOpenAi && config.llm.backends['openai'] === undefined) {
    const baseUrl = config.llm.openai.baseUrl ?? DEFAULT_OPENAI_URL;
    backends.push({ name: 'openai', kind: 'openai', endpoint: baseUrl, provider: new OpenAiProvider({ baseUrl, apiKey: config.llm.openai.apiKey, ...limits }) });
  }
  for (const [name, backend] of Object.entries(config.llm.backends)) {
    if (backend.kind === 'openai') {
      backends.push({ name, kind: 'openai', endpoint: backend.url, provider: new OpenAiProvider({ name, baseUrl: backend.url, apiKey: backend.apiKey, ...limits }) });
    } else {
      const baseUrl = normalizeOllamaHost(backend.url);
      backends.push({ name, kind: 'ollama', endpoint: baseUrl, provider: new OllamaProvider({ baseUrl, ...limits }) });
    }
  }
  const uses = modelsInUse(config, personas);
  const checks: Check[] = [];
  for (const backend of backends) {
    const id = `backend:${backend.name}`;
    const what = backend.kind === 'openai' ? 'OpenAI-compatible server' : 'Ollama';
    let listed: string[] | null = null;
    try {
      listed = (await backend.provider.listModels()).map((model) => model.name);
      checks.push({ id, status: 'ok', title: `${what} "${backend.name}" reachable at ${backend.endpoint} (${listed.length} models)` });
    } catch (error) {
      checks.push({
        id,
        status: 'warn',
        title: `${what} "${backend.name}" not reachable at ${backend.endpoint}`,
        details: [isAppError(error) ? error.message : String(error)],
        fix: backend.kind === 'openai' ? 'Start the server (llama-server, vllm serve, LM Studio) or fix its URL (it ends in /v1).' : 'Start that Ollama or fix its url.',
      });
    }
    for (const use of uses.filter((candidate) => candidate.ref.backend === backend.name)) {
      const title = `${backend.name}:${use.ref.model} — ${use.users.join(', ')}`;
      const modelId = `model:${backend.name}:${use.ref.model}`;
      if (listed === null) checks.push({ id: modelId, status: 'skip', title: `Model ${title} not checked (backend unreachable)` });
      else if (isModelListed(listed, use.ref.model, backend.kind)) checks.push({ id: modelId, status: 'ok', title: `Model ${title} available` });
      else
        checks.push({
          id: modelId,
          status: 'warn',
          title: `Model ${title} is not served by ${backend.name}`,
          fix: backend.kind === 'openai' ? `Load ${use.ref.model} in that server, or name one it lists: ${listed.slice(0, 5).join(', ')}` : `ollama pull ${use.ref.model} (on that Ollama)`,
        });
    }
  }
  return checks;
}
