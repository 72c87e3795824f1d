/** The wire shapes of the memory methods: memory types (any label), params, and memories, prunes and decay as results. */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import { formatMemoryId, kindOfLabel, MAX_LABEL_CHARS, MEMORY_KINDS, parseMemoryId, type Memory } from '../../domain/memory/memory.js';
import type { PruneOutcome } from '../../services/memory/maintenance.js';
import type { RecalledMemory } from '../../services/memory/memory-service.js';
import { isoTime, round, seconds, toIso } from './wire.js';

/**
 * Any label (old clients send their own: "local_knowledge", "location"): kept and returned as given,
 * and ranked as one of our kinds (domain/memory/memory.ts `kindOfLabel`).
 */
export const memoryType = z
  .string()
  .trim()
  .min(1)
  .max(MAX_LABEL_CHARS)
  .transform((label) => ({ kind: kindOfLabel(label), label }))
  .describe(
    `Any label up to ${MAX_LABEL_CHARS} characters, kept as given; ranked as one of ${MEMORY_KINDS.join(', ')} ("fact", "preference" → user_fact; unknown labels → observation).`,
  );
export const visibility = z
  .enum(['private', 'shared', 'public'])
  .describe('private: this persona only; shared: also related_personas and groups; public: every persona.');
export const memoryIdParam = z.string().trim().min(1).max(40).describe('A memory id from memory.store, memory.search or memory.list ("mem_42").');
export const nResults = z.number().int().min(1).max(100).default(5);
export const minImportance = z.number().min(0).max(1).default(0);
export const groupId = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[\w.-]+$/, 'letters, digits, _ . - only');

export const memoryWire = z.object({
  id: z.string(),
  content: z.string(),
  importance: z.number(),
  similarity: z.number().describe('Relevance to the query, 0..1 (fused full-text and vector rank); 0 outside searches.'),
  created_at: isoTime,
  persona_id: z.string(),
  memory_type: z.string().describe('The type as the client named it when storing (else the kind).'),
  kind: z.enum(['observation', 'user_fact', 'summary', 'reflection']).describe('What the memory ranks as.'),
  visibility,
  related_personas: z.array(z.string()),
  groups: z.array(z.string()),
  importance_source: z.enum(['heuristic', 'llm', 'client']),
  last_accessed: isoTime,
  access_count: z.number().int(),
  conversation_id: z.string().nullable(),
  score: z.number().optional().describe('Retrieval score: relevance + importance + recency, weighted (searches only).'),
});

export function memoryToWire(memory: Memory, hit?: RecalledMemory): z.infer<typeof memoryWire> {
  return {
    id: formatMemoryId(memory.id),
    content: memory.content,
    importance: round(memory.importance, 4),
    similarity: hit ? round(hit.relevance, 4) : 0,
    created_at: toIso(memory.createdAt),
    persona_id: memory.personaId,
    memory_type: memory.label,
    kind: memory.kind,
    visibility: memory.visibility,
    related_personas: memory.sharedWith,
    groups: memory.sharedGroups,
    importance_source: memory.importanceSource,
    last_accessed: toIso(memory.lastAccessedAt),
    access_count: memory.accessCount,
    conversation_id: memory.conversationId,
    ...(hit ? { score: round(hit.score, 4) } : {}),
  };
}

export function memoryId(value: string): number {
  const id = parseMemoryId(value);
  if (id === null)
    throw new AppError('memory_not_found', `"${value}" is not a memory id; ids look like "mem_42"`, { data: { memory_id: value } });
  return id;
}

export const pruneWire = z.object({
  persona_id: z.string().nullable(),
  dry_run: z.boolean().describe('True unless force: nothing was removed.'),
  memories_before: z.number().int(),
  memories_pruned: z.number().int().describe('Removed now (0 in a dry run).'),
  would_prune: z.number().int().describe('Removed with force (or removed now, with force).'),
  memories_after: z.number().int(),
  avg_importance_pruned: z.number(),
  processing_time: z.number().describe('Seconds.'),
  recommendation: z.string(),
});

export function pruneToWire(outcome: PruneOutcome): z.infer<typeof pruneWire> {
  return {
    persona_id: outcome.personaId,
    dry_run: outcome.dryRun,
    memories_before: outcome.before,
    memories_pruned: outcome.pruned,
    would_prune: outcome.wouldPrune,
    memories_after: outcome.after,
    avg_importance_pruned: round(outcome.averageImportancePruned, 4),
    processing_time: seconds(outcome.processingMs, 4),
    recommendation: outcome.recommendation,
  };
}

export const decayStatusWire = z.object({
  status: z.enum(['started', 'already_running', 'stopped', 'not_running', 'completed']),
  message: z.string(),
  interval_hours: z.number(),
  decay_mode: z.string().describe('"background" while scheduled decay runs, else "manual".'),
  half_life_days: z.number(),
});

export const decayCycleWire = z.object({
  personas_processed: z.number().int(),
  memories_decayed: z.number().int(),
  average_decay: z.number().describe('Mean importance lost per decayed memory.'),
  processing_time: z.number().describe('Seconds.'),
});

