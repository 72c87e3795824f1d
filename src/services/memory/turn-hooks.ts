/**
 * How memory plugs into a chat turn (services/turn-hooks.ts), without the chat service knowing it:
 * `MemoryRecall` adds a tiered memory context to the prompt, as Letta/MemGPT do — a small "what I know
 * about you" block (the persona's most important facts about this user) and the memories relevant to
 * this message (only those above the relevance floor: nothing relevant, no lines) — plus the
 * conversation's latest summary, within a bounded number of lines and tokens, and reports what it added;
 * `MemoryFormationObserver` queues formation (and summarisation when due) as durable jobs after the
 * reply is stored.
 */
import { recallFloorsFor } from '../../domain/memory/speaker.js';
import { estimateTokens, truncateToTokens } from '../../domain/tokens.js';
import type { JobQueue } from '../../ports/jobs.js';
import type { MemoryStore } from '../../ports/memory.js';
import type { CompletedTurn, PromptContribution, PromptContributor, TurnContext, TurnObserver } from '../turn-hooks.js';
import { FORM_JOB, SUMMARISE_JOB, type FormPayload, type MemoryFormation, type SummarisePayload } from './formation.js';
import type { MemoryService } from './memory-service.js';

/** Heading of the recalled memories in the system prompt. */
export const RECALL_HEADING = 'Things you remember (use them naturally, do not list them):';
/** Heading of the "what I know about you" block. */
export const PROFILE_HEADING = 'What you know about the user:';
export const SUMMARY_HEADING = 'Summary of the earlier conversation:';
/**
 * Most tokens one memory line may take: a fact is 10–30, a summary of another conversation some 100; a
 * longer memory (a pasted text stored by a client, a summary a model let run on) is cut here, so one
 * memory never takes the whole memory budget and crowds out the facts the message needs.
 */
export const MAX_LINE_TOKENS = 80;

/** Prompt lines kept by memory text (the same memories come back turn after turn); started over when full. */
const LINES_KEPT = 2_000;
const lines = new Map<string, string>();

/**
 * A memory as one prompt line: one line per memory (a memory's own line breaks would end the list, and
 * the section, early), cut at MAX_LINE_TOKENS. Kept per text: cutting a long memory (a summary) bisects
 * its length with a token count per step, ~0.1 ms, on every turn that recalled it.
 */
function memoryLine(content: string): string {
  let line = lines.get(content);
  if (line === undefined) {
    line = `- ${truncateToTokens(content.replace(/\s+/gu, ' ').trim(), MAX_LINE_TOKENS, { keep: 'start' })}`;
    if (lines.size >= LINES_KEPT) lines.clear();
    lines.set(content, line);
  }
  return line;
}

export interface MemoryRecallLimits {
  /** Share of the context budget memory may use. */
  budgetShare: number;
  /** Most memory lines per prompt (block and recalled together). */
  maxLines: number;
  /** Most tokens of memory lines per prompt (headings included). */
  maxTokens: number;
  /** Most facts in the "what I know about you" block. */
  profileFacts: number;
  /** Least relevance for a recalled memory (domain/memory/scoring.ts RELEVANCE_FLOOR). */
  relevanceFloor: number;
}

/** What memory put into one prompt, reported in the turn's result. */
export interface MemoryUsage {
  /** Lines of the "what I know about you" block. */
  profileLines: number;
  /** Memories recalled for this message. */
  recalledLines: number;
  /** Tokens of both sections, headings included (the conversation summary is counted apart). */
  tokens: number;
  summaryTokens: number;
}

export class MemoryRecall implements PromptContributor {
  readonly name = 'memory';
  readonly budgetShare: number;

  constructor(
    private readonly memory: MemoryService,
    private readonly memories: MemoryStore,
    private readonly limits: MemoryRecallLimits,
  ) {
    this.budgetShare = limits.budgetShare;
  }

