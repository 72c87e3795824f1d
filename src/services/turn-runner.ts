/**
 * The turn pipeline: every persona reply — `persona.chat`, `persona.chat_stream`, MCP's `persona_chat`,
 * a group conversation's turns (and anything built on them: an OpenAI-compatible endpoint, previews) —
 * runs through {@link TurnRunner}. One place builds the prompt (the persona's template, its situation,
 * the prompt contributors' sections, the context window), streams the reply, stores it with the
 * persona's spent social energy in one transaction, publishes `messageStored`, runs the turn observers
 * and computes the continue score — once, on the energy the persona answered with.
 *
 * What comes before a turn (which persona, which conversation, storing the user's message) belongs to
 * the use case that starts it: `ChatService` for chats, `GroupConversationService` for groups.
 */
import type { Logger } from 'pino';
import { buildContextWindow, type ContextWindow, type HistoryMessage } from '../domain/context-window.js';
import { continueScore, ENGAGEMENT_WINDOW, exchangesSoFar, isOpeningExchange, lastUserMessages, type ContinueScoreResult } from '../domain/continue-score.js';
import { AppError } from '../domain/errors.js';
import type { ModelChoice } from '../domain/model-selection.js';
import { buildPostHistoryInstructions, CLOSING_INSTRUCTIONS, composeSystemPrompt, describeEnergy, type PromptSituation } from '../domain/prompt.js';
import { availability, energyShare, type Availability, type RestOptions, type SocialEnergyState } from '../domain/social-energy.js';
import { estimateMessageTokens, estimateTokens } from '../domain/tokens.js';
import type { Clock } from '../ports/clock.js';
import type { EventBus } from '../ports/events.js';
import type { LlmImage, LlmMessage, LlmProvider } from '../ports/llm.js';
import type { ConversationKind, ConversationRecord, MessageRecord, PendingAfterReply, PersonaRecord, Store } from '../ports/store.js';
import { afterQueuedIo, afterQueuedTicks } from './after-io.js';
import { noTurnTiming, type TurnTimingSink } from '../ports/turn-timing.js';
import { collectReply } from './llm-reply.js';
import type { PersonaService } from './persona-service.js';
import type { SessionBinding } from './session-binding.js';
import type { CompletedTurn, PromptContribution, PromptContributor, TurnContext, TurnObserver } from './turn-hooks.js';
import { TurnStopwatch } from './turn-stages.js';

/**
 * The settings every turn reads when it runs. The composition root hands in the one object `config.set`
 * changes (`LiveTargets['chat']`), so a change reaches the next turn of every kind at once.
 */
export interface TurnSettings {
  /** The model personas use when they name none (`llm.model`). */
  defaultModel: string;
  /** Reply cap when a request gives no token budget (`chat.defaultTokenBudget`). */
  defaultTokenBudget: number;
  /** Largest token budget a request may ask for (`chat.maxTokenBudget`). */
  maxTokenBudget: number;
  /** Longest message a person may send, in characters (`chat.maxMessageChars`). */
  maxMessageChars: number;
  /** Messages loaded to build a prompt (`chat.historyMessages`). */
  historyMessages: number;
  /** Chat turns one session may have in flight at once (`limits.maxConcurrentChatsPerSession`). */
  maxConcurrentTurnsPerSession: number;
  /** Chat turns of one conversation that may wait behind the one running (`limits.maxQueuedChatsPerConversation`). */
  maxQueuedTurnsPerConversation: number;
  /** The context window asked of the model (`llm.contextTokens`), unless the model has its own below. */
  contextTokens: number;
  /** Context windows per model (`llm.modelContextTokens`). */
  modelContextTokens: Record<string, number>;
}

