/**
 * Background memory work, run by the durable job queue (so a crash loses none of it):
 *
 * - `memory.form`: extract memories from a user's message (domain/memory/extraction.ts), score their
 *   importance at once by the heuristic, refine it with the LLM's poignancy rating when the LLM is
 *   reachable, embed and store them. Idempotent: re-running replaces what the message formed before.
 * - `memory.summarise`: when a conversation has grown `summariseAfterMessages` past its last summary,
 *   summarise the older turns (LLM, or the extractive fall-back) into a `summary` memory.
 * - `memory.embed`: give memories missing a vector of the remote embedder one (after an outage or a
 *   change of embedding model).
 * - `memory.doc2query`: when the LLM is reachable, have it restate new memories as a canonical fact and
 *   the questions they answer (domain/memory/doc2query.ts), into their recall terms.
 * - `memory.expand`: bring the WordNet recall terms of older memories (made before this build's
 *   thesaurus, e.g. right after the upgrade) up to date, a page at a time.
 */
import type { Logger } from 'pino';
import { doc2queryBatchPrompt, doc2queryPrompt, parseDoc2Query, parseDoc2QueryBatch } from '../../domain/memory/doc2query.js';
import { extractMemories, type ExtractedMemory } from '../../domain/memory/extraction.js';
import { heuristicImportance, importanceCues, parsePoignancy, poignancyPrompt } from '../../domain/memory/importance.js';
import type { ImportanceSource, Memory, NewMemory } from '../../domain/memory/memory.js';
import { cosine } from '../../domain/memory/vector-index.js';
import { extractiveSummary, SUMMARY_MAX_CHARS, summaryPrompt, type SummaryTurn } from '../../domain/memory/summary.js';
import type { Clock } from '../../ports/clock.js';
import type { JobCompletion, JobQueue, JobRecord } from '../../ports/jobs.js';
import type { LlmProvider } from '../../ports/llm.js';
import type { MemoryStore, MemoryVector } from '../../ports/memory.js';
import type { PersonaRecord } from '../../ports/store.js';
import type { MemoryEmbedders } from './embedders.js';
import type { MemoryMaintenance } from './maintenance.js';
import type { MemorySettings } from './settings.js';
import { collectReply } from '../llm-reply.js';
import type { TurnAppraisal } from '../../domain/turn-appraisal.js';
import type { AppraisalRequest, TurnAppraiser } from '../turn-appraiser.js';

export const FORM_JOB = 'memory.form';
export const SUMMARISE_JOB = 'memory.summarise';
export const EMBED_JOB = 'memory.embed';
export const DOC2QUERY_JOB = 'memory.doc2query';
export const EXPAND_JOB = 'memory.expand';

/** Memories brought up to the current thesaurus per `memory.expand` job (the job re-queues itself). */
const EXPAND_BATCH = 500;
/** Reply cap for the canonical fact and its questions, per memory. */
const DOC2QUERY_TOKENS = 160;
/** A message's memories past this many share the reply cap of this many (a pasted list is not 40 replies long). */
const DOC2QUERY_BATCH_REPLIES = 8;

/**
 * Formation jobs run in one pass when several are due (turns came faster than their jobs ran): one
 * embedding request, one appraisal call per conversation (up to `MAX_APPRAISED_EXCHANGES` exchanges),
 * one write transaction. A turn's two jobs are claimed together, so this many formations are ~4 turns.
 */
export const FORM_BATCH = 8;

/** Conversations whose last count of messages since their summary is kept (the oldest counted first out). */
const PENDING_COUNTS_KEPT = 4_096;
/** Memories re-embedded per `memory.embed` job; the job re-queues itself while more remain. */
const EMBED_BATCH = 64;
/** Reply cap for a poignancy rating ("7") and for a summary. */
const RATING_TOKENS = 8;
const SUMMARY_TOKENS = 400;

export interface FormPayload {
  personaId: string;
  /** The user the memories belong to (null: the anonymous local user). Missing in jobs queued before it existed. */
  userId?: string | null;
  sessionId: string | null;
  conversationId: string;
  userMessageId: number;
  /** The persona's reply to it: with it, the poignancy ratings come from the turn's one appraisal (TurnAppraiser). */
  replyMessageId?: number;
}

export interface Doc2QueryPayload {
  personaId: string;
  memoryIds: number[];
}

export interface SummarisePayload {
  personaId: string;
  conversationId: string;
  userId?: string | null;
}