  async contribute(turn: TurnContext): Promise<PromptContribution> {
    const sections: string[] = [];
    let budget = turn.budgetTokens;
    const { maxLines, maxTokens, profileFacts, relevanceFloor } = this.limits;
    // Independent reads: the recall (with its query embedding) need not wait for the summary.
    const [summary, recalled, profile] = await Promise.all([
      this.memories.latestSummary(turn.conversation.id),
      this.memory.search({
        query: turn.message.content,
        limit: maxLines,
        viewerId: turn.persona.id,
        userId: turn.session.userId,
        includeShared: true,
        includePublic: true,
        // Weak matches only for a message about its writer; a question about the world needs a real match.
        ...recallFloorsFor(turn.message.content, relevanceFloor),
        reinforce: turn.isPreview !== true,
        // The turn's critical path never waits for the embedding model (the vector is kept for later).
        remoteWaitMs: 0,
      }),
      profileFacts > 0 ? this.memories.userFacts(turn.persona.id, turn.session.userId, profileFacts) : Promise.resolve([]),
    ]);
    let summaryContribution: PromptContribution['summary'];
    if (summary !== null && summary.messageId !== null) {
      // The summary replaces the turns it covers in the context window (the chat turn drops them).
      const cost = estimateTokens(`${SUMMARY_HEADING} ${summary.content}`);
      if (cost <= budget) {
        summaryContribution = { text: summary.content, coversThroughMessageId: summary.messageId };
        budget -= cost;
      }
    }
    const summaryTokens = turn.budgetTokens - budget;
    budget = Math.min(budget, maxTokens);
    // Recalled memories first (they answer this message), then the block fills the lines left, without
    // repeating a recalled fact. Each section's heading counts once it has a line.
    const recalledLines: string[] = [];
    const shown = new Set<number>();
    let used = 0;
    const take = (content: string, heading: string, lines: string[]): boolean => {
      const line = memoryLine(content);
      const cost = estimateTokens(line) + (lines.length === 0 ? estimateTokens(heading) : 0);
      if (recalledLines.length + profileLines.length >= maxLines || used + cost > budget) return false;
      lines.push(line);
      used += cost;
      return true;
    };
    const profileLines: string[] = [];
    for (const hit of recalled) {
      if (hit.memory.kind === 'summary' && hit.memory.id === summary?.id) continue;
      if (take(hit.memory.content, RECALL_HEADING, recalledLines)) shown.add(hit.memory.id);
    }
    for (const fact of profile) {
      if (shown.has(fact.id)) continue;
      if (!take(fact.content, PROFILE_HEADING, profileLines)) break;
    }
    if (profileLines.length > 0) sections.push(`${PROFILE_HEADING}\n${profileLines.join('\n')}`);
    if (recalledLines.length > 0) sections.push(`${RECALL_HEADING}\n${recalledLines.join('\n')}`);
    const usage: MemoryUsage = { profileLines: profileLines.length, recalledLines: recalledLines.length, tokens: used, summaryTokens };
    const contribution: PromptContribution = {
      sections,
      usage: {
        memoryProfileLines: usage.profileLines,
        memoryRecalledLines: usage.recalledLines,
        memoryTokens: usage.tokens,
        memorySummaryTokens: usage.summaryTokens,
      },
    };
    return summaryContribution === undefined ? contribution : { ...contribution, summary: summaryContribution };
  }
}

export class MemoryFormationObserver implements TurnObserver {
  readonly name = 'memory-formation';

  constructor(
    private readonly jobs: JobQueue,
    private readonly formation: MemoryFormation,
  ) {}

  async turnCompleted(turn: CompletedTurn): Promise<void> {
    if (turn.userMessage === null) return; // memories form from what a person said
    const form: FormPayload = {
      personaId: turn.persona.id,
      userId: turn.session.userId,
      sessionId: turn.session.id,
      conversationId: turn.conversation.id,
      userMessageId: turn.userMessage.id,
      replyMessageId: turn.replyMessage.id,
    };
    await this.jobs.enqueue(FORM_JOB, { ...form }, { dedupeKey: `${FORM_JOB}:${turn.userMessage.id}` });
    if (await this.formation.needsSummary(turn.conversation.id, turn.replyMessage.id)) {
      const summarise: SummarisePayload = { personaId: turn.persona.id, conversationId: turn.conversation.id, userId: turn.session.userId };
      await this.jobs.enqueue(SUMMARISE_JOB, { ...summarise }, { dedupeKey: `${SUMMARISE_JOB}:${turn.conversation.id}` });
    }
  }
}