/** One turn to run: who answers, where, to what, and how the persona sees the conversation. */
export interface TurnRequest {
  /** Who the turn acts for (observers: whose relationship, whose memories). */
  session: SessionBinding;
  persona: PersonaRecord;
  conversation: ConversationRecord;
  /**
   * The person's message this turn answers, already stored (so it is never lost); null when the persona
   * speaks to a room (group turns). Its length counts towards the energy the exchange costs.
   */
  userMessage: MessageRecord | null;
  /** The messages the prompt is built from, oldest first (including `userMessage`): what the persona heard. */
  history: MessageRecord[];
  /** Reply cap in tokens; check a client's value with {@link TurnRunner.tokenBudget}. */
  replyTokens: number;
  /** A model reference that must answer (no automatic selection, no fall-back). */
  model?: string | undefined;
  /** Longest acceptable wait for the whole reply (the model router passes over slower models). */
  latencyBudgetMs?: number | undefined;
  /** A `persona.preview_prompt`: only {@link TurnRunner.prepare} runs, and contributors change nothing. */
  isPreview?: boolean | undefined;
  /** When the turn began (its processing time counts from here); defaults to now. */
  startedAt?: number | undefined;
  /** How the persona sees the conversation, when it is not a one-to-one chat (group turns). */
  view?: TurnView | undefined;
  /** The turn's stopwatch when the use case started it (admission, history); else the runner starts one. */
  stopwatch?: TurnStopwatch | undefined;
  /** Files sent with the person's message (`persona.chat` images and audio), for the model. */
  attachments?: TurnAttachments | undefined;
}

/** What the model gets of the files sent with a person's message. */
export interface TurnAttachments {
  /** Pictures, put on the person's message; the model must have vision, else `model_cannot_see`. */
  images: LlmImage[];
  /**
   * Lines added after the message about files the model cannot take (an audio clip): a described
   * fallback, so nothing the person sent is dropped silently.
   */
  notes: string[];
}

/** The scene of a conversation as its personas are told it (`scene.set`), null when none is set. */
export type SceneSource = (conversationId: string) => Promise<string | null>;

/** A turn's view of its conversation, for conversations other than a one-to-one chat. */
export interface TurnView {
  /** The prompt's situation (others present, mood); the energy line is added when missing. */
  situation?: PromptSituation;
  /** Sections after the persona's prompt (group rules, feelings towards the others). */
  sections?: string[];
  /** The history as model messages from the persona's seat; default: a user/assistant dialogue. */
  messages?: (history: MessageRecord[]) => HistoryMessage[];
  /** Cleans the model's text before it is stored (a "Name:" prefix); an empty result fails the turn. */
  cleanReply?: (text: string) => string;
  /**
   * A reply whose signal was aborted after the model finished is dropped, not stored: in a group, an
   * interjection interrupts the turn in flight (its reply did not hear the person), and the next speaker
   * is chosen hearing it. A chat keeps a finished reply even if its client left.
   */
  dropsRepliesOnAbort?: boolean;
}

/** A turn's prompt, built but not yet sent: what the model will see. */
export interface PreparedTurn {
  model: string;
  contextTokens: number;
  replyTokens: number;
  systemPrompt: string;
  /** System prompt, summary, as many recent messages as fit and the post-history instruction, as sent to the model. */
  messages: LlmMessage[];
  /** The context window those messages came from (what fit, what was left out). */
  window: ContextWindow;
  /** The persona's post-history instruction sent last ("" for none; chats only). */
  postHistory: string;
  /** Estimated tokens of `messages`. */
  promptTokens: number;
  /** History messages that fit the window. */
  includedTurns: number;
  /** Whether the persona wants to go on, computed once on the energy it answers with. */
  continueScore: ContinueScoreResult;
  /** The persona's social energy before this turn (what the prompt's energy line describes). */
  energyBefore: SocialEnergyState;
  /** What the prompt contributors reported adding (e.g. memoryTokens), merged. */
  contextUsage: Record<string, number>;
}

