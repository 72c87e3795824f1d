/**
 * Social dynamics plugged into every chat turn without touching the turn itself:
 *
 * - {@link SocialPromptContributor} (before the reply): the persona's feeling towards the user
 *   (`affinity`, which feeds the continue score), its mood and energy as the prompt's state line
 *   ("You are a little irritated. You are getting a little tired, …"), a sentence about the
 *   relationship, summaries of the conversation's other topic threads, and — when the continue score
 *   says so — the instruction to wind down or close the conversation gracefully.
 * - {@link SocialTurnObserver} (after the reply is stored): updates the persona → user relationship
 *   and the persona's mood from what was said (the sentiment heuristic of `domain/social/sentiment.ts`).
 *   Topic threads file every message as it is stored (`TopicThreadService.listen`).
 */
import { extractMemories } from '../../domain/memory/extraction.js';
import { energyShare } from '../../domain/social-energy.js';
import type { Logger } from 'pino';
import { judgementPrompt, parseJudgement } from '../../domain/social/judgement.js';
import type { JobCompletion, JobQueue } from '../../ports/jobs.js';
import type { LlmProvider } from '../../ports/llm.js';
import { describeEnergy } from '../../domain/prompt.js';
import { describeMood } from '../../domain/social/mood.js';
import { describeRelationship } from '../../domain/social/relationship.js';
import { exchangeQuality } from '../../domain/social/sentiment.js';
import { collectReply } from '../llm-reply.js';
import type { PersonaService } from '../persona-service.js';
import type { TurnAppraiser } from '../turn-appraiser.js';
import type { CompletedTurn, PromptContribution, PromptContributor, TurnContext, TurnObserver } from '../turn-hooks.js';
import type { EmotionService } from './emotion-service.js';
import { userIdOf, type InteractionInput, type RelationshipService } from './relationship-service.js';
import type { TopicThreadService } from './topic-thread-service.js';

// Moved to the domain with the one prompt builder; kept importable from here.
export { CLOSING_INSTRUCTIONS } from '../../domain/prompt.js';

export interface SocialHookDeps {
  personas: PersonaService;
  relationships: RelationshipService;
  emotions: EmotionService;
  threads: TopicThreadService;
  logger: Logger;
}

/** The durable job that updates a persona → user relationship after a chat turn. */
export const RELATIONSHIP_JOB = 'social.relationship';
/** Relationship updates run together at most (their appraisals asked in one call per conversation). */
const RELATIONSHIP_BATCH = 8;
/** The judge gets this long to answer before the heuristic is used instead. */
export const JUDGE_TIMEOUT_MS = 20_000;
/** Reply cap of the judge: one number. */
const JUDGE_MAX_TOKENS = 8;

interface RelationshipJobPayload {
  personaId: string;
  /** The person's message: with it, the judgement comes from the turn's one appraisal (TurnAppraiser). */
  userMessageId?: number;
  userId: string;
  conversationId: string;
  spoken: string;
  answer: string;
  durationMs: number;
  at: number;
}

/** Asks the model to rate an exchange (`domain/social/judgement.ts`); null when it cannot or will not. */
export interface InteractionJudge {
  llm: LlmProvider;
  modelFor(personaId: string): string | null;
  contextTokens: number;
}

export class SocialPromptContributor implements PromptContributor {
  readonly name = 'social';
  /** Relationship, mood and thread summaries are a few short lines. */
  readonly budgetShare = 0.1;

  constructor(private readonly deps: SocialHookDeps) {}

  async contribute(turn: TurnContext): Promise<PromptContribution> {
    const { persona, session, conversation, history, energy } = turn;
    // The message is filed as it was stored (TopicThreadService.listen); the thread sections below wait for it
    // (filed in the kept threads, not written: that is done with the reply's filing).
    const [relationship, mood] = await Promise.all([
      this.deps.relationships.get({ subjectId: persona.id, otherKind: 'user', otherId: userIdOf(session) }),
      this.deps.emotions.current(persona),
      this.deps.threads.filed(conversation.id),
    ]);
    const { section: threadSection, excludeMessageIds: otherThreads } = await this.deps.threads.promptView(conversation.id, history);

    const share = energyShare(energy, persona.socialEnergy);

    const sections: string[] = [];
    const feeling = describeRelationship(relationship, 'the visitor');
    if (feeling.length > 0) sections.push(feeling);
    if (threadSection.length > 0) sections.push(threadSection);
    return {
      affinity: relationship.affinity,
      stateLine: `${describeMood(mood)} ${describeEnergy(share, energy.fatigue)}`,
      sections,
      excludeMessageIds: otherThreads,
    };
  }
}