export class MemoryFormation {
  constructor(
    private readonly deps: {
      memories: MemoryStore;
      embedders: MemoryEmbedders;
      maintenance: MemoryMaintenance;
      llm: LlmProvider;
      jobs: JobQueue;
      clock: Clock;
      logger: Logger;
      settings: MemorySettings;
      /** The persona's record (null when it was deleted) and the model it talks with. */
      persona: (id: string) => { record: PersonaRecord; model: string } | null;
      /** The turn's one call for all its judgements; without it, one rating call per memory. */
      appraiser?: TurnAppraiser | null;
    },
  ) {}

  /** Registers the job handlers; call before the queue starts. */
  register(jobs: JobQueue): void {
    jobs.register(
      FORM_JOB,
      (job, signal) => this.form(job.payload as unknown as FormPayload, signal, job.completion),
      {
        handler: (batch, signal) =>
          this.formMany(
            batch.map((job) => job.payload as unknown as FormPayload),
            signal,
            batch.map((job) => job.completion),
          ),
        maxJobs: FORM_BATCH,
      },
      // The memories' write commits with the turn's relationship update (its model call is the same appraisal).
      { withClaim: true },
    );
    jobs.register(SUMMARISE_JOB, (job, signal) => this.summarise(job.payload as unknown as SummarisePayload, signal));
    jobs.register(EMBED_JOB, (job, signal) => this.embedMissing(job, signal));
    jobs.register(DOC2QUERY_JOB, (job, signal) => this.doc2query(job.payload as unknown as Doc2QueryPayload, signal));
    jobs.register(EXPAND_JOB, (job) => this.expand(job.payload as unknown as { after?: number }));
  }

  /**
   * Asks the LLM for each memory's canonical fact and questions (doc2query), all of the message's
   * memories in one call (one numbered prompt; one memory: the single prompt). A memory the answer has
   * no "Fact:" line for is logged and skipped; an LLM that went away leaves the memories as they are
   * (this is an extra, never retried for ever).
   */
  async doc2query(payload: Doc2QueryPayload, signal: AbortSignal): Promise<void> {
    const { memories, logger } = this.deps;
    const persona = this.deps.persona(payload.personaId);
    if (persona === null || !(await this.isLlmReachable())) return;
    const pending = (await memories.getMany(payload.memoryIds)).filter((memory) => memory.doc2query === null);
    if (pending.length === 0) return;
    const contents = pending.map((memory) => memory.content);
    const [prompt, maxTokens] =
      contents.length === 1
        ? [doc2queryPrompt(persona.record.name, contents[0]!), DOC2QUERY_TOKENS]
        : [doc2queryBatchPrompt(persona.record.name, contents), DOC2QUERY_TOKENS * Math.min(contents.length, DOC2QUERY_BATCH_REPLIES)];
    let answer: string;
    try {
      answer = await this.complete(persona.model, prompt, maxTokens, signal, 'summary');
    } catch (error) {
      logger.debug({ err: error }, 'doc2query failed; the memories keep their WordNet terms only');
      return;
    }
    const texts = contents.length === 1 ? [parseDoc2Query(answer)] : parseDoc2QueryBatch(answer, contents.length);
    for (const [index, memory] of pending.entries()) {
      const text = texts[index] ?? null;
      if (text === null) {
        // The answer may quote the person's message: its text only at debug, as request params are.
        logger.info({ model: persona.model, answerChars: answer.length, memory: index + 1, of: pending.length }, 'the LLM did not answer with a fact and questions; doc2query skipped');
        logger.debug({ model: persona.model, answer: answer.slice(0, 200) }, 'the answer that was no fact');
        continue;
      }
      await memories.setDoc2Query(memory.id, text);
    }
  }

  /** One page of the recall-term backfill; queues the next page while stale memories remain. */
  async expand(payload: { after?: number }): Promise<void> {
    const done = await this.deps.memories.expandStale(payload.after ?? 0, EXPAND_BATCH);
    if (done !== null) await this.deps.jobs.enqueue(EXPAND_JOB, { after: done.lastId }, { dedupeKey: EXPAND_JOB });
  }

  /**
   * Per conversation, the last count of its messages after its latest summary (only counts under the
   * threshold: a count stops there), with that summary's message and the newest message id then.
   */
  private readonly pendingCounts = new Map<string, { afterId: number; pending: number; upToId: number }>();