export interface TurnOptions {
  /** Aborts the model request (client gone, cancelled, server shutting down). */
  signal: AbortSignal;
  /** Each piece of the reply as it streams in. */
  onDelta?: (delta: string) => void;
}

export interface TurnOutcome {
  prepared: PreparedTurn;
  replyMessage: MessageRecord;
  /** The reply as stored. */
  reply: string;
  /** The model that answered. */
  model: string;
  modelChoice: ModelChoice | null;
  processingMs: number;
  /** Time to the first streamed token, null when nothing streamed. */
  firstTokenMs: number | null;
  /** The persona's social energy after the exchange (stored with the reply). */
  state: SocialEnergyState;
  availability: Availability;
  continueScore: ContinueScoreResult;
  /** Settles when every turn observer has finished (group turns wait for it; chats do not). */
  observed: Promise<void>;
}

/** Which conversations a contributor or observer takes part in when it does not say: one-to-one chats. */
const DEFAULT_KINDS: readonly ConversationKind[] = ['user'];

export class TurnRunner {
  private readonly contributors: PromptContributor[] = [];
  private readonly observers: TurnObserver[] = [];
  private readonly afterReplyWaits: Array<(turn: { conversationId: string; personaId: string }) => Promise<void>> = [];
  private inFlight = 0;
  private sceneSource: SceneSource | null = null;

  constructor(
    private readonly deps: {
      store: Store;
      personas: PersonaService;
      llm: LlmProvider;
      clock: Clock;
      events: EventBus;
      logger: Logger;
      /** Read on every turn: the live object `config.set` changes. */
      settings: TurnSettings;
      /** The persona's post-history instruction template (a card's `post_history_instructions`), if any. */
      postHistoryTemplate?: (persona: PersonaRecord) => Promise<string>;
      /** Where each turn's stage timings go (`/metrics`); none by default. */
      timing?: TurnTimingSink;
    },
  ) {}

  /** A stopwatch for a turn that starts now (use cases time their own stages before {@link run}). */
  stopwatch(): TurnStopwatch {
    return new TurnStopwatch(this.deps.timing ?? noTurnTiming);
  }

  /**
   * Turns someone waits for now: preparing their prompt, waiting for their model's first words, storing
   * their reply (background work gives way to them: `JobQueue.yieldTo`); not while the rest of a reply
   * generates (then it runs).
   */
  get turnsInFlight(): number {
    return this.inFlight;
  }

  /** The live settings (read them when they are used; never copy them). */
  get settings(): Readonly<TurnSettings> {
    return this.deps.settings;
  }

  /** Adds context to the prompts of the conversations it names (default: chats): memories, relationship, mood. */
  addContributor(contributor: PromptContributor): void {
    this.contributors.push(contributor);
  }

  /** Reacts to every stored turn of the conversations it names (default: chats): memory, relationships, moods. */
  addObserver(observer: TurnObserver): void {
    this.observers.push(observer);
  }

  /** Where the scene of a conversation comes from (`scene.set`): it enters the situation of every turn there. */
  useScenes(source: SceneSource): void {
    this.sceneSource = source;
  }

  /** The model a persona uses: its own, else the server's default. */
  modelFor(persona: PersonaRecord): string {
    return persona.model ?? this.deps.settings.defaultModel;
  }

  /** The context window of a model: its own (`llm.modelContextTokens`), else `llm.contextTokens`. */
  contextTokensFor(model: string): number {
    return this.deps.settings.modelContextTokens[model] ?? this.deps.settings.contextTokens;
  }

  /** Refuses an empty message or one over `chat.maxMessageChars` — the one check for chats and interjections. */
  checkMessage(message: string, audience = 'the persona'): void {
    if (message.trim().length === 0) {
      throw new AppError('limit_exceeded', `The message is empty; say something to ${audience}.`, { data: { limit: 'chat.minMessageChars' } });
    }
    const max = this.deps.settings.maxMessageChars;
    if (message.length > max) {
      throw new AppError('limit_exceeded', `The message has ${message.length} characters; at most ${max} are accepted (chat.maxMessageChars).`, {
        data: { limit: 'chat.maxMessageChars', max, actual: message.length },
      });
    }
  }

