/**
 * A person's chat with a persona (DESIGN.md §3): admit the turn (at most N in flight per session), find
 * the persona and conversation, wait for the conversation's turns before it (`turn-order.ts`), store the
 * user's message first (it is never lost, whatever the LLM
 * does), then run the turn through the one turn pipeline (`turn-runner.ts`): prompt, streamed reply,
 * stored reply with the spent social energy, events, observers and the continue score.
 */
import type { ContinueScoreResult } from '../domain/continue-score.js';
import { AppError } from '../domain/errors.js';
import type { ModelChoice } from '../domain/model-selection.js';
import type { Availability, SocialEnergyState } from '../domain/social-energy.js';
import { estimateTokens } from '../domain/tokens.js';
import type { Clock } from '../ports/clock.js';
import type { EventBus } from '../ports/events.js';
import type { ConversationRecord, MessageRecord, PersonaRecord, Store } from '../ports/store.js';
import type { SessionBinding } from './session-binding.js';
import type { ConversationService } from './conversation-service.js';
import type { PersonaService } from './persona-service.js';
import type { SessionService } from './session-service.js';
import type { PromptContributor, TurnObserver } from './turn-hooks.js';
import type { ContextWindow } from '../domain/context-window.js';
import type { TurnAttachments, TurnRunner, TurnSettings } from './turn-runner.js';
import { TurnOrder } from './turn-order.js';

/** The live settings a chat reads (the turn pipeline's). */
export type ChatSettings = TurnSettings;

export interface ChatTurnRequest {
  message: string;
  /** Id or name; defaults to the conversation's persona, then the session's active persona. */
  personaId?: string | undefined;
  conversationId?: string | undefined;
  tokenBudget?: number | undefined;
  /** Pictures and notes about other files that go with this message to the model (see {@link TurnAttachments}). */
  attachments?: TurnAttachments | undefined;
  /** Runs once the user's message is stored (before the model is called): attachments are linked to it here. */
  onUserMessageStored?: ((message: MessageRecord) => Promise<void>) | undefined;
  /** Pins this turn to exactly this model reference (no automatic selection, no fall-back). */
  model?: string | undefined;
  /** Longest acceptable expected reply time; the model router passes over slower-looking models. */
  latencyBudgetMs?: number | undefined;
}

export interface ChatTurnResult {
  persona: PersonaRecord;
  conversation: ConversationRecord;
  userMessage: MessageRecord;
  replyMessage: MessageRecord;
  reply: string;
  model: string;
  /** Which backend and model answered and why (the model router's choice), when the backend says. */
  modelChoice: ModelChoice | null;
  promptTokens: number;
  completionTokens: number;
  processingMs: number;
  firstTokenMs: number | null;
  includedTurns: number;
  continueScore: ContinueScoreResult;
  state: SocialEnergyState;
  availability: Availability;
  /** What prompt contributors reported adding (e.g. memoryTokens), merged. */
  contextUsage: Record<string, number>;
}

/** What `persona.preview_prompt` shows: the exact request a turn would make. */
export interface PromptPreview {
  persona: PersonaRecord;
  /** The conversation the turn would continue; null when it would start a new one. */
  conversationId: string | null;
  model: string;
  contextTokens: number;
  replyTokens: number;
  window: ContextWindow;
  /** The post-history instruction sent last ("" for none). */
  postHistory: string;
}

export interface ChatTurnOptions {
  signal: AbortSignal;
  /** Called with each piece of the reply as it streams in. */
  onDelta?: (delta: string) => void;
}

export class ChatService {
  /** In-flight turns per session id (the concurrency limit). */
  private readonly turnsInFlight = new Map<string, number>();
  /** A conversation's turns, one at a time in arrival order, so each answers its own message. */
  private readonly turnOrder: TurnOrder;