  /**
   * Whether a turn should queue summarisation now. With `newestMessageId` (the turn's reply), a count is
   * skipped while it cannot have reached the threshold: message ids grow across every conversation, so
   * at most `newestMessageId − upToId` messages came into this one since the last count — every turn used
   * to count (a read on the turn's after-reply path); now about one turn in ten does.
   */
  async needsSummary(conversationId: string, newestMessageId?: number): Promise<boolean> {
    const { memories, settings } = this.deps;
    const threshold = settings.summariseAfterMessages;
    const last = await memories.latestSummary(conversationId);
    const afterId = last?.messageId ?? 0;
    const known = this.pendingCounts.get(conversationId);
    if (newestMessageId !== undefined && known !== undefined && known.afterId === afterId && known.pending + Math.max(0, newestMessageId - known.upToId) < threshold)
      return false;
    const pending = await memories.countMessagesAfter(conversationId, afterId, threshold);
    this.pendingCounts.delete(conversationId);
    if (newestMessageId !== undefined && pending < threshold) {
      if (this.pendingCounts.size >= PENDING_COUNTS_KEPT) this.pendingCounts.delete(this.pendingCounts.keys().next().value as string);
      this.pendingCounts.set(conversationId, { afterId, pending, upToId: newestMessageId });
    }
    return pending >= threshold;
  }

  /**
   * Forms the memories of one message. `completes` (the job's, ports/jobs.ts): marked in the write's
   * transaction when nothing but the cap's enforcement follows it — the next formation enforces the cap
   * again; a restatement or embedding job still to be queued makes the queue complete the job after it.
   */
  async form(payload: FormPayload, signal: AbortSignal, completes?: JobCompletion): Promise<void> {
    const { memories, embedders, settings, clock } = this.deps;
    const message = await memories.message(payload.userMessageId);
    const persona = this.deps.persona(payload.personaId);
    if (message === null || persona === null) return;
    const extracted = extractMemories(message.content);
    if (extracted.length === 0) {
      await memories.replaceFormed(message.id, [], clock.now(), completes);
      return;
    }
    const vectors = await embedders.embed(
      extracted.map((memory) => memory.content),
      signal,
    );
    // The embeddings' answer has been read; the appraisal's request is a stretch of its own.
    await this.deps.jobs.giveWay?.();
    const isLlmUp = settings.llmImportance && (await this.isLlmReachable());
    const appraisal = isLlmUp ? await this.appraisal(payload, persona, message.content, extracted.map((memory) => memory.content), signal) : undefined;
    const appraised = appraisal === undefined ? null : (appraisal?.importance ?? extracted.map(() => null));
    // The appraisal's restatements go into the rows as they are written: one full-text row per memory,
    // in the formation's one transaction, instead of a row rewritten by a second write per memory.
    const restated = settings.doc2query ? this.restatedBy(appraisal, extracted.length) : null;
    // The novelty searches, then the write (recall terms, then the transaction, then the full-text mirror:
    // memory-store.ts), each a stretch of synchronous work of its own: a turn that arrives meanwhile
    // goes first instead of waiting behind all of them.
    await this.deps.jobs.giveWay?.();
    const novelties = await this.novelties(
      payload.personaId,
      payload.userId ?? null,
      vectors.map((memoryVectors) => memoryVectors[0]!.vector),
      message.id,
    );
    await this.deps.jobs.giveWay?.();
    const formed: Array<{ memory: NewMemory; vectors: MemoryVector[] }> = [];
    for (const [index, memory] of extracted.entries()) {
      const rated = isLlmUp ? (appraised !== null ? (appraised[index] ?? null) : await this.rate(persona.record.name, persona.model, memory.content, signal)) : undefined;
      formed.push({
        memory: this.newMemory(payload, message.id, memory, novelties[index]!, rated, restated?.texts[index] ?? null),
        vectors: vectors[index]!,
      });
    }
    const stored = await memories.replaceFormed(message.id, formed, clock.now(), this.isLastStep(restated, formed) ? completes : undefined);
    // replaceFormed returns what it stored in the order given (nothing for a forgotten message).
    const unrestated = restated === null || !restated.askTheRest ? [] : stored.filter((memory) => memory.doc2query === null).map((memory) => memory.id);
    if (unrestated.length > 0 && (isLlmUp || (await this.isLlmReachable()))) {
      const job: Doc2QueryPayload = { personaId: payload.personaId, memoryIds: unrestated };
      await this.deps.jobs.enqueue(DOC2QUERY_JOB, { ...job }, { dedupeKey: `${DOC2QUERY_JOB}:${message.id}` });
    }
    if (embedders.remote !== null && formed.some((entry) => entry.vectors.length < embedders.ids.length)) {
      await this.deps.jobs.enqueue(EMBED_JOB, {}, { dedupeKey: EMBED_JOB, runAfter: clock.now() + 60_000 });
    }
    await this.deps.maintenance.enforceCap(payload.personaId);
  }