  /** A reply cap: the one asked for (at most `chat.maxTokenBudget`), else `chat.defaultTokenBudget`. */
  tokenBudget(requested: number | undefined): number {
    const { defaultTokenBudget, maxTokenBudget } = this.deps.settings;
    if (requested === undefined) return defaultTokenBudget;
    if (requested > maxTokenBudget) {
      throw new AppError('limit_exceeded', `token_budget ${requested} is above the maximum of ${maxTokenBudget} (chat.maxTokenBudget).`, {
        data: { limit: 'chat.maxTokenBudget', max: maxTokenBudget, actual: requested },
      });
    }
    return requested;
  }

  /**
   * A persona's system prompt outside a turn (MCP prompts, previews): its template with its current
   * energy and the conversation's context and topic.
   */
  async systemPrompt(persona: PersonaRecord, situation: PromptSituation = {}): Promise<string> {
    const snapshot = await this.deps.personas.snapshot(persona);
    const energyLine = describeEnergy(energyShare(snapshot.state, persona.socialEnergy), snapshot.state.fatigue);
    return composeSystemPrompt(persona, { energyLine, ...situation }, []);
  }

  /** Builds a turn's prompt without calling the model (previews; the first step of {@link run}). */
  async prepare(request: TurnRequest): Promise<PreparedTurn> {
    const { persona, conversation, history, userMessage, view, stopwatch } = request;
    const model = request.model ?? this.modelFor(persona);
    const contextTokens = this.contextTokensFor(model);
    const before = await this.deps.personas.snapshot(persona, restOptions(request));
    stopwatch?.lap('energy');
    const share = energyShare(before.state, persona.socialEnergy);
    const contributions =
      userMessage === null
        ? []
        : await this.collectContributions(request, before.state, Math.max(0, contextTokens - request.replyTokens));
    stopwatch?.lap('contributors');
    const score = continueScore({
      persona,
      message: userMessage?.content ?? history.at(-1)?.content ?? conversation.topic ?? '',
      energyShare: share,
      fatigue: before.state.fatigue,
      relationship: contributions.find((contribution) => contribution.affinity !== undefined)?.affinity ?? 0,
      recentUserMessages: lastUserMessages(history, ENGAGEMENT_WINDOW),
      turnCount: turnCount(request),
    });
    const stateLine = contributions.find((contribution) => contribution.stateLine)?.stateLine;
    const sections = [...(view?.sections ?? []), ...contributions.flatMap((contribution) => contribution.sections ?? [])];
    // A person waiting for an answer hears it when the persona wants to close; group turns decide that by speaker choice.
    if (conversation.kind === 'user' && score.decision !== 'continue') sections.push(CLOSING_INSTRUCTIONS[score.decision]);
    const scene = (await this.sceneSource?.(conversation.id)) ?? null;
    const situation: PromptSituation = {
      conversationContext: conversation.context,
      topic: conversation.topic,
      ...(scene === null ? {} : { scene }),
      ...view?.situation,
      energyLine: view?.situation?.energyLine ?? stateLine ?? describeEnergy(share, before.state.fatigue),
    };
    const systemPrompt = composeSystemPrompt(persona, situation, sections);
    // A card's post_history_instructions go last in a chat, right before the reply; their tokens come out of the window.
    const postHistory =
      userMessage === null ? '' : buildPostHistoryInstructions(persona, (await this.deps.postHistoryTemplate?.(persona)) ?? '', situation);
    const postHistoryTokens = postHistory.length === 0 ? 0 : estimateMessageTokens(postHistory);
    const shown = windowHistory(history, userMessage?.id ?? null, contributions);
    const window = buildContextWindow({
      systemPrompt,
      // The stored messages themselves: the window reads their role and content (no copy of ~200 per turn).
      history: view?.messages ? view.messages(shown) : shown,
      contextTokens: contextTokens - postHistoryTokens,
      replyTokens: request.replyTokens,
      summary: contributions.find((contribution) => contribution.summary)?.summary?.text ?? null,
    });
    if (request.attachments !== undefined) attachToNewestUserMessage(window.messages, request.attachments);
    if (postHistory.length > 0) {
      window.messages.push({ role: 'system', content: postHistory });
      window.promptTokens += postHistoryTokens;
    }
    stopwatch?.lap('prompt');
    return {
      model,
      contextTokens,
      replyTokens: request.replyTokens,
      systemPrompt,
      messages: window.messages,
      window,
      postHistory,
      promptTokens: window.promptTokens,
      includedTurns: window.includedTurns,
      continueScore: score,
      energyBefore: before.state,
      contextUsage: Object.assign({}, ...contributions.map((contribution) => contribution.usage ?? {})) as Record<string, number>,
    };
  }