export class SocialTurnObserver implements TurnObserver {
  readonly name = 'social';
  private jobs: JobQueue | null = null;
  private judge: InteractionJudge | null = null;
  private appraiser: TurnAppraiser | null = null;

  constructor(private readonly deps: SocialHookDeps) {}

  /**
   * Moves relationship updates onto the durable job queue, judged by the model when `judge` is given
   * and reachable (the heuristic otherwise). Call before the queue starts.
   */
  useJobQueue(jobs: JobQueue, judge: InteractionJudge | null, appraiser: TurnAppraiser | null = null): void {
    jobs.register(
      RELATIONSHIP_JOB,
      (job, signal) => this.updateRelationship(job.payload as unknown as RelationshipJobPayload, signal, job.completion),
      {
        // Several turns' updates due together: their appraisals asked in one call per conversation (shared with formation).
        handler: (batch, signal) =>
          this.updateRelationships(
            batch.map((job) => job.payload as unknown as RelationshipJobPayload),
            signal,
            batch.map((job) => job.completion),
          ),
        maxJobs: RELATIONSHIP_BATCH,
      },
      // Its write commits with the turn's memory formation's (`JobWriting`).
      { withClaim: true },
    );
    this.jobs = jobs;
    this.judge = judge;
    this.appraiser = appraiser;
  }

  async turnCompleted(turn: CompletedTurn): Promise<void> {
    const { persona, session, conversation, userMessage, replyMessage } = turn;
    if (userMessage === null) return;
    const payload: RelationshipJobPayload = {
      personaId: persona.id,
      userMessageId: userMessage.id,
      userId: userIdOf(session),
      conversationId: conversation.id,
      spoken: userMessage.content,
      answer: replyMessage.content,
      durationMs: Math.max(0, replyMessage.createdAt - userMessage.createdAt),
      at: replyMessage.createdAt,
    };
    // Begun at once, so a read of the persona's mood from now on waits for the reaction; it is worked out
    // and saved once the reply has gone out (EmotionService.react), side by side with the relationship job's enqueue.
    const reacted = this.deps.emotions.react(persona, {
      heard: userMessage.content,
      cause: 'chat',
      conversationId: conversation.id,
    });
    const related =
      this.jobs !== null
        ? this.jobs.enqueue(RELATIONSHIP_JOB, payload as unknown as Record<string, unknown>)
        : this.updateRelationship(payload, new AbortController().signal);
    const [mood, relationship] = await Promise.allSettled([reacted, related]);
    if (relationship.status === 'rejected') throw relationship.reason;
    if (mood.status === 'rejected') throw mood.reason;
  }

  /**
   * `updateRelationship` for several exchanges (a batch of due jobs): with the turn appraiser, their
   * tones are asked together (`TurnAppraiser.appraiseMany`, one call per conversation, or the answers
   * memory formation asked already); each exchange is then applied in order as one job would, its job's
   * completion (`completes`, in order) written with it.
   */
  private async updateRelationships(
    payloads: readonly RelationshipJobPayload[],
    signal: AbortSignal,
    completes: ReadonlyArray<JobCompletion | undefined>,
  ): Promise<Array<PromiseSettledResult<void>>> {
    const appraiser = this.appraiser;
    const judge = this.judge;
    const asked = payloads.map((payload) => {
      const persona = this.deps.personas.find(payload.personaId);
      const model = judge?.modelFor(payload.personaId) ?? null;
      if (persona === null || model === null || appraiser === null || !appraiser.isEnabled || payload.userMessageId === undefined) return null;
      return { userMessageId: payload.userMessageId, conversationId: payload.conversationId, personaName: persona.name, model, spoken: payload.spoken, answer: payload.answer, memories: extractMemories(payload.spoken).map((memory) => memory.content) };
    });
    const requests = asked.filter((request) => request !== null);
    if (appraiser !== null && requests.length > 1) await appraiser.appraiseMany(requests, signal);
    // Each exchange judged (the answers asked above), then all of them written in one transaction.
    const outcomes: Array<PromiseSettledResult<void>> = payloads.map(() => ({ status: 'fulfilled', value: undefined }));
    const interactions: Array<{ at: number; input: InteractionInput }> = [];
    for (const [at, payload] of payloads.entries()) {
      try {
        const input = await this.interactionOf(payload, signal);
        if (input !== null) interactions.push({ at, input });
      } catch (error) {
        outcomes[at] = { status: 'rejected', reason: error };
      }
    }
    if (interactions.length === 0) return outcomes;
    await this.jobs?.giveWay?.();
    const recorded = await this.deps.relationships.recordInteractions(
      interactions.map(({ input }) => input),
      interactions.map(({ at }) => completes[at]),
    );
    recorded.forEach((outcome, index) => {
      if (outcome.status === 'rejected') outcomes[interactions[index]!.at] = outcome;
    });
    return outcomes;
  }