  /**
   * Whether a message's write is its job's last step but the cap's enforcement (which the next formation
   * does again), so the job may complete with it: no memory stored without a restatement that a job may
   * still ask for, none without an embedding the re-embedding job must make.
   */
  private isLastStep(restated: { askTheRest: boolean } | null | undefined, formed: ReadonlyArray<{ memory: NewMemory; vectors: readonly MemoryVector[] }>): boolean {
    const mayAskRestatements = restated != null && restated.askTheRest && formed.some((entry) => entry.memory.doc2query === null);
    const embedders = this.deps.embedders;
    return !mayAskRestatements && !(embedders.remote !== null && formed.some((entry) => entry.vectors.length < embedders.ids.length));
  }

  /**
   * `form` for several messages in one pass (a batch of due formation jobs): one embedding request for
   * all their memories, the turns' appraisals asked together per conversation (`TurnAppraiser.appraiseMany`:
   * the exchanges without memories too, so their relationship jobs find their tone asked), the novelty
   * of each memory against the stored ones and those formed before it in the batch, then one write
   * transaction for all of them. What a message gets is what `form` would give it run after the
   * earlier ones, except that the batch's own memories are compared by exact cosine (the index's int8
   * similarity for stored ones) and the memory cap is enforced once, after the batch. Resolves with each
   * job's outcome: a message deleted meanwhile completes with nothing formed. `completes` (the jobs',
   * in order) as `form`'s: each message's write takes its job's when nothing but the cap follows it.
   */
  async formMany(
    payloads: readonly FormPayload[],
    signal: AbortSignal,
    completes: ReadonlyArray<JobCompletion | undefined> = [],
  ): Promise<Array<PromiseSettledResult<void>>> {
    const { memories, embedders, settings, clock } = this.deps;
    const turns: Array<{
      payload: FormPayload;
      message: { id: number; content: string };
      persona: { record: PersonaRecord; model: string };
      extracted: ExtractedMemory[];
      completes: JobCompletion | undefined;
      restated?: { texts: ReadonlyArray<string | null>; askTheRest: boolean } | null;
    }> = [];
    for (const [at, payload] of payloads.entries()) {
      const message = await memories.message(payload.userMessageId);
      const persona = this.deps.persona(payload.personaId);
      if (message !== null && persona !== null) turns.push({ payload, message, persona, extracted: extractMemories(message.content), completes: completes[at] });
    }
    const texts = turns.flatMap((turn) => turn.extracted.map((memory) => memory.content));
    const allVectors = texts.length === 0 ? [] : await embedders.embed(texts, signal);
    const vectorsOf: MemoryVector[][][] = [];
    let next = 0;
    for (const turn of turns) {
      vectorsOf.push(allVectors.slice(next, next + turn.extracted.length));
      next += turn.extracted.length;
    }
    await this.deps.jobs.giveWay?.();
    const isLlmUp = settings.llmImportance && turns.length > 0 && (await this.isLlmReachable());
    const appraisals = isLlmUp ? await this.appraisals(turns, signal) : turns.map(() => undefined);
    await this.deps.jobs.giveWay?.();
    const formations: Array<{ messageId: number; memories: Array<{ memory: NewMemory; vectors: MemoryVector[] }>; completes: JobCompletion | undefined }> = [];
    /** The batch's memories so far, for the novelty of later ones (same persona and user). */
    const earlier: Array<{ personaId: string; userId: string | null; vector: Float32Array }> = [];
    for (const [at, turn] of turns.entries()) {
      // Each message's novelty searches are a stretch of their own, as in `form`: a turn arriving meanwhile goes first.
      if (at > 0) await this.deps.jobs.giveWay?.();
      const { payload, message, persona, extracted } = turn;
      const vectors = vectorsOf[at]!;
      const offline = vectors.map((memoryVectors) => memoryVectors[0]!.vector);
      const userId = payload.userId ?? null;
      const stored = extracted.length === 0 ? [] : await this.novelties(payload.personaId, userId, offline, message.id);
      const novelties = stored.map((novelty, index) => {
        let best = 1 - novelty;
        for (const other of earlier) if (other.personaId === payload.personaId && other.userId === userId) best = Math.max(best, cosine(offline[index]!, other.vector));
        return Math.max(0, 1 - best);
      });
      for (const vector of offline) earlier.push({ personaId: payload.personaId, userId, vector });
      const appraisal = appraisals[at];
      const appraised = appraisal === undefined ? null : (appraisal?.importance ?? extracted.map(() => null));
      const restated = settings.doc2query ? this.restatedBy(appraisal, extracted.length) : null;
      turn.restated = restated;
      const formed: Array<{ memory: NewMemory; vectors: MemoryVector[] }> = [];
      for (const [index, memory] of extracted.entries()) {
        const rated = isLlmUp ? (appraised !== null ? (appraised[index] ?? null) : await this.rate(persona.record.name, persona.model, memory.content, signal)) : undefined;
        formed.push({
          memory: this.newMemory(payload, message.id, memory, novelties[index]!, rated, restated?.texts[index] ?? null),
          vectors: vectors[index]!,
        });
      }
      formations.push({ messageId: message.id, memories: formed, completes: this.isLastStep(restated, formed) ? turn.completes : undefined });
    }
    // One message's memories per write transaction, each after giving way: a batch's FTS rows in one
    // transaction were one synchronous stretch of ~8 ms for four turns, which a turn arriving meanwhile
    // waited behind (the chat suite's p99); a commit more per message costs ~30 µs.
    const stored: Memory[][] = [];
    for (const formation of formations) {
      await this.deps.jobs.giveWay?.();
      stored.push(...(await memories.replaceFormedMany([formation], clock.now())));
    }
    for (const [at, turn] of turns.entries()) {
      const restated = turn.restated ?? null;
      const unrestated = restated === null || !restated.askTheRest ? [] : stored[at]!.filter((memory) => memory.doc2query === null).map((memory) => memory.id);
      if (unrestated.length > 0 && (isLlmUp || (await this.isLlmReachable()))) {
        const job: Doc2QueryPayload = { personaId: turn.payload.personaId, memoryIds: unrestated };
        await this.deps.jobs.enqueue(DOC2QUERY_JOB, { ...job }, { dedupeKey: `${DOC2QUERY_JOB}:${turn.message.id}` });
      }
    }
    if (embedders.remote !== null && formations.some((formation) => formation.memories.some((entry) => entry.vectors.length < embedders.ids.length))) {
      await this.deps.jobs.enqueue(EMBED_JOB, {}, { dedupeKey: EMBED_JOB, runAfter: clock.now() + 60_000 });
    }
    for (const personaId of new Set(turns.map((turn) => turn.payload.personaId))) await this.deps.maintenance.enforceCap(personaId);
    return payloads.map(() => ({ status: 'fulfilled', value: undefined }));
  }