  /** Runs a turn: prepare the prompt, stream the reply, store it with the spent energy, publish, observe. */
  async run(request: TurnRequest, options: TurnOptions): Promise<TurnOutcome> {
    const working = { isCounted: true };
    this.inFlight += 1;
    try {
      return await this.runCounted(request, options, working);
    } finally {
      if (working.isCounted) this.inFlight -= 1;
    }
  }

  /** `working.isCounted`: whether this turn counts in {@link turnsInFlight} now (not while the model generates). */
  private async runCounted(request: TurnRequest, options: TurnOptions, working: { isCounted: boolean }): Promise<TurnOutcome> {
    const { store, personas, clock } = this.deps;
    const { persona, conversation } = request;
    const started = request.startedAt ?? clock.now();
    const stopwatch = request.stopwatch ?? this.stopwatch();
    const prepared = await this.prepare(request.stopwatch === stopwatch ? request : { ...request, stopwatch });
    if ((request.attachments?.images.length ?? 0) > 0) await this.checkVision(prepared.model);

    // Counted until the model's first words: background work gives way while the person waits for them
    // (a queue slot, the model's prompt evaluation; an instant model's whole answer), and runs while the
    // rest of the reply generates.
    const uncount = (): void => {
      if (!working.isCounted) return;
      this.inFlight -= 1;
      working.isCounted = false;
    };
    const onDelta = options.onDelta;
    const replying = collectReply(
      this.deps.llm.chat(
        {
          model: prepared.model,
          messages: prepared.messages,
          maxTokens: prepared.replyTokens,
          contextTokens: prepared.contextTokens,
          options: persona.modelOptions,
          task: 'chat',
          isPinned: request.model !== undefined,
          ...(request.latencyBudgetMs !== undefined ? { latencyBudgetMs: request.latencyBudgetMs } : {}),
        },
        options.signal,
      ),
      {
        clock,
        onDelta: (delta) => {
          uncount();
          onDelta?.(delta);
        },
      },
    );
    let generated: Awaited<typeof replying>;
    try {
      generated = await replying;
    } finally {
      if (!working.isCounted) {
        this.inFlight += 1;
        working.isCounted = true;
      }
    }
    stopwatch.lap('llm');
    if (!generated.isComplete) {
      this.deps.logger.warn({ model: prepared.model, elapsedMs: clock.now() - started }, 'LLM stream ended without a done event');
      throw new AppError('llm_failed', `The reply of ${persona.name} broke off before it finished; please retry.${request.userMessage ? ' Your message was stored.' : ''}`);
    }
    // Interrupted after the model finished (a group's interjection): the reply did not hear it, so it is not kept.
    if (request.view?.dropsRepliesOnAbort === true) options.signal.throwIfAborted();
    const content = request.view?.cleanReply ? request.view.cleanReply(generated.text) : generated.text;
    if (request.view?.cleanReply && content.length === 0) throw new AppError('llm_failed', `The model gave ${persona.name} an empty reply.`);

    const finished = clock.now();
    const { saved: replyMessage, state } = await personas.spendOnExchange(
      persona,
      (request.userMessage?.content.length ?? 0) + content.length,
      restOptions(request),
      (personaState) =>
        store.appendAssistantTurn({
          conversationId: conversation.id,
          personaId: persona.id,
          content,
          tokens: generated.completionTokens ?? estimateTokens(content),
          promptTokens: generated.promptTokens ?? prepared.promptTokens,
          processingMs: finished - started,
          now: finished,
          personaState,
          // recorded with the reply; cleared with its after-reply writes, or done again at start-up after a crash
          ...(store.pendingAfterReplies === undefined
            ? {}
            : { afterReply: { session: { id: request.session.id, userId: request.session.userId }, userMessageId: request.userMessage?.id ?? null } }),
        }),
    );
    stopwatch.lap('store_reply');
    // What the stored reply sets off starts once the turn's answer has been written (~150 µs a turn before it):
    // its `messageStored` (the feed's notification, the filing, the mood sample), the observers' starts (the
    // mood's reaction, the jobs' enqueues with their payloads) and the stage timings' histograms. Not later
    // than the ticks of this moment: what they ask for after pending I/O, and the pending record's clearing
    // after that, must still commit before the event loop reads the next request (a quick client's next turn
    // found the reaction still pending when this waited for a `setImmediate`: bench/README.md, round 14).
    const observed = afterQueuedTicks().then(() => {
      stopwatch.report();
      const turnObserved = this.afterReplyScope(replyMessage.id, () => {
        this.deps.events.publish({ type: 'messageStored', conversationId: conversation.id, message: replyMessage });
        return this.notifyObservers({
          session: request.session,
          persona,
          conversation,
          userMessage: request.userMessage,
          heard: request.history,
          replyMessage,
        });
      });
      void this.afterReplyWritten(replyMessage.id, this.afterReplyDone(turnObserved, { conversationId: conversation.id, personaId: persona.id }));
      return turnObserved;
    }).catch((error: unknown) => this.deps.logger.error({ err: error, replyMessageId: replyMessage.id }, 'the work after a reply did not start; it is done again at the next start'));

    return {
      prepared,
      replyMessage,
      reply: content,
      model: generated.choice?.model ?? prepared.model,
      modelChoice: generated.choice,
      processingMs: finished - started,
      firstTokenMs: generated.firstTokenAt === null ? null : generated.firstTokenAt - started,
      state,
      availability: availability(state, persona.socialEnergy, finished),
      continueScore: prepared.continueScore,
      observed,
    };
  }