  constructor(
    private readonly deps: {
      store: Store;
      personas: PersonaService;
      sessions: SessionService;
      conversations: ConversationService;
      /** The one turn pipeline; its settings are the live ones `config.set` changes. */
      turns: TurnRunner;
      clock: Clock;
      events: EventBus;
    },
  ) {
    this.turnOrder = new TurnOrder(() => deps.turns.settings.maxQueuedTurnsPerConversation);
  }

  /** Adds context to every chat's prompt (the turn pipeline's contributors). */
  addContributor(contributor: PromptContributor): void {
    this.deps.turns.addContributor(contributor);
  }

  /** Reacts to every stored chat turn (the turn pipeline's observers). */
  addObserver(observer: TurnObserver): void {
    this.deps.turns.addObserver(observer);
  }

  /** The model personas use when they name none. */
  get defaultModel(): string {
    return this.deps.turns.settings.defaultModel;
  }

  /** The reply cap of a turn that names none (`chat.defaultTokenBudget`, live). */
  get defaultTokenBudget(): number {
    return this.deps.turns.settings.defaultTokenBudget;
  }

  /** The model a persona uses: its own, else the server's default. */
  modelFor(persona: PersonaRecord): string {
    return this.deps.turns.modelFor(persona);
  }

  async runTurn(binding: SessionBinding, request: ChatTurnRequest, options: ChatTurnOptions): Promise<ChatTurnResult> {
    return this.inFlight(binding, () => this.runAdmittedTurn(binding, request, options, null));
  }

  /**
   * Runs `work` in the turn line of the persona's conversation in this session, as a turn of it (in flight
   * for the session's limit while it waits and runs): for a caller that decides what its turn is from the
   * stored history (`/v1` replays a regenerate or runs a turn), which a turn ahead of it may be about to
   * change. `work` runs its turn, if any, with the `runTurn` it is given, which does not wait in the line
   * again; a turn of another line is refused.
   */
  async inTurnLine<T>(binding: SessionBinding, personaId: string, signal: AbortSignal, work: (runTurn: ChatService['runTurn']) => Promise<T>): Promise<T> {
    const line = conversationLine(binding, { persona: this.deps.personas.resolve(personaId), conversation: null, makeActive: false });
    return this.inFlight(binding, async () => {
      const endTurn = await this.turnOrder.enter(line, signal);
      try {
        return await work((turnBinding, request, options) => this.runAdmittedTurn(turnBinding, request, options, line));
      } finally {
        endTurn();
      }
    });
  }

  /** Runs `turn` as one of the session's turns in flight, refused with `limit_exceeded` when it has its limit's worth. */
  private async inFlight<T>(binding: SessionBinding, turn: () => Promise<T>): Promise<T> {
    const sessionId = binding.id;
    const inFlight = this.turnsInFlight.get(sessionId) ?? 0;
    const limit = this.deps.turns.settings.maxConcurrentTurnsPerSession;
    if (inFlight >= limit) {
      throw new AppError('limit_exceeded', `This session already has ${inFlight} chat turn(s) in progress; at most ${limit} may run at once (limits.maxConcurrentChatsPerSession). Wait for a reply first.`, {
        data: { limit: 'limits.maxConcurrentChatsPerSession', max: limit },
      });
    }
    this.turnsInFlight.set(sessionId, inFlight + 1);
    try {
      return await turn();
    } finally {
      const remaining = (this.turnsInFlight.get(sessionId) ?? 1) - 1;
      if (remaining > 0) this.turnsInFlight.set(sessionId, remaining);
      else this.turnsInFlight.delete(sessionId);
    }
  }