  /**
   * The appraisals of a batch's turns, asked together per conversation; undefined for a turn whose memories
   * are rated one by one (no appraiser, or a job queued before replies were named), null when it failed.
   */
  private async appraisals(
    turns: ReadonlyArray<{ payload: FormPayload; message: { content: string }; persona: { record: PersonaRecord; model: string }; extracted: ExtractedMemory[] }>,
    signal: AbortSignal,
  ): Promise<Array<TurnAppraisal | null | undefined>> {
    const appraiser = this.deps.appraiser;
    if (appraiser == null || !appraiser.isEnabled) return turns.map(() => undefined);
    const requests: AppraisalRequest[] = [];
    const at: number[] = [];
    for (const [index, { payload, message, persona, extracted }] of turns.entries()) {
      if (payload.replyMessageId === undefined) continue;
      const reply = await this.deps.memories.message(payload.replyMessageId);
      if (reply === null) continue;
      requests.push({
        userMessageId: payload.userMessageId,
        conversationId: payload.conversationId,
        personaName: persona.record.name,
        model: persona.model,
        spoken: message.content,
        answer: reply.content,
        memories: extracted.map((memory) => memory.content),
      });
      at.push(index);
    }
    const answers = await appraiser.appraiseMany(requests, signal);
    const result: Array<TurnAppraisal | null | undefined> = turns.map(() => undefined);
    at.forEach((index, request) => (result[index] = answers[request]));
    return result;
  }