  /**
   * Clears the reply's record of pending after-reply writes in the transaction that holds them: asked for
   * last, once pending I/O and the callbacks the reply set off for that moment (the filing, the mood's
   * reaction, the job enqueues, each after pending I/O) have run, so the store's write batch commits all of
   * them together (`adapters/sqlite/write-batch.ts`), at once, before the event loop reads the next request
   * (which used to find the batch still uncommitted and run first). A crash before that commit leaves the
   * record, and {@link recoverAfterReplies} does the writes at the next start.
   */
  private async afterReplyWritten(replyMessageId: number, written: Promise<unknown>): Promise<void> {
    const { store } = this.deps;
    if (store.afterReplyWritten === undefined) return;
    await afterQueuedIo();
    await store
      .afterReplyWritten(replyMessageId, written)
      .catch((error: unknown) => this.deps.logger.warn({ err: error, replyMessageId }, 'could not clear the record of a reply\'s pending writes; they are done again at the next start'));
  }

  /**
   * At start-up, before clients connect: the replies a crash took their after-reply writes from (the
   * store's {@link PendingAfterReply} records) get them now — `messageStored` is published again for the
   * person's message and the reply (`isRecovered`: their topic filing, the reply's mood sample), and the
   * turn observers run (the mood's reaction, memory formation's and the relationship's jobs). Oldest
   * first, one after another. Returns how many replies were recovered.
   */
  async recoverAfterReplies(): Promise<number> {
    const { store, logger } = this.deps;
    const pending = (await store.pendingAfterReplies?.(this.deps.clock.now())) ?? [];
    let recovered = 0;
    for (const entry of pending) {
      try {
        if (await this.recoverAfterReply(entry)) recovered += 1;
        else await store.afterReplyWritten?.(entry.replyMessageId);
      } catch (error) {
        logger.warn({ err: error, replyMessageId: entry.replyMessageId }, 'could not do the after-reply writes of a reply a crash interrupted');
      }
    }
    return recovered;
  }