  /** Applies one exchange to the persona → user relationship: the model's rating when it gives one, else the heuristic. */
  private async updateRelationship(payload: RelationshipJobPayload, signal: AbortSignal, completes?: JobCompletion): Promise<void> {
    const input = await this.interactionOf(payload, signal);
    if (input === null) return;
    // Reading the model's answer and writing the relationship are two stretches: a turn that arrived
    // meanwhile goes between them (the job runs on the queue; inline, there is nothing to give way to).
    await this.jobs?.giveWay?.();
    // The write is the job's last step: its completion commits with it.
    await this.deps.relationships.recordInteraction(input, completes);
  }

  /** The interaction one exchange makes (null: its persona is gone): the model's rating when it gives one, else the heuristic. */
  private async interactionOf(payload: RelationshipJobPayload, signal: AbortSignal): Promise<InteractionInput | null> {
    const persona = this.deps.personas.find(payload.personaId);
    if (persona === null) return null;
    const judged = await this.askJudge(persona.name, payload, signal);
    return {
      subjectId: persona.id,
      otherKind: 'user',
      otherId: payload.userId,
      quality: judged ?? exchangeQuality(payload.spoken, payload.answer),
      durationMs: payload.durationMs,
      source: judged === null ? 'chat' : 'llm',
      conversationId: payload.conversationId,
      context: null,
      now: payload.at,
      // The exchange counts once: a job run again after a crash (its write committed, its completion not) changes nothing.
      ...(payload.userMessageId === undefined ? {} : { messageId: payload.userMessageId }),
    };
  }

  private async askJudge(personaName: string, payload: RelationshipJobPayload, signal: AbortSignal): Promise<number | null> {
    const judge = this.judge;
    const model = judge?.modelFor(payload.personaId) ?? null;
    if (judge === null || model === null) return null;
    const appraiser = this.appraiser;
    if (appraiser !== null && appraiser.isEnabled && payload.userMessageId !== undefined) {
      // One call with memory formation's ratings; the memories are the ones formation extracts from the same text.
      const request = {
        userMessageId: payload.userMessageId,
        personaName,
        model,
        spoken: payload.spoken,
        answer: payload.answer,
        memories: extractMemories(payload.spoken).map((memory) => memory.content),
      };
      return (await appraiser.appraise(request, signal))?.tone ?? null;
    }
    const prompt = judgementPrompt(personaName, payload.spoken, payload.answer);
    const bounded = AbortSignal.any([signal, AbortSignal.timeout(JUDGE_TIMEOUT_MS)]);
    try {
      const messages = [
        { role: 'system' as const, content: prompt.system },
        { role: 'user' as const, content: prompt.user },
      ];
      const { text } = await collectReply(
        judge.llm.chat(
          { model, messages, maxTokens: JUDGE_MAX_TOKENS, contextTokens: judge.contextTokens, options: { temperature: 0 }, priority: 'background', task: 'relationship' },
          bounded,
        ),
      );
      return parseJudgement(text);
    } catch (error) {
      if (signal.aborted) throw error;
      this.deps.logger.debug({ err: error }, 'the model could not judge the exchange; using the sentiment heuristic');
      return null;
    }
  }
}
