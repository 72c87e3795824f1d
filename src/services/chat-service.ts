/**
 * One chat turn (DESIGN.md §3): store the user's message first (it is never lost, whatever the LLM
 * does), build the prompt from the persona and as much history as the token budget allows, stream the
 * reply, then store it with its token counts and timing and spend the persona's social energy.
 */
import type { Logger } from 'pino';
import { buildContextWindow, type ContextWindow } from '../domain/context-window.js';
import { continueScore, ENGAGEMENT_WINDOW, type ContinueScoreResult } from '../domain/continue-score.js';
import { AppError } from '../domain/errors.js';
import type { ModelChoice } from '../domain/model-selection.js';
import { buildPostHistoryInstructions, buildSystemPrompt, describeEnergy } from '../domain/prompt.js';
import type { Availability, SocialEnergyState } from '../domain/social-energy.js';
import { energyShare } from '../domain/social-energy.js';
import { estimateMessageTokens, estimateTokens } from '../domain/tokens.js';
import type { Clock } from '../ports/clock.js';
import type { EventBus } from '../ports/events.js';
import type { LlmImage, LlmMessage, LlmProvider } from '../ports/llm.js';
import type { ConversationRecord, MessageRecord, PersonaRecord, Store } from '../ports/store.js';
import type { SessionBinding } from '../rpc/registry.js';
import type { ConversationService } from './conversation-service.js';
import type { PersonaService } from './persona-service.js';
import type { SessionService } from './session-service.js';
import type { CompletedTurn, PromptContribution, PromptContributor, TurnContext, TurnObserver } from './turn-hooks.js';

export interface ChatSettings {
  defaultModel: string;
  defaultTokenBudget: number;
  maxTokenBudget: number;
  maxMessageChars: number;
  historyMessages: number;
  /** Chat turns one session may have in flight at once. */
  maxConcurrentTurnsPerSession: number;
  contextTokens: number;
  modelContextTokens: Record<string, number>;
}

export interface ChatTurnRequest {
  message: string;
  /** Id or name; defaults to the conversation's persona, then the session's active persona. */
  personaId?: string | undefined;
  conversationId?: string | undefined;
  tokenBudget?: number | undefined;
  /** Pictures for the model with this message (base64); the model must have vision, else `model_cannot_see`. */
  images?: LlmImage[] | undefined;
  /**
   * Lines the model reads after the message about attachments it cannot take (an audio clip): a
   * described fallback, so nothing the user sent is dropped silently.
   */
  attachmentNotes?: string[] | undefined;
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
  private readonly contributors: PromptContributor[] = [];
  private readonly observers: TurnObserver[] = [];
  /** In-flight turns per session id (the concurrency limit). */
  private readonly turnsInFlight = new Map<string, number>();

  constructor(
    private readonly deps: {
      store: Store;
      personas: PersonaService;
      sessions: SessionService;
      conversations: ConversationService;
      llm: LlmProvider;
      clock: Clock;
      events: EventBus;
      logger: Logger;
      settings: ChatSettings;
      /** The persona's post-history instruction template (a card's `post_history_instructions`), if any. */
      postHistoryTemplate?: (persona: PersonaRecord) => Promise<string>;
    },
  ) {}

  /** Adds context to every turn's prompt (memories, relationship, mood, scene). */
  addContributor(contributor: PromptContributor): void {
    this.contributors.push(contributor);
  }

  /** Reacts to every stored turn (memory formation, relationship and mood updates). */
  addObserver(observer: TurnObserver): void {
    this.observers.push(observer);
  }

  /** The model personas use when they name none. */
  get defaultModel(): string {
    return this.deps.settings.defaultModel;
  }

  /** The model a persona uses: its own, else the server's default. */
  modelFor(persona: PersonaRecord): string {
    return persona.model ?? this.deps.settings.defaultModel;
  }

  async runTurn(binding: SessionBinding, request: ChatTurnRequest, options: ChatTurnOptions): Promise<ChatTurnResult> {
    const sessionId = binding.id;
    const inFlight = this.turnsInFlight.get(sessionId) ?? 0;
    const limit = this.deps.settings.maxConcurrentTurnsPerSession;
    if (inFlight >= limit) {
      throw new AppError('limit_exceeded', `This session already has ${inFlight} chat turn(s) in progress; at most ${limit} may run at once (limits.maxConcurrentChatsPerSession). Wait for a reply first.`, {
        data: { limit: 'limits.maxConcurrentChatsPerSession', max: limit },
      });
    }
    this.turnsInFlight.set(sessionId, inFlight + 1);
    try {
      return await this.runAdmittedTurn(binding, request, options);
    } finally {
      const remaining = (this.turnsInFlight.get(sessionId) ?? 1) - 1;
      if (remaining > 0) this.turnsInFlight.set(sessionId, remaining);
      else this.turnsInFlight.delete(sessionId);
    }
  }

