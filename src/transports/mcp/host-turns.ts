/**
 * The MCP side of "the host's model as an LLM backend" (the `HostModelPort`, `src/ports/host-model.ts`).
 *
 * A tool call runs inside a {@link HostTurn}. When the turn needs the host's model, the call answers
 * `input_required` with an embedded `sampling/createMessage` and a signed `requestState` naming the
 * conversation that holds the stored user message. The host (2026-07-28), or the SDK's legacy shim
 * acting for a 2025-11-25 host with real `sampling/createMessage`, retries the call with the model's
 * answer; the retry continues that conversation, and the chat service reuses the stored message.
 */
import { randomBytes } from 'node:crypto';
import {
  CLIENT_CAPABILITIES_META_KEY,
  createRequestStateCodec,
  inputRequired,
  inputResponse,
  type ClientCapabilities,
  type CreateMessageRequestParams,
  type InputRequiredSpec,
  type RequestStateCodec,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { AppError } from '../../domain/errors.js';
import type { EventBus } from '../../ports/events.js';
import type { HostModelPort, HostModelTurn, HostReply } from '../../ports/host-model.js';
import type { LlmChatRequest } from '../../ports/llm.js';

/** The key of the embedded sampling request in `inputRequests` / `inputResponses`. */
export const HOST_REPLY_KEY = 'persona_reply';

/** What the server needs back on the retry; signed, because it comes back through the client. */
interface HostTurnState {
  conversationId: string;
}

/** Host-model round trips shared by every MCP server instance of one process. */
export class HostTurns {
  private readonly codec: RequestStateCodec<HostTurnState>;
  private readonly unsubscribe: () => void;

  constructor(
    private readonly bridge: HostModelPort,
    events: EventBus,
  ) {
    // A per-process key: the state only has to survive until the same process sees the retry.
    this.codec = createRequestStateCodec<HostTurnState>({ key: randomBytes(32), ttlSeconds: 600 });
    // The event bus delivers synchronously, inside the turn's async context: this is how the turn learns
    // which conversation its user message went to, without the chat service knowing about MCP.
    this.unsubscribe = events.subscribe((event) => {
      if (event.type !== 'messageStored' || event.message.role !== 'user') return;
      const turn = this.bridge.current();
      if (turn !== undefined && turn.conversationId === null) turn.conversationId = event.conversationId;
    });
  }

  /** For `ServerOptions.requestState.verify`: rejects state this process did not sign. */
  readonly verify = (state: string, ctx: ServerContext): Promise<HostTurnState> => this.codec.verify(state, ctx);

  /** Starts the turn of one tool call; `clientCapabilities` are the 2025-11-25 handshake's, if any. */
  async begin(ctx: ServerContext, clientCapabilities?: ClientCapabilities): Promise<PendingTurn> {
    const envelopeCapabilities = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as
      ClientCapabilities | undefined;
    const canSample = (envelopeCapabilities ?? clientCapabilities)?.sampling !== undefined;
    const state = ctx.mcpReq.requestState<HostTurnState>();
    const reply = state === undefined ? undefined : replyFrom(ctx.mcpReq.inputResponses);
    return new PendingTurn(this.bridge.begin(canSample, reply), reply === undefined ? undefined : state, this.bridge, this.codec);
  }

  close(): void {
    this.unsubscribe();
  }
}

export class PendingTurn {
  constructor(
    private readonly turn: HostModelTurn,
    private readonly resumed: HostTurnState | undefined,
    private readonly bridge: HostModelPort,
    private readonly codec: RequestStateCodec<HostTurnState>,
  ) {}

  /** On a retry with the host's answer: the call's arguments, continuing the turn's conversation. */
  resumedArgs(args: Record<string, unknown>): Record<string, unknown> {
    return this.resumed === undefined ? args : { ...args, conversation_id: this.resumed.conversationId };
  }

  run<T>(work: () => Promise<T>): Promise<T> {
    return this.bridge.run(this.turn, work);
  }

  /** The `input_required` answer when `error` means "ask the host's model"; null for other errors. */
  async inputRequiredFor(error: unknown): Promise<InputRequiredSpec | null> {
    const asked = this.bridge.requestIn(error);
    if (asked === null || asked.turn !== this.turn) return null;
    const conversationId = this.turn.conversationId;
    if (conversationId === null)
      throw new AppError('llm_failed', 'The turn asked for the host model before storing its message; please retry.');
    return {
      inputRequests: { [HOST_REPLY_KEY]: inputRequired.createMessage(samplingParams(asked.request)) },
      requestState: await this.codec.mint({ conversationId }),
    };
  }
}

/** The chat turn's prompt as a sampling request: system prompt apart, the conversation as messages. */
export function samplingParams(request: LlmChatRequest): CreateMessageRequestParams {
  const system = request.messages.filter((message) => message.role === 'system').map((message) => message.content);
  const messages = request.messages.flatMap((message) =>
    message.role === 'system' ? [] : [{ role: message.role, content: { type: 'text' as const, text: message.content } }],
  );
  const temperature = request.options?.temperature;
  return {
    messages,
    ...(system.length > 0 ? { systemPrompt: system.join('\n\n') } : {}),
    maxTokens: request.maxTokens,
    includeContext: 'none',
    ...(temperature !== undefined ? { temperature } : {}),
  };
}

function replyFrom(responses: Record<string, unknown> | undefined): HostReply | undefined {
  const view = inputResponse(responses, HOST_REPLY_KEY);
  if (view.kind !== 'sampling') return undefined;
  const blocks = Array.isArray(view.result.content) ? view.result.content : [view.result.content];
  const text = blocks.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('');
  return { text, model: view.result.model };
}
