/**
 * How memory plugs into a chat turn (services/turn-hooks.ts), without the chat service knowing it:
 * `MemoryRecall` adds the persona's most relevant memories (and the conversation's latest summary) to
 * the prompt within its token share; `MemoryFormationObserver` queues formation (and summarisation
 * when due) as durable jobs after the reply is stored.
 */
import { estimateTokens } from '../../domain/tokens.js';
import type { JobQueue } from '../../ports/jobs.js';
import type { MemoryStore } from '../../ports/memory.js';
import type { CompletedTurn, PromptContribution, PromptContributor, TurnContext, TurnObserver } from '../turn-hooks.js';
import { FORM_JOB, SUMMARISE_JOB, type FormPayload, type MemoryFormation, type SummarisePayload } from './formation.js';
import type { MemoryService } from './memory-service.js';

/** Heading of the recalled memories in the system prompt. */
export const RECALL_HEADING = 'Things you remember (use them naturally, do not list them):';
export const SUMMARY_HEADING = 'Summary of the earlier conversation:';

export class MemoryRecall implements PromptContributor {
  readonly name = 'memory';

  constructor(
    private readonly memory: MemoryService,
    private readonly memories: MemoryStore,
    readonly budgetShare: number,
    private readonly maxMemories: number,
  ) {}

  async contribute(turn: TurnContext): Promise<PromptContribution> {
    const sections: string[] = [];
    let budget = turn.budgetTokens;
    // Independent reads: the recall (with its query embedding) need not wait for the summary.
    const [summary, recalled] = await Promise.all([
      this.memories.latestSummary(turn.conversation.id),
      this.memory.search({
        query: turn.message.content,
        limit: this.maxMemories,
        viewerId: turn.persona.id,
        userId: turn.session.userId,
        includeShared: true,
        includePublic: true,
        reinforce: turn.isPreview !== true,
        // The turn's critical path never waits for the embedding model (the vector is kept for later).
        remoteWaitMs: 0,
      }),
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
    const lines: string[] = [];
    let used = estimateTokens(RECALL_HEADING);
    for (const hit of recalled) {
      if (hit.memory.kind === 'summary' && hit.memory.id === summary?.id) continue;
      const line = `- ${hit.memory.content}`;
      const cost = estimateTokens(line);
      if (used + cost > budget) break;
      lines.push(line);
      used += cost;
    }
    if (lines.length > 0) sections.push(`${RECALL_HEADING}\n${lines.join('\n')}`);
    return summaryContribution === undefined ? { sections } : { sections, summary: summaryContribution };
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
    };
    await this.jobs.enqueue(FORM_JOB, { ...form }, { dedupeKey: `${FORM_JOB}:${turn.userMessage.id}` });
    if (await this.formation.needsSummary(turn.conversation.id)) {
      const summarise: SummarisePayload = { personaId: turn.persona.id, conversationId: turn.conversation.id, userId: turn.session.userId };
      await this.jobs.enqueue(SUMMARISE_JOB, { ...summarise }, { dedupeKey: `${SUMMARISE_JOB}:${turn.conversation.id}` });
    }
  }
}