  /** A memory of a message as formation stores it: its importance by the heuristic, or the model's rating when there is one (`rated`: undefined when the model was not asked). */
  private newMemory(
    payload: FormPayload,
    messageId: number,
    memory: ExtractedMemory,
    novelty: number,
    rated: number | null | undefined,
    doc2query: string | null,
  ): NewMemory {
    const { settings } = this.deps;
    const found = importanceCues(memory.content, novelty);
    // A fact about the user counts as personal even without a cue word ("I speak fluent Japanese.").
    const cues = { ...found, personal: found.personal || memory.kind === 'user_fact' };
    let importance = heuristicImportance(cues);
    let source: ImportanceSource = 'heuristic';
    if (rated !== undefined && rated !== null) {
      // An explicit "remember this" keeps its weight even when the model finds it mundane.
      importance = cues.explicit ? Math.max(importance, rated) : rated;
      source = 'llm';
    }
    return {
      personaId: payload.personaId,
      kind: memory.kind,
      content: memory.content,
      importance,
      importanceSource: source,
      visibility: settings.formedVisibility,
      userId: payload.userId ?? null,
      sessionId: payload.sessionId,
      conversationId: payload.conversationId,
      messageId,
      doc2query,
    };
  }

  async summarise(payload: SummarisePayload, signal: AbortSignal): Promise<void> {
    const { memories, settings, clock } = this.deps;
    const persona = this.deps.persona(payload.personaId);
    if (persona === null) return;
    // Reading the turns to summarise (thousands in a long conversation's first summary) and building the
    // prompt run without a pause: a turn being prepared goes first.
    await this.deps.jobs.giveWay?.();
    const last = await memories.latestSummary(payload.conversationId);
    const afterId = last?.messageId ?? 0;
    const pending = await memories.messagesAfter(payload.conversationId, afterId, 10_000);
    if (pending.length < settings.summariseAfterMessages) return;
    const older = pending.slice(0, Math.max(0, pending.length - settings.summaryKeepRecent));
    if (older.length === 0) return;
    const turns: SummaryTurn[] = older.map((message) => ({
      role: message.role,
      speaker: message.role === 'user' ? 'User' : message.role === 'assistant' ? persona.record.name : 'Note',
      content: message.content,
    }));
    const previous = last === null ? [] : [{ role: 'system' as const, speaker: 'Earlier summary', content: last.content }];
    let text: string | null = null;
    if (await this.isLlmReachable()) {
      text = await this.complete(persona.model, summaryPrompt(persona.record.name, [...previous, ...turns]), SUMMARY_TOKENS, signal, 'summary').catch(
        (error: unknown) => {
          this.deps.logger.warn({ err: error }, 'LLM summary failed; using the extractive summary');
          return null;
        },
      );
    }
    const content = (text?.trim() || extractiveSummary([...previous, ...turns])).slice(0, SUMMARY_MAX_CHARS);
    if (content.length === 0) return;
    const [vectors] = await this.deps.embedders.embed([content], signal);
    const lastMessage = older.at(-1)!;
    await memories.insert(
      {
        personaId: payload.personaId,
        kind: 'summary',
        content,
        importance: heuristicImportance(importanceCues(content)),
        importanceSource: text ? 'llm' : 'heuristic',
        visibility: 'private',
        userId: payload.userId ?? null,
        conversationId: payload.conversationId,
        messageId: lastMessage.id,
      },
      vectors ?? [],
      clock.now(),
    );
  }

  async embedMissing(job: JobRecord, signal: AbortSignal): Promise<void> {
    const { memories, embedders, clock } = this.deps;
    if (embedders.remote === null) return;
    const missing = await memories.missingVectors(embedders.remote.id, EMBED_BATCH);
    if (missing.length === 0) return;
    const vectors = await embedders.remoteVectors(
      missing.map((memory) => memory.content),
      signal,
    );
    if (vectors === null) {
      // Backend still down: try again later (a new job, so this one does not burn its attempts).
      await this.deps.jobs.enqueue(EMBED_JOB, {}, { dedupeKey: EMBED_JOB, runAfter: clock.now() + 10 * 60_000 });
      return;
    }
    for (const [index, memory] of missing.entries())
      await memories.setVector(memory.id, { embedder: embedders.remote.id, vector: vectors[index]! });
    if (missing.length === EMBED_BATCH) await this.deps.jobs.enqueue(EMBED_JOB, { after: job.id }, { dedupeKey: EMBED_JOB });
  }