  private async runAdmittedTurn(binding: SessionBinding, request: ChatTurnRequest, options: ChatTurnOptions): Promise<ChatTurnResult> {
    const { store, personas, clock, settings } = this.deps;
    const started = clock.now();
    this.checkMessage(request.message);

    const target = await this.resolveTarget(binding, request);
    const persona = target.persona;
    const tokenBudget = this.tokenBudget(request.tokenBudget ?? target.conversation?.tokenBudget ?? undefined);

    // A retry of a turn whose reply never came (the model failed, or an MCP host was asked for its
    // model's answer) names its conversation and sends the same text: the stored message is reused, so
    // a retry never duplicates it.
    const unanswered = target.conversation ? await this.unansweredUserMessage(target.conversation, request.message) : null;
    const userTurn =
      unanswered ??
      (await store.appendUserTurn({
        sessionId: binding.id,
        personaId: persona.id,
        content: request.message,
        tokens: estimateTokens(request.message),
        now: started,
        ...(target.conversation ? { conversationId: target.conversation.id } : {}),
      }));
    if (unanswered === null) await request.onUserMessageStored?.(userTurn.message);
    if (unanswered === null) this.deps.events.publish({ type: 'messageStored', conversationId: userTurn.conversation.id, message: userTurn.message });
    if (target.makeActive) await this.deps.sessions.setActivePersona(binding, persona.id);

    const conversation = userTurn.conversation;
    const [history, before] = await Promise.all([store.recentMessages(conversation.id, settings.historyMessages), personas.snapshot(persona)]);
    const { model, contextTokens, window, contributions } = await this.assemblePrompt({ binding, persona, conversation, message: userTurn.message, history, before, tokenBudget, model: request.model });
    const images = request.images ?? [];
    if (images.length > 0) await this.checkVision(model);

    const generated = await this.generate(
      {
        model,
        messages: withAttachments(window.messages, images, request.attachmentNotes ?? []),
        maxTokens: tokenBudget,
        contextTokens,
        options: persona.modelOptions,
        task: 'chat',
        isPinned: request.model !== undefined,
        ...(request.latencyBudgetMs !== undefined ? { latencyBudgetMs: request.latencyBudgetMs } : {}),
      },
      options,
      started,
    );

    const finished = clock.now();
    const state = await personas.spendOnExchange(persona, request.message.length + generated.text.length);
    const replyMessage = await store.appendAssistantTurn({
      conversationId: conversation.id,
      personaId: persona.id,
      content: generated.text,
      tokens: generated.completionTokens ?? estimateTokens(generated.text),
      promptTokens: generated.promptTokens ?? window.promptTokens,
      processingMs: finished - started,
      now: finished,
      personaState: state,
    });
    this.deps.events.publish({ type: 'messageStored', conversationId: conversation.id, message: replyMessage });

    this.notifyObservers({ session: binding, persona, conversation, userMessage: userTurn.message, replyMessage });

    const after = await personas.snapshot(persona);
    const userMessages = history.filter((message) => message.role === 'user').map((message) => message.content);
    const score = continueScore({
      persona,
      message: request.message,
      energyShare: energyShare(after.state, persona.socialEnergy),
      fatigue: after.state.fatigue,
      relationship: contributions.find((contribution) => contribution.affinity !== undefined)?.affinity ?? 0,
      recentUserMessages: userMessages.slice(-ENGAGEMENT_WINDOW),
      turnCount: history.filter((message) => message.role === 'assistant').length + 1,
    });

    return {
      persona,
      conversation,
      userMessage: userTurn.message,
      replyMessage,
      reply: generated.text,
      model: generated.choice?.model ?? model,
      modelChoice: generated.choice,
      promptTokens: replyMessage.promptTokens ?? 0,
      completionTokens: replyMessage.tokens,
      processingMs: finished - started,
      firstTokenMs: generated.firstTokenAt === null ? null : generated.firstTokenAt - started,
      includedTurns: window.includedTurns,
      continueScore: score,
      state: after.state,
      availability: after.availability,
    };
  }

  /**
   * Refuses pictures for a model that says it has no vision, before the model is called; when the
   * backend cannot tell, the pictures are sent and the backend's refusal is explained instead.
   */
  private async checkVision(model: string): Promise<void> {
    const capabilities = await this.deps.llm.capabilities?.(model).catch(() => null);
    if (capabilities === null || capabilities === undefined || capabilities.includes('vision')) return;
    throw new AppError(
      'model_cannot_see',
      `The model ${model} cannot look at pictures (it has no vision). Give this persona a vision model (e.g. \`ollama pull llava\`, then persona.update {"model":"llava"}), or describe the picture in words; your message was kept.`,
      { data: { model, capabilities } },
    );
  }