  /**
   * Runs what a stored reply sets off (its `messageStored`, the turn observers) in the reply's scope
   * (`Store.runAfterReply`): the same writes, asked for in the same order, when a crash has them done again.
   */
  private afterReplyScope<T>(replyMessageId: number, work: () => T): T {
    const { store } = this.deps;
    return store.runAfterReply === undefined ? work() : store.runAfterReply(replyMessageId, work);
  }

  /** One reply's after-reply writes (see {@link recoverAfterReplies}); false when its turn is gone (a persona deleted since). */
  private async recoverAfterReply(entry: PendingAfterReply): Promise<boolean> {
    const { store, personas, events } = this.deps;
    const [conversation, page] = await Promise.all([
      store.getConversation(entry.conversationId),
      // the reply and what was said before it, newest first
      store.historyPage(entry.conversationId, { limit: this.deps.settings.historyMessages + 1, beforeId: entry.replyMessageId + 1 }),
    ]);
    const [reply, ...earlier] = page.messages;
    if (conversation === null || reply?.id !== entry.replyMessageId || reply.personaId === null) return false;
    const persona = personas.find(reply.personaId);
    if (persona === null) return false;
    const heard = earlier.reverse();
    const userMessage = entry.userMessageId === null ? null : (heard.find((message) => message.id === entry.userMessageId) ?? null);
    const observed = this.afterReplyScope(reply.id, () => {
      if (userMessage !== null) events.publish({ type: 'messageStored', conversationId: conversation.id, message: userMessage, isRecovered: true });
      events.publish({ type: 'messageStored', conversationId: conversation.id, message: reply, isRecovered: true });
      return this.notifyObservers({ session: entry.session, persona, conversation, userMessage, heard, replyMessage: reply });
    });
    await Promise.all([observed, this.afterReplyWritten(reply.id, this.afterReplyDone(observed, { conversationId: conversation.id, personaId: persona.id }))]);
    return true;
  }

  /**
   * Work besides the turn observers that a reply sets off and that must be committed before its pending
   * record is cleared (the topic filing of its messages and the persona's mood sample, set off by
   * `messageStored`): `wait` settles once what was asked for the conversation or persona so far is written.
   */
  awaitAfterReply(wait: (turn: { conversationId: string; personaId: string }) => Promise<void>): void {
    this.afterReplyWaits.push(wait);
  }