  /**
   * Per new memory (its offline vector), 1 − the best similarity to the persona's existing memories (1 when
   * it has none); memories formed before from the same message (a job run again) do not count. One
   * indexed read of the message's memory ids for all of them (not the hits' whole rows).
   */
  private async novelties(personaId: string, userId: string | null, vectors: readonly Float32Array[], messageId: number): Promise<number[]> {
    const { memories, embedders } = this.deps;
    const hits = [];
    for (const vector of vectors) hits.push(await memories.vectorSearch(embedders.offline.id, vector, { viewerId: personaId, userId }, 3));
    const sameMessage = new Set(hits.some((found) => found.length > 0) ? await memories.idsFromMessage(messageId) : []);
    return hits.map((found) => {
      const best = found.find((hit) => !sameMessage.has(hit.id))?.score;
      return best === undefined ? 1 : Math.max(0, 1 - best);
    });
  }

  /**
   * The turn's appraisal (one call shared with the relationship update), null when it failed (the
   * heuristics stay), or undefined to rate the memories one by one (no appraiser, or a job queued before
   * replies were named).
   */
  private async appraisal(
    payload: FormPayload,
    persona: { record: PersonaRecord; model: string },
    spoken: string,
    memories: string[],
    signal: AbortSignal,
  ): Promise<TurnAppraisal | null | undefined> {
    const appraiser = this.deps.appraiser;
    if (appraiser == null || !appraiser.isEnabled || payload.replyMessageId === undefined) return undefined;
    // Asked already by the turn's relationship job: no need to read the reply again.
    const asked = appraiser.askedFor(payload.userMessageId, signal);
    if (asked !== null) return asked;
    const reply = await this.deps.memories.message(payload.replyMessageId);
    if (reply === null) return undefined;
    const request = { userMessageId: payload.userMessageId, personaName: persona.record.name, model: persona.model, spoken, answer: reply.content, memories };
    return appraiser.appraise(request, signal);
  }

  /**
   * The doc2query texts the turn's appraisal gave for the memories being formed (stored with them), and
   * whether the separate doc2query call should be asked about those still without one. It is not asked
   * when the appraisal was asked to restate them and its answer was unreadable or missing (the model did
   * not answer: asking again is a second call for the same failure; the memories keep their WordNet
   * terms, as after a failed doc2query). It is asked about those the appraisal left out when it answered
   * the rest (a model that skipped that part), and about all of them when the appraisal did not ask.
   */
  private restatedBy(appraisal: TurnAppraisal | null | undefined, count: number): { texts: ReadonlyArray<string | null>; askTheRest: boolean } {
    const asked = appraisal !== undefined && this.deps.appraiser?.restates === true;
    if (!asked) return { texts: [], askTheRest: true };
    if (appraisal === null) return { texts: [], askTheRest: false };
    const answered = appraisal.tone !== null || appraisal.importance.some((value) => value !== null) || appraisal.restated.some((text) => text !== null);
    if (!answered) return { texts: [], askTheRest: false };
    return { texts: Array.from({ length: count }, (_, index) => appraisal.restated[index] ?? null), askTheRest: true };
  }

  private async rate(personaName: string, model: string, memory: string, signal: AbortSignal): Promise<number | null> {
    try {
      const answer = await this.complete(model, poignancyPrompt(personaName, memory), RATING_TOKENS, signal, 'importance');
      const rating = parsePoignancy(answer);
      if (rating === null)
        this.deps.logger.info({ model, answer: answer.slice(0, 200) }, 'the LLM did not answer with a rating; keeping the heuristic importance');
      return rating;
    } catch (error) {
      this.deps.logger.debug({ err: error }, 'LLM poignancy rating failed; keeping the heuristic importance');
      return null;
    }
  }

  private async isLlmReachable(): Promise<boolean> {
    try {
      return (await this.deps.llm.status()).reachable;
    } catch {
      return false;
    }
  }

  private async complete(model: string, prompt: string, maxTokens: number, signal: AbortSignal, task: 'summary' | 'importance'): Promise<string> {
    const reply = await collectReply(
      this.deps.llm.chat({ model, messages: [{ role: 'user', content: prompt }], maxTokens, contextTokens: 2048, priority: 'background', task }, signal),
    );
    return reply.text;
  }
}