  /**
   * The exact messages a turn would send, without storing anything or calling the model
   * (`persona.preview_prompt`): the persona's conversation in this session as it stands, plus `message`.
   */
  async previewTurn(binding: SessionBinding, request: ChatTurnRequest): Promise<PromptPreview> {
    const { store, personas, settings, clock } = this.deps;
    this.checkMessage(request.message);
    const target = await this.resolveTarget(binding, request);
    const persona = target.persona;
    const tokenBudget = this.tokenBudget(request.tokenBudget ?? target.conversation?.tokenBudget ?? undefined);
    const conversation = target.conversation ?? (await store.findActiveConversation(binding.id, persona.id));
    const now = clock.now();
    // The message is not stored: it stands in as the newest message, after every stored one.
    const message: MessageRecord = { id: Number.MAX_SAFE_INTEGER, conversationId: conversation?.id ?? '', role: 'user', personaId: null, content: request.message, tokens: estimateTokens(request.message), promptTokens: null, processingMs: null, createdAt: now };
    const draft: ConversationRecord = conversation ?? { id: '', sessionId: binding.id, kind: 'user', personaIds: [persona.id], topic: null, context: null, status: 'active', startedAt: now, endedAt: null, endReason: null, tokenBudget: null };
    const [stored, before] = await Promise.all([conversation === null ? Promise.resolve([]) : store.recentMessages(conversation.id, settings.historyMessages), personas.snapshot(persona)]);
    const assembled = await this.assemblePrompt({ binding, persona, conversation: draft, message, history: [...stored, message], before, tokenBudget, model: request.model });
    return { persona, conversationId: conversation?.id ?? null, model: assembled.model, contextTokens: assembled.contextTokens, replyTokens: tokenBudget, window: assembled.window, postHistory: assembled.postHistory };
  }

  /** The prompt of one turn: system prompt with contributions, the context window, the post-history instruction. */
  private async assemblePrompt(input: {
    binding: SessionBinding;
    persona: PersonaRecord;
    conversation: ConversationRecord;
    message: MessageRecord;
    history: MessageRecord[];
    before: { state: SocialEnergyState };
    tokenBudget: number;
    model: string | undefined;
  }): Promise<{ model: string; contextTokens: number; window: ContextWindow; contributions: PromptContribution[]; postHistory: string }> {
    const { settings } = this.deps;
    const { persona, conversation, tokenBudget, before } = input;
    const model = input.model ?? this.modelFor(persona);
    const contextTokens = settings.modelContextTokens[model] ?? settings.contextTokens;
    const share = energyShare(before.state, persona.socialEnergy);
    const contributions = await this.collectContributions({
      session: input.binding,
      persona,
      conversation,
      message: input.message,
      history: input.history,
      budgetTokens: Math.max(0, contextTokens - tokenBudget),
    });
    const stateLine = contributions.find((contribution) => contribution.stateLine)?.stateLine;
    const sections = contributions.flatMap((contribution) => contribution.sections ?? []);
    const situation = {
      energyLine: stateLine ?? describeEnergy(share, before.state.fatigue),
      conversationContext: conversation.context,
      topic: conversation.topic,
    };
    const basePrompt = buildSystemPrompt(persona, situation);
    const systemPrompt = sections.length === 0 ? basePrompt : `${basePrompt}\n\n${sections.join('\n\n')}`;
    // A card's post_history_instructions go last, right before the reply; their tokens come out of the window.
    const postHistory = buildPostHistoryInstructions(persona, (await this.deps.postHistoryTemplate?.(persona)) ?? '', situation);
    const postHistoryTokens = postHistory.length === 0 ? 0 : estimateMessageTokens(postHistory);
    const window = buildContextWindow({
      systemPrompt,
      history: windowHistory(input.history, input.message.id, contributions).map((message) => ({ role: message.role, content: message.content })),
      contextTokens: contextTokens - postHistoryTokens,
      replyTokens: tokenBudget,
      summary: contributions.find((contribution) => contribution.summary)?.summary?.text ?? null,
    });
    if (postHistory.length > 0) {
      window.messages.push({ role: 'system', content: postHistory });
      window.promptTokens += postHistoryTokens;
    }
    return { model, contextTokens, window, contributions, postHistory };
  }

  /** The conversation's last message when it is the user's `message` still waiting for a reply. */
  private async unansweredUserMessage(
    conversation: ConversationRecord,
    message: string,
  ): Promise<{ conversation: ConversationRecord; message: MessageRecord } | null> {
    const [last] = await this.deps.store.recentMessages(conversation.id, 1);
    return last !== undefined && last.role === 'user' && last.content === message ? { conversation, message: last } : null;
  }

