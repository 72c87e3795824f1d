/**
 * Asks the model once per chat turn for all its background judgements (`domain/turn-appraisal.ts`):
 * the relationship's tone of the exchange and the poignancy of each memory formed from it. Two durable
 * jobs need the answer — memory formation and the relationship update — and run in either order, so
 * the first to ask starts the call and the other is handed the same answer (kept a while per user
 * message). After a restart a job asks again; that costs a call, never a wrong value. When doc2query is
 * on and goes to the same model, the call also restates each memory as a fact with its questions
 * (formation stores them; the separate doc2query call is left for what the answer lacked).
 */
import type { Logger } from 'pino';
import {
  appraisalMaxTokens,
  appraisalPrompt,
  appraisalsMaxTokens,
  appraisalsPrompt,
  MAX_APPRAISED_EXCHANGES,
  parseAppraisal,
  parseAppraisals,
  type TurnAppraisal,
} from '../domain/turn-appraisal.js';
import type { LlmProvider } from '../ports/llm.js';
import { collectReply } from './llm-reply.js';

/** The model gets this long to answer before both jobs use their heuristics instead. */
export const APPRAISAL_TIMEOUT_MS = 20_000;
/** Answers kept for the job that has not asked yet: how long, and how many (oldest out). */
const KEPT_MS = 10 * 60_000;
const MAX_KEPT = 1_000;

export interface AppraisalRequest {
  /** The person's message the turn answered: identifies the turn for both jobs. */
  userMessageId: number;
  /** The conversation of the exchange: {@link TurnAppraiser.appraiseMany} asks about one conversation's exchanges together. */
  conversationId?: string;
  personaName: string;
  model: string;
  spoken: string;
  answer: string;
  /** The memories formed from `spoken` (`extractMemories`), in order. */
  memories: readonly string[];
}

export class TurnAppraiser {
  private readonly kept = new Map<number, { answer: Promise<TurnAppraisal | null>; until: number }>();

  constructor(
    private readonly deps: {
      llm: LlmProvider;
      logger: Pick<Logger, 'debug' | 'info'>;
      /** The context window to ask for (live setting). */
      contextTokens: () => number;
      /** Whether both judgements are asked of the model now (memory.llmImportance, social.llmJudgement). */
      isEnabled: () => boolean;
      /** Whether the memories' doc2query texts are asked in the same call (memory.doc2query, same model); default no. */
      restates?: () => boolean;
      now: () => number;
    },
  ) {}

  /** Whether the jobs should ask here instead of their single-purpose prompts. */
  get isEnabled(): boolean {
    return this.deps.isEnabled();
  }

  /** Whether an appraisal asked now also restates the memories (doc2query). */
  get restates(): boolean {
    return this.deps.restates?.() ?? false;
  }

  /**
   * The turn's appraisal: the one already asked for this user message, or a new call. Null when the
   * model could not be asked or did not answer in time; values it did not give are null inside.
   */
  async appraise(request: AppraisalRequest, signal: AbortSignal): Promise<TurnAppraisal | null> {
    this.forgetOld();
    let entry = this.kept.get(request.userMessageId);
    if (entry === undefined) {
      entry = { answer: this.ask(request), until: this.deps.now() + KEPT_MS };
      this.kept.set(request.userMessageId, entry);
    }
    return this.awaited(entry.answer, signal);
  }

  /**
   * The appraisal already asked for this user message (the turn's other job asked first), or null when
   * none was: the caller then needs the exchange's texts for {@link appraise}.
   */
  askedFor(userMessageId: number, signal: AbortSignal): Promise<TurnAppraisal | null> | null {
    this.forgetOld();
    const entry = this.kept.get(userMessageId);
    return entry === undefined ? null : this.awaited(entry.answer, signal);
  }

  /**
   * The appraisals of several turns (a batch of background jobs), in order: those asked already are
   * shared as {@link appraise} shares them; of the rest, the exchanges of one conversation with one
   * persona and model are asked in one call ({@link appraisalsPrompt}, up to `MAX_APPRAISED_EXCHANGES`
   * at a time), a lone one with the single prompt. Each answer is kept per user message, so the other job
   * of each turn (the relationship update) gets its own exchange's appraisal without a call.
   */
  async appraiseMany(requests: readonly AppraisalRequest[], signal: AbortSignal): Promise<Array<TurnAppraisal | null>> {
    this.forgetOld();
    const groups = new Map<string, AppraisalRequest[]>();
    for (const request of requests) {
      if (this.kept.has(request.userMessageId)) continue;
      const key = JSON.stringify([request.conversationId ?? `message ${request.userMessageId}`, request.personaName, request.model]);
      const group = groups.get(key) ?? [];
      if (!group.some((other) => other.userMessageId === request.userMessageId)) group.push(request);
      groups.set(key, group);
    }
    const until = this.deps.now() + KEPT_MS;
    for (const group of groups.values()) {
      for (let from = 0; from < group.length; from += MAX_APPRAISED_EXCHANGES) {
        const asked = group.slice(from, from + MAX_APPRAISED_EXCHANGES);
        const answers = asked.length === 1 ? [this.ask(asked[0]!)] : this.askTogether(asked);
        asked.forEach((request, index) => this.kept.set(request.userMessageId, { answer: answers[index]!, until }));
      }
    }
    return Promise.all(requests.map((request) => this.awaited(this.kept.get(request.userMessageId)!.answer, signal)));
  }