  /** Settles once the reply's after-reply writes are committed (or failed): the observers' and the {@link awaitAfterReply} ones. */
  private afterReplyDone(observed: Promise<void>, turn: { conversationId: string; personaId: string }): Promise<unknown> {
    return Promise.allSettled([observed, ...this.afterReplyWaits.map((wait) => wait(turn))]);
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

  /** Runs the contributors of this kind of conversation, each with its share of the budget; one that fails is skipped. */
  private async collectContributions(request: TurnRequest, energy: SocialEnergyState, budgetTokens: number): Promise<PromptContribution[]> {
    const { userMessage } = request;
    const contributors = this.contributors.filter((contributor) => (contributor.conversationKinds ?? DEFAULT_KINDS).includes(request.conversation.kind));
    if (contributors.length === 0 || userMessage === null) return [];
    const { stopwatch } = request;
    const contribute = (contributor: PromptContributor, turn: TurnContext): Promise<PromptContribution> =>
      stopwatch === undefined ? contributor.contribute(turn) : stopwatch.time(`contributor_${contributor.name}`, () => contributor.contribute(turn));
    const results = await Promise.allSettled(
      contributors.map((contributor) =>
        contribute(contributor, {
          session: request.session,
          persona: request.persona,
          conversation: request.conversation,
          message: userMessage,
          history: request.history,
          energy,
          budgetTokens: Math.floor(budgetTokens * contributor.budgetShare),
          ...(request.isPreview === true ? { isPreview: true } : {}),
        }),
      ),
    );
    return results.flatMap((result, index) => {
      if (result.status === 'fulfilled') return [result.value];
      this.deps.logger.warn({ err: result.reason, contributor: contributors[index]?.name }, 'prompt contributor failed; turn continues without it');
      return [];
    });
  }

  /** Observers run after the reply is stored; their errors are logged, never shown to the client. */
  private async notifyObservers(turn: CompletedTurn): Promise<void> {
    const observers = this.observers.filter((observer) => (observer.conversationKinds ?? DEFAULT_KINDS).includes(turn.conversation.kind));
    const timing = this.deps.timing ?? noTurnTiming;
    const started = timing.now();
    await Promise.all(
      observers.map((observer) =>
        observer.turnCompleted(turn).catch((error: unknown) => this.deps.logger.error({ err: error, observer: observer.name }, 'turn observer failed')),
      ),
    );
    // The observers' own time (they queue the slow work: formation, judgement run later in the job worker).
    timing.record('after_turn', timing.now() - started);
  }
}

/**
 * The messages that may enter the context window: the newest (the person's message) always; older ones
 * unless a summary covers them or a contributor set them aside (another topic thread).
 */
function windowHistory(history: MessageRecord[], newestId: number | null, contributions: PromptContribution[]): MessageRecord[] {
  const coveredThrough = Math.max(0, ...contributions.map((contribution) => contribution.summary?.coversThroughMessageId ?? 0));
  const excluded = new Set(contributions.flatMap((contribution) => contribution.excludeMessageIds ?? []));
  return history.filter((message) => message.id === newestId || (message.id > coveredThrough && !excluded.has(message.id)));
}

/** Puts the pictures and attachment notes on the newest user message of the window (this turn's). */
function attachToNewestUserMessage(messages: LlmMessage[], attachments: TurnAttachments): void {
  const { images, notes } = attachments;
  if (images.length === 0 && notes.length === 0) return;
  const index = messages.map((message) => message.role).lastIndexOf('user');
  if (index < 0) return;
  const current = messages[index]!;
  const content = notes.length === 0 ? current.content : `${current.content}\n\n${notes.join('\n')}`;
  messages[index] = { ...current, content, ...(images.length > 0 ? { images } : {}) };
}

/**
 * Whether the turn is the persona's first exchange in its conversation, which starts fresh after a rest
 * (`domain/social-energy.ts`, FRESH_START_REST_MS): in a chat, the person's first message (a card's
 * greeting starts no exchange); in a group, the persona's first turn.
 */
function restOptions(request: TurnRequest): RestOptions {
  const { userMessage, history, persona } = request;
  if (userMessage !== null) return { opensConversation: isOpeningExchange(history) };
  return { opensConversation: !history.some((message) => message.role === 'assistant' && message.personaId === persona.id) };
}

/** Exchanges so far, this one included (1: the opening): the person's messages in a chat, turns taken in a group. */
function turnCount(request: TurnRequest): number {
  if (request.userMessage !== null) return exchangesSoFar(request.history);
  return request.history.filter((message) => message.role === 'assistant').length + 1;
}