  /** `heldLine`: the line the caller holds already (`inTurnLine`); null to wait in the turn's own. */
  private async runAdmittedTurn(binding: SessionBinding, request: ChatTurnRequest, options: ChatTurnOptions, heldLine: string | null): Promise<ChatTurnResult> {
    const { turns } = this.deps;
    const stopwatch = turns.stopwatch();
    turns.checkMessage(request.message);

    const target = await this.resolveTarget(binding, request);
    const line = conversationLine(binding, target);
    if (heldLine !== null && line !== heldLine) throw new Error(`A turn of line ${line} was run in line ${heldLine}: it would not be ordered.`);
    const endTurn = heldLine === null ? await this.turnOrder.enter(line, options.signal) : undefined;
    try {
      return await this.runOrderedTurn(binding, request, options, target, stopwatch);
    } finally {
      endTurn?.();
    }
  }

  /** The turn, once the conversation's turns before it have ended: their messages and replies are its history. */
  private async runOrderedTurn(
    binding: SessionBinding,
    request: ChatTurnRequest,
    options: ChatTurnOptions,
    target: ChatTarget,
    stopwatch: ReturnType<TurnRunner['stopwatch']>,
  ): Promise<ChatTurnResult> {
    const { store, clock, turns } = this.deps;
    // Read after the wait: the message is stored after the replies of the turns before it, and its time says so.
    const started = clock.now();
    const persona = target.persona;
    const tokenBudget = turns.tokenBudget(request.tokenBudget ?? target.conversation?.tokenBudget ?? undefined);

    // A retry of a turn whose reply never came (the model failed, or an MCP host was asked for its
    // model's answer) names its conversation and sends the same text: the stored message is reused, so
    // a retry never duplicates it.
    const unanswered = target.conversation ? await this.unansweredUserMessage(target.conversation, request.message) : null;
    stopwatch.lap('admission');
    const userTurn =
      unanswered ??
      (await store.appendUserTurn({
        sessionId: binding.id,
        personaId: persona.id,
        content: request.message,
        tokens: estimateTokens(request.message),
        now: started,
        ...(target.conversation ? { conversationId: target.conversation.id, admitted: target.conversation } : {}),
      }));
    if (unanswered === null) await request.onUserMessageStored?.(userTurn.message);
    if (unanswered === null) this.deps.events.publish({ type: 'messageStored', conversationId: userTurn.conversation.id, message: userTurn.message });
    if (target.makeActive) await this.deps.sessions.setActivePersona(binding, persona.id);
    stopwatch.lap('store_user');

    const conversation = userTurn.conversation;
    const history = await store.recentMessages(conversation.id, turns.settings.historyMessages);
    stopwatch.lap('history');
    const outcome = await turns.run(
      {
        session: binding,
        persona,
        conversation,
        userMessage: userTurn.message,
        history,
        replyTokens: tokenBudget,
        model: request.model,
        latencyBudgetMs: request.latencyBudgetMs,
        startedAt: started,
        stopwatch,
        attachments: request.attachments,
      },
      options,
    );

    return {
      persona,
      conversation,
      userMessage: userTurn.message,
      replyMessage: outcome.replyMessage,
      reply: outcome.reply,
      model: outcome.model,
      modelChoice: outcome.modelChoice,
      promptTokens: outcome.replyMessage.promptTokens ?? 0,
      completionTokens: outcome.replyMessage.tokens,
      processingMs: outcome.processingMs,
      firstTokenMs: outcome.firstTokenMs,
      includedTurns: outcome.prepared.includedTurns,
      continueScore: outcome.continueScore,
      state: outcome.state,
      availability: outcome.availability,
      contextUsage: outcome.prepared.contextUsage,
    };
  }