  /** Drops the answers kept too long (or too many: the oldest first). */
  private forgetOld(): void {
    const now = this.deps.now();
    for (const [id, entry] of this.kept) {
      if (entry.until > now && this.kept.size <= MAX_KEPT) break; // insertion order: the rest are newer
      this.kept.delete(id);
    }
  }

  /** Waits for a kept answer; a job stopping (shutdown) stops waiting for it, not the call itself. */
  private awaited(answer: Promise<TurnAppraisal | null>, signal: AbortSignal): Promise<TurnAppraisal | null> {
    if (signal.aborted) return Promise.reject(signal.reason as Error);
    // The call is shared: a job stopping (shutdown) stops waiting for it, not the call itself.
    return new Promise<TurnAppraisal | null>((resolve, reject) => {
      const stop = (): void => reject(signal.reason);
      signal.addEventListener('abort', stop, { once: true });
      void answer.then(
        (value) => {
          signal.removeEventListener('abort', stop);
          resolve(value);
        },
        (error: unknown) => {
          signal.removeEventListener('abort', stop);
          reject(error);
        },
      );
    });
  }

  /** One call for several exchanges of one conversation; one promise per exchange, in order. */
  private askTogether(requests: readonly AppraisalRequest[]): Array<Promise<TurnAppraisal | null>> {
    const first = requests[0]!;
    const restate = this.restates && requests.some((request) => request.memories.length > 0);
    const counts = requests.map((request) => request.memories.length);
    const prompt = appraisalsPrompt({ personaName: first.personaName, exchanges: requests, restate });
    const answers = (async (): Promise<TurnAppraisal[] | null> => {
      try {
        const text = await this.answerTo(first.model, prompt, appraisalsMaxTokens(counts, restate));
        const appraisals = parseAppraisals(text, counts);
        if (appraisals.every((appraisal) => appraisal.tone === null && appraisal.importance.every((value) => value === null))) {
          this.deps.logger.info({ model: first.model, answerChars: text.length, exchanges: requests.length }, 'the LLM did not answer with appraisals; using the heuristics');
          this.deps.logger.debug({ model: first.model, answer: text.slice(0, 200) }, 'the answer that was no appraisal');
        }
        return appraisals;
      } catch (error) {
        this.deps.logger.debug({ err: error }, 'the model could not appraise the turns; using the heuristics');
        return null;
      }
    })();
    return requests.map((_, index) => answers.then((all) => all?.[index] ?? null));
  }

  private async ask(request: AppraisalRequest): Promise<TurnAppraisal | null> {
    const restate = this.restates && request.memories.length > 0;
    const prompt = appraisalPrompt({ ...request, restate });
    try {
      const text = await this.answerTo(request.model, prompt, appraisalMaxTokens(request.memories.length, restate));
      const appraisal = parseAppraisal(text, request.memories.length);
      if (appraisal.tone === null && appraisal.importance.every((value) => value === null)) {
        // The answer may quote the person's message: its text only at debug, as request params are.
        this.deps.logger.info({ model: request.model, answerChars: text.length }, 'the LLM did not answer with an appraisal; using the heuristics');
        this.deps.logger.debug({ model: request.model, answer: text.slice(0, 200) }, 'the answer that was no appraisal');
      }
      return appraisal;
    } catch (error) {
      this.deps.logger.debug({ err: error }, 'the model could not appraise the turn; using the heuristics');
      return null;
    }
  }

  /** The appraisal call itself (one exchange or several): a background chat at temperature 0, its answer's text. */
  private async answerTo(model: string, prompt: { system: string; user: string }, maxTokens: number): Promise<string> {
    // A timer cleared once the answer is read, not AbortSignal.timeout: that costs ~3× the CPU on Node 20
    // (~16 µs a call) and keeps its timer and signal for the whole 20 s after the answer.
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DOMException('The appraisal took too long.', 'TimeoutError')), APPRAISAL_TIMEOUT_MS);
    try {
      const { text } = await collectReply(
        this.deps.llm.chat(
          {
            model,
            messages: [
              { role: 'system', content: prompt.system },
              { role: 'user', content: prompt.user },
            ],
            maxTokens,
            contextTokens: this.deps.contextTokens(),
            options: { temperature: 0 },
            priority: 'background',
            task: 'relationship',
          },
          deadline.signal,
        ),
      );
      return text;
    } finally {
      clearTimeout(timer);
    }
  }
}
