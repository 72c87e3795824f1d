/**
 * The MCP host's own model as an LLM backend (`llm.provider: "host"`, or `"auto"` when Ollama is down).
 *
 * A chat turn cannot call the host directly: under MCP 2026-07-28 the server asks for the host's model by
 * answering the tool call with an `input_required` result (an embedded `sampling/createMessage`) and the
 * host retries the call with the model's answer; under 2025-11-25 the SDK turns that same result into a
 * real `sampling/createMessage` request and re-enters the handler. Either way the turn runs twice: the
 * first run stops at the model with {@link HostInputRequired} (the user's message is already stored), the
 * second run is given the host's answer and completes the turn.
 *
 * The MCP transport says what the current request allows through a {@link HostTurn} kept in an
 * `AsyncLocalStorage` ({@link HostModelBridge}); the providers here read it. Outside an MCP request (a
 * WebSocket client) there is no host to ask, and the providers answer `llm_unavailable`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { AppError, isAppError } from '../../domain/errors.js';
import type { HostModelPort, HostModelRequest, HostModelTurn, HostReply } from '../../ports/host-model.js';
import type { LlmChatEvent, LlmChatRequest, LlmModel, LlmProvider, LlmStatus } from '../../ports/llm.js';

export type { HostReply };

/** What one MCP request lets the host providers do. */
export class HostTurn implements HostModelTurn {
  /** The conversation the turn stored its user message in (set by the MCP transport from `messageStored`). */
  conversationId: string | null = null;
  private reply: HostReply | undefined;

  constructor(
    /** Whether the client offered its model (the `sampling` capability). */
    readonly canSample: boolean,
    reply?: HostReply,
  ) {
    this.reply = reply;
  }

  get hasReply(): boolean {
    return this.reply !== undefined;
  }

  /** The supplied answer, once: a turn generates exactly one reply. */
  takeReply(): HostReply | undefined {
    const reply = this.reply;
    this.reply = undefined;
    return reply;
  }
}

/** Thrown by the host provider when the turn needs the host's model; the MCP transport turns it into `input_required`. */
export class HostInputRequired extends Error {
  constructor(
    readonly request: LlmChatRequest,
    readonly turn: HostTurn,
  ) {
    super('The MCP host was asked for its model; the turn continues when the host answers.');
    this.name = 'HostInputRequired';
  }
}

export function isHostInputRequired(error: unknown): error is HostInputRequired {
  return error instanceof HostInputRequired;
}

/** Carries the current MCP request's {@link HostTurn} to the providers, across the chat service. */
export class HostModelBridge implements HostModelPort {
  private readonly storage = new AsyncLocalStorage<HostTurn>();

  begin(canSample: boolean, reply?: HostReply): HostTurn {
    return new HostTurn(canSample, reply);
  }

  run<T>(turn: HostModelTurn, work: () => Promise<T>): Promise<T> {
    // Only turns made by `begin` reach here: the transport has no other way to make one.
    return this.storage.run(turn as HostTurn, work);
  }

  requestIn(error: unknown): HostModelRequest | null {
    return isHostInputRequired(error) ? { request: error.request, turn: error.turn } : null;
  }

  /** The turn of the MCP request being served, if any. */
  current(): HostTurn | undefined {
    return this.storage.getStore();
  }
}

const NO_HOST_MESSAGE =
  'llm.provider is "host", but this request did not come from an MCP host that offers its model (sampling). ' +
  'Connect through an MCP host with sampling support, or set llm.provider to "ollama" or "auto". Your message was stored.';

/** Asks the MCP host's model (`llm.provider: "host"`). */
export class HostLlmProvider implements LlmProvider {
  readonly name = 'host';

  constructor(private readonly bridge: HostModelBridge) {}

  async *chat(request: LlmChatRequest, signal: AbortSignal): AsyncIterable<LlmChatEvent> {
    if (signal.aborted) throw new AppError('cancelled', 'The chat was cancelled before the host model was asked.');
    const turn = this.bridge.current();
    if (turn === undefined || (!turn.canSample && !turn.hasReply)) throw new AppError('llm_unavailable', NO_HOST_MESSAGE);
    const reply = turn.takeReply();
    if (reply === undefined) throw new HostInputRequired(request, turn);
    yield { type: 'delta', text: reply.text };
    yield { type: 'done', promptTokens: null, completionTokens: null, model: reply.model };
  }

  async listModels(): Promise<LlmModel[]> {
    return [];
  }

  async status(): Promise<LlmStatus> {
    return { reachable: true, provider: this.name, endpoint: 'the MCP host (sampling)' };
  }
}

/**
 * `llm.provider: "auto"`: the primary backend (Ollama) when it answers, else the host's model when the
 * client offers it. A turn that already carries the host's answer goes straight to the host.
 */
export class FallbackToHostProvider implements LlmProvider {
  readonly name: string;

  constructor(
    private readonly primary: LlmProvider,
    private readonly host: HostLlmProvider,
    private readonly bridge: HostModelBridge,
  ) {
    this.name = `auto(${primary.name}, host)`;
  }

  async *chat(request: LlmChatRequest, signal: AbortSignal): AsyncIterable<LlmChatEvent> {
    const turn = this.bridge.current();
    if (turn?.hasReply) {
      yield* this.host.chat(request, signal);
      return;
    }
    let hasStarted = false;
    try {
      for await (const event of this.primary.chat(request, signal)) {
        hasStarted = true;
        yield event;
      }
    } catch (error) {
      // Only a backend that cannot be reached falls back: a model that fails mid-reply or times out is
      // reported as it is, so the user learns that Ollama misbehaves rather than silently switching.
      if (!hasStarted && turn?.canSample === true && isAppError(error) && error.kind === 'llm_unavailable') {
        yield* this.host.chat(request, signal);
        return;
      }
      throw error;
    }
  }

  listModels(signal?: AbortSignal): Promise<LlmModel[]> {
    return this.primary.listModels(signal);
  }

  /** The primary's view of the model (the host's model may differ; callers treat null as unknown). */
  capabilities(model: string, signal?: AbortSignal): Promise<string[] | null> {
    return this.primary.capabilities?.(model, signal) ?? Promise.resolve(null);
  }

  /** The primary's embeddings (MCP sampling has none; memory search then uses the offline embedder). */
  embed(texts: readonly string[], model: string, signal?: AbortSignal): Promise<number[][]> {
    if (!this.primary.embed)
      return Promise.reject(new AppError('llm_unavailable', `The ${this.primary.name} backend does not offer embeddings.`));
    return this.primary.embed(texts, model, signal);
  }

  /** The primary's status: the host's model is only there for MCP requests, so it does not make the backend "reachable". */
  status(): Promise<LlmStatus> {
    return this.primary.status();
  }
}