  /**
   * The exact messages a turn would send, without storing anything or calling the model
   * (`persona.preview_prompt`): the persona's conversation in this session as it stands, plus `message`,
   * prepared by the same turn pipeline as a real turn.
   */
  async previewTurn(binding: SessionBinding, request: ChatTurnRequest): Promise<PromptPreview> {
    const { store, clock, turns } = this.deps;
    turns.checkMessage(request.message);
    const target = await this.resolveTarget(binding, request);
    const persona = target.persona;
    const tokenBudget = turns.tokenBudget(request.tokenBudget ?? target.conversation?.tokenBudget ?? undefined);
    const conversation = target.conversation ?? (await store.findActiveConversation(binding.id, persona.id));
    const now = clock.now();
    // The message is not stored: it stands in as the newest message, after every stored one.
    const message: MessageRecord = { id: Number.MAX_SAFE_INTEGER, conversationId: conversation?.id ?? '', role: 'user', personaId: null, content: request.message, tokens: estimateTokens(request.message), promptTokens: null, processingMs: null, createdAt: now };
    const draft: ConversationRecord = conversation ?? { id: '', sessionId: binding.id, kind: 'user', personaIds: [persona.id], topic: null, context: null, status: 'active', startedAt: now, endedAt: null, endReason: null, tokenBudget: null };
    const stored = conversation === null ? [] : await store.recentMessages(conversation.id, turns.settings.historyMessages);
    const prepared = await turns.prepare({ session: binding, persona, conversation: draft, userMessage: message, history: [...stored, message], replyTokens: tokenBudget, model: request.model, isPreview: true });
    return { persona, conversationId: conversation?.id ?? null, model: prepared.model, contextTokens: prepared.contextTokens, replyTokens: tokenBudget, window: prepared.window, postHistory: prepared.postHistory };
  }

  /** The conversation's last message when it is the user's `message` still waiting for a reply. */
  private async unansweredUserMessage(
    conversation: ConversationRecord,
    message: string,
  ): Promise<{ conversation: ConversationRecord; message: MessageRecord } | null> {
    const [last] = await this.deps.store.recentMessages(conversation.id, 1);
    return last !== undefined && last.role === 'user' && last.content === message ? { conversation, message: last } : null;
  }

  /** Which persona answers, in which conversation, and whether it becomes the session's active one. */
  private async resolveTarget(binding: SessionBinding, request: ChatTurnRequest): Promise<ChatTarget> {
    const { personas, sessions, conversations } = this.deps;
    const activeId = await sessions.activePersonaId(binding);
    if (request.conversationId !== undefined) {
      const conversation = await conversations.accessible(binding, request.conversationId);
      if (conversation.status !== 'active') {
        throw new AppError('conversation_not_found', `Conversation "${conversation.id}" has ended; start a new one with conversation.start.`, {
          data: { conversation_id: conversation.id },
        });
      }
      if (conversation.kind === 'personas') {
        throw new AppError('conflict', `Conversation "${conversation.id}" is a group conversation; speak in it with conversation.interject.`, {
          data: { conversation_id: conversation.id },
        });
      }
      const persona = personas.resolve(request.personaId ?? conversation.personaIds[0] ?? '');
      return { persona, conversation, makeActive: activeId === null };
    }
    if (request.personaId !== undefined) {
      return { persona: personas.resolve(request.personaId), conversation: null, makeActive: activeId === null };
    }
    if (activeId === null) {
      throw new AppError('no_active_persona', 'No persona is active in this session. Call persona.switch (e.g. {"persona_id":"aria"}) or pass persona_id.');
    }
    return { persona: personas.resolve(activeId), conversation: null, makeActive: false };
  }
}

/** Which persona answers, in which conversation (null: the session's active one with it, or a new one). */
interface ChatTarget {
  persona: PersonaRecord;
  conversation: ConversationRecord | null;
  makeActive: boolean;
}

/**
 * The line a turn waits in: its session's conversation with the persona. A turn that names no conversation
 * goes to the session's active one with the persona (or starts it), and one that names it is in the same
 * line, so the two are ordered too; a session has one active conversation per persona.
 */
function conversationLine(binding: SessionBinding, target: ChatTarget): string {
  const { conversation, persona } = target;
  if (conversation === null) return `${binding.id}:${persona.id}`;
  return conversation.sessionId === null ? conversation.id : `${conversation.sessionId}:${persona.id}`;
}