  /** Runs every contributor with its share of the budget; one that fails is logged and skipped. */
  private async collectContributions(turn: Omit<TurnContext, 'budgetTokens'> & { budgetTokens: number }): Promise<PromptContribution[]> {
    if (this.contributors.length === 0) return [];
    const results = await Promise.allSettled(
      this.contributors.map((contributor) =>
        contributor.contribute({ ...turn, budgetTokens: Math.floor(turn.budgetTokens * contributor.budgetShare) }),
      ),
    );
    return results.flatMap((result, index) => {
      if (result.status === 'fulfilled') return [result.value];
      this.deps.logger.warn({ err: result.reason, contributor: this.contributors[index]?.name }, 'prompt contributor failed; turn continues without it');
      return [];
    });
  }

  /** Observers run after the answer is known; the client never waits for them. */
  private notifyObservers(turn: CompletedTurn): void {
    for (const observer of this.observers) {
      observer.turnCompleted(turn).catch((error: unknown) => this.deps.logger.error({ err: error, observer: observer.name }, 'turn observer failed'));
    }
  }

  private checkMessage(message: string): void {
    if (message.trim().length === 0) {
      throw new AppError('limit_exceeded', 'The message is empty; say something to the persona.', { data: { limit: 'chat.minMessageChars' } });
    }
    const max = this.deps.settings.maxMessageChars;
    if (message.length > max) {
      throw new AppError('limit_exceeded', `The message has ${message.length} characters; at most ${max} are accepted (chat.maxMessageChars).`, {
        data: { limit: 'chat.maxMessageChars', max, actual: message.length },
      });
    }
  }

  private tokenBudget(requested: number | undefined): number {
    const { defaultTokenBudget, maxTokenBudget } = this.deps.settings;
    if (requested === undefined) return defaultTokenBudget;
    if (requested > maxTokenBudget) {
      throw new AppError('limit_exceeded', `token_budget ${requested} is above the maximum of ${maxTokenBudget} (chat.maxTokenBudget).`, {
        data: { limit: 'chat.maxTokenBudget', max: maxTokenBudget, actual: requested },
      });
    }
    return requested;
  }

  /** Which persona answers, in which conversation, and whether it becomes the session's active one. */
  private async resolveTarget(
    binding: SessionBinding,
    request: ChatTurnRequest,
  ): Promise<{ persona: PersonaRecord; conversation: ConversationRecord | null; makeActive: boolean }> {
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

  private async generate(
    request: Parameters<LlmProvider['chat']>[0],
    options: ChatTurnOptions,
    started: number,
  ): Promise<{ text: string; promptTokens: number | null; completionTokens: number | null; firstTokenAt: number | null; choice: ModelChoice | null }> {
    let text = '';
    let firstTokenAt: number | null = null;
    for await (const event of this.deps.llm.chat(request, options.signal)) {
      if (event.type === 'delta') {
        if (firstTokenAt === null) firstTokenAt = this.deps.clock.now();
        text += event.text;
        options.onDelta?.(event.text);
      } else {
        return { text, promptTokens: event.promptTokens, completionTokens: event.completionTokens, firstTokenAt, choice: event.choice ?? null };
      }
    }
    this.deps.logger.warn({ model: request.model, elapsedMs: this.deps.clock.now() - started }, 'LLM stream ended without a done event');
    throw new AppError('llm_failed', 'The reply from the model broke off before it finished; please retry. Your message was stored.');
  }
}

/** Puts the pictures and attachment notes on the newest user message of the window (this turn's). */
function withAttachments(messages: LlmMessage[], images: LlmImage[], notes: string[]): LlmMessage[] {
  if (images.length === 0 && notes.length === 0) return messages;
  const index = messages.map((message) => message.role).lastIndexOf('user');
  if (index < 0) return messages;
  const current = messages[index]!;
  const content = notes.length === 0 ? current.content : `${current.content}\n\n${notes.join('\n')}`;
  return messages.map((message, position) => (position === index ? { ...current, content, ...(images.length > 0 ? { images } : {}) } : message));
}

/**
 * The messages that may enter the context window: the newest (the user's message) always; older ones
 * unless a summary covers them or a contributor set them aside (another topic thread).
 */
function windowHistory(history: MessageRecord[], newestId: number, contributions: PromptContribution[]): MessageRecord[] {
  const coveredThrough = Math.max(0, ...contributions.map((contribution) => contribution.summary?.coversThroughMessageId ?? 0));
  const excluded = new Set(contributions.flatMap((contribution) => contribution.excludeMessageIds ?? []));
  return history.filter((message) => message.id === newestId || (message.id > coveredThrough && !excluded.has(message.id)));
}
