/**
 * The memory methods (PROTOCOL.md "Memory methods", issue 5): wire names and fields as the old server
 * had them, with real data. Conversions between records and the wire live here (and in `wire.ts`).
 */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import { formatMemoryId, isKnownLabel } from '../../domain/memory/memory.js';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodContext, type MethodDefinition } from '../registry.js';
import { isoTime, personaIdParam, round, seconds, toIso } from './wire.js';
import { isAdmin } from '../access.js';
import { userIdOf } from '../../services/social/relationship-service.js';

import { memoryType, visibility, memoryIdParam, nResults, minImportance, groupId, memoryWire, memoryToWire, memoryId, pruneWire, pruneToWire, decayStatusWire, decayCycleWire } from './memory-wire.js';

export function memoryMethods(services: Services): MethodDefinition[] {
  const { memories, maintenance } = services.memory;

  /** The persona named, else the session's active one, else null. */
  async function personaOrActive(personaId: string | undefined, context: MethodContext): Promise<string | null> {
    return (await services.target.personaOrNone(context.session, personaId))?.id ?? null;
  }

  function decayStatus(status: z.infer<typeof decayStatusWire>['status'], message: string): z.infer<typeof decayStatusWire> {
    return {
      status,
      message,
      interval_hours: maintenance.intervalHours,
      decay_mode: maintenance.isDecayRunning ? 'background' : 'manual',
      half_life_days: memories.settings.decay.halfLifeMs / 86_400_000,
    };
  }

  const searchMethod = (name: string, summary: string): MethodDefinition =>
    defineMethod({
      name,
      summary,
      requires: 'user',
      description:
        "Hybrid search (full-text BM25 + vector similarity, fused, then ranked by relevance + importance + recency) over one persona's own memories: `persona_id`, else the session's active persona, else every persona's. Results count as recalls and reinforce the memories.",
      params: z.object({
        query: z.string().max(2000),
        n_results: nResults,
        min_importance: minImportance,
        persona_id: personaIdParam.optional(),
      }),
      result: z.object({ persona_id: z.string().nullable(), memories: z.array(memoryWire), total_results: z.number().int() }),
      hints: { readOnly: false, idempotent: false },
      handler: async (params, context) => {
        const personaId = await personaOrActive(params.persona_id, context);
        const hits = await memories.search({
          query: params.query,
          limit: params.n_results,
          minImportance: params.min_importance,
          viewerId: personaId,
          userId: context.session.userId,
        });
        return { persona_id: personaId, memories: hits.map((hit) => memoryToWire(hit.memory, hit)), total_results: hits.length };
      },
    });

  return [
    searchMethod('memory.search', "Search a persona's memories by meaning and words."),
    defineMethod({
      name: 'memory.store',
      requires: 'user',
      summary: 'Store a memory for a persona (the named one, else the active one).',
      params: z.object({
        content: z.string().trim().min(1).max(4000),
        persona_id: personaIdParam.optional(),
        memory_type: memoryType.optional(),
        visibility: visibility.optional(),
        importance: z.number().min(0).max(1).optional().describe('0..1; defaults to 0.5.'),
        related_personas: z.array(personaIdParam).max(50).optional().describe('Personas a shared memory is shared with.'),
        groups: z.array(groupId).max(20).optional().describe('Persona groups (memory.group_set) a shared memory is shared with.'),
      }),
      result: z.object({ memory_id: z.string(), persona_id: z.string(), stored: z.literal(true), memory: memoryWire }),
      handler: async (params, context) => {
        const personaId = await personaOrActive(params.persona_id, context);
        if (personaId === null)
          throw new AppError('no_active_persona', 'Whose memory is it? Pass persona_id or call persona.switch first.');
        const memory = await memories.store({
          personaId,
          content: params.content,
          ...(params.memory_type ?? {}),
          ...(params.visibility !== undefined ? { visibility: params.visibility } : {}),
          ...(params.importance !== undefined ? { importance: params.importance } : {}),
          ...(params.related_personas !== undefined ? { relatedPersonas: params.related_personas } : {}),
          ...(params.groups !== undefined ? { groups: params.groups } : {}),
          userId: context.session.userId,
          sessionId: context.session.id,
        });
        return { memory_id: formatMemoryId(memory.id), persona_id: personaId, stored: true as const, memory: memoryToWire(memory) };
      },
    }),
    defineMethod({
      name: 'memory.list',
      requires: 'user',
      summary: "List what a persona remembers (newest first), or every persona's memories.",
      params: z.object({
        persona_id: personaIdParam.optional(),
        memory_type: memoryType.optional(),
        limit: z.number().int().min(1).max(500).default(50),
        offset: z.number().int().min(0).default(0),
      }),
      result: z.object({
        persona_id: z.string().nullable(),
        memories: z.array(memoryWire),
        total: z.number().int(),
        limit: z.number().int(),
        offset: z.number().int(),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async (params, context) => {
        const personaId = params.persona_id === undefined ? null : memories.personaId(params.persona_id);
        const page = await memories.list({
          userId: context.session.userId,
          ...(personaId !== null ? { personaId } : {}),
          // A kind or an old alias lists that kind; any other label lists the memories stored with it.
          ...(params.memory_type === undefined
            ? {}
            : isKnownLabel(params.memory_type.label)
              ? { kind: params.memory_type.kind }
              : { label: params.memory_type.label }),
          limit: params.limit,
          offset: params.offset,
        });
        return {
          persona_id: personaId,
          memories: page.memories.map((memory) => memoryToWire(memory)),
          total: page.total,
          limit: params.limit,
          offset: params.offset,
        };
      },
    }),
    defineMethod({
      name: 'memory.update',
      requires: 'user',
      summary: 'Edit a memory: its text, type, importance or who may see it.',
      params: z.object({
        memory_id: memoryIdParam,
        content: z.string().trim().min(1).max(4000).optional(),
        memory_type: memoryType.optional(),
        importance: z.number().min(0).max(1).optional(),
        visibility: visibility.optional(),
        related_personas: z.array(personaIdParam).max(50).optional(),
        groups: z.array(groupId).max(20).optional(),
      }),
      result: z.object({ updated: z.literal(true), memory: memoryWire }),
      hints: { idempotent: true },
      handler: async (params, context) => {
        const memory = await memories.update(
          memoryId(params.memory_id),
          {
            ...(params.content !== undefined ? { content: params.content } : {}),
            ...(params.memory_type ?? {}),
            ...(params.importance !== undefined ? { importance: params.importance } : {}),
            ...(params.visibility !== undefined ? { visibility: params.visibility } : {}),
            ...(params.related_personas !== undefined ? { relatedPersonas: params.related_personas } : {}),
            ...(params.groups !== undefined ? { groups: params.groups } : {}),
          },
          context.session.userId,
        );
        return { updated: true as const, memory: memoryToWire(memory) };
      },
    }),
    defineMethod({
      name: 'memory.delete',
      requires: 'user',
      summary: 'Delete one memory (with its vectors).',
      params: z.object({ memory_id: memoryIdParam }),
      result: z.object({ deleted: z.literal(true), memory_id: z.string() }),
      hints: { destructive: true, idempotent: false },
      handler: async ({ memory_id }, context) => {
        const id = memoryId(memory_id);
        await memories.delete(id, context.session.userId);
        return { deleted: true as const, memory_id: formatMemoryId(id) };
      },
    }),
    defineMethod({
      name: 'memory.forget',
      requires: 'user',
      summary: 'Forget by description: first shows the matching memories, then (confirm) removes them everywhere.',
      description:
        'Call with `query` to see what matches (nothing changes). Call again with `confirm: true` and the `memory_ids` you agree to: they are deleted with their vectors, summaries that quoted them are deleted too, and the chat turns they came from are never extracted again.',
      params: z.object({
        query: z.string().trim().max(2000).optional(),
        persona_id: personaIdParam.optional(),
        n_results: z.number().int().min(1).max(100).default(20),
        confirm: z.boolean().default(false),
        memory_ids: z.array(memoryIdParam).max(500).optional(),
      })
        // Either step without its input is a malformed request (-32602), not a limit reached: say what to send.
        .refine((params) => !params.confirm || (params.memory_ids?.length ?? 0) > 0, {
          path: ['memory_ids'],
          message: 'confirm: true needs memory_ids, the ids (["mem_42", …]) that memory.forget {query} showed; call it with query first',
        })
        .refine((params) => params.confirm || Boolean(params.query), {
          path: ['query'],
          message: 'describe what to forget in query ("my address"); the matches come back first, nothing is removed until confirm: true',
        }),
      result: z.object({
        forgotten: z.boolean(),
        matches: z.array(memoryWire).optional(),
        total_matches: z.number().int().optional(),
        memories_removed: z.number().int().optional(),
        summaries_removed: z.number().int().optional(),
        messages_blocked: z.number().int().optional().describe('Chat messages that will not be extracted again.'),
        message: z.string(),
      }),
      hints: { destructive: true },
      handler: async (params, context) => {
        // The params' refinements make sure of memory_ids with confirm and of query without it.
        if (params.confirm) {
          const result = await memories.forget(params.memory_ids!.map(memoryId), context.session.userId);
          return {
            forgotten: true,
            memories_removed: result.memoriesRemoved,
            summaries_removed: result.summariesRemoved,
            messages_blocked: result.messagesBlocked,
            message: `Forgot ${result.memoriesRemoved} memories and ${result.summariesRemoved} summaries that quoted them.`,
          };
        }
        const personaId = params.persona_id === undefined ? null : memories.personaId(params.persona_id);
        const hits = await memories.forgetCandidates(params.query!, personaId, params.n_results, context.session.userId);
        return {
          forgotten: false,
          matches: hits.map((hit) => memoryToWire(hit.memory, hit)),
          total_matches: hits.length,
          message:
            hits.length === 0
              ? 'Nothing matches; nothing to forget.'
              : 'Nothing was removed yet. Call memory.forget again with confirm: true and the memory_ids to forget.',
        };
      },
    }),
    defineMethod({
      name: 'memory.stats',
      requires: 'user',
      summary: 'How many memories there are, per persona and by importance, and their storage size.',
      params: z.object({}),
      result: z.object({
        total_memories: z.number().int(),
        memories_by_persona: z.record(z.string(), z.number().int()),
        importance_distribution: z
          .object({ high: z.number().int(), medium: z.number().int(), low: z.number().int() })
          .describe('high ≥ 0.7, medium 0.4–0.7, low < 0.4'),
        avg_importance: z.number(),
        storage_size_mb: z.number().describe('Text and vectors of the memories, in MiB.'),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async (_params, context) => {
        // A plain user sees figures over their own memories; an admin over everyone's.
        const stats = await memories.stats(isAdmin(context.session) ? undefined : userIdOf(context.session));
        return {
          total_memories: stats.total,
          memories_by_persona: stats.byPersona,
          importance_distribution: { high: stats.high, medium: stats.medium, low: stats.low },
          avg_importance: round(stats.averageImportance, 4),
          storage_size_mb: round(stats.storageBytes / 1_048_576, 4),
        };
      },
    }),
    defineMethod({
      name: 'memory.prune',
      requires: { owner: 'persona', param: 'persona_id' },
      summary: 'Prune faded memories (and those over the cap) of one persona or all; a dry run unless force.',
      params: z.object({ persona_id: personaIdParam.optional(), force: z.boolean().default(false) }),
      result: pruneWire,
      hints: { destructive: true },
      handler: async ({ persona_id, force }) =>
        pruneToWire(await maintenance.prune(persona_id === undefined ? null : memories.personaId(persona_id), force)),
    }),
    defineMethod({
      name: 'memory.prune_recommendations',
      requires: 'user',
      summary: 'Whether pruning is due, and what it would remove.',
      params: z.object({ persona_id: personaIdParam.optional() }),
      result: z.object({
        persona_id: z.string().nullable(),
        recommendations: z.object({
          needs_pruning: z.boolean(),
          current_count: z.number().int(),
          would_prune: z.number().int(),
          average_importance_to_prune: z.number(),
          recommendation: z.string(),
        }),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona_id }) => {
        const personaId = persona_id === undefined ? null : memories.personaId(persona_id);
        const plan = await maintenance.prune(personaId, false);
        return {
          persona_id: personaId,
          recommendations: {
            needs_pruning: plan.wouldPrune > 0,
            current_count: plan.before,
            would_prune: plan.wouldPrune,
            average_importance_to_prune: round(plan.averageImportancePruned, 4),
            recommendation: plan.recommendation,
          },
        };
      },
    }),
    defineMethod({
      name: 'memory.prune_all',
      requires: 'admin',
      summary: 'Prune every persona in turn; per-persona results. A dry run unless force.',
      params: z.object({ force: z.boolean().default(false) }),
      result: z.object({
        dry_run: z.boolean(),
        results: z.record(z.string(), pruneWire),
        personas_processed: z.number().int(),
        total_pruned: z.number().int(),
        total_would_prune: z.number().int(),
        processing_time: z.number(),
      }),
      hints: { destructive: true },
      handler: async ({ force }) => {
        const started = performance.now();
        const outcomes = await maintenance.pruneAll(force);
        const results: Record<string, z.infer<typeof pruneWire>> = {};
        for (const outcome of outcomes) results[outcome.personaId ?? ''] = pruneToWire(outcome);
        return {
          dry_run: !force,
          results,
          personas_processed: outcomes.length,
          total_pruned: outcomes.reduce((sum, outcome) => sum + outcome.pruned, 0),
          total_would_prune: outcomes.reduce((sum, outcome) => sum + outcome.wouldPrune, 0),
          processing_time: seconds(performance.now() - started, 4),
        };
      },
    }),
    defineMethod({
      name: 'memory.prune_stats',
      requires: 'admin',
      summary: 'Pruning statistics: past runs, what pruning would remove now, and the policy.',
      params: z.object({ force: z.boolean().optional().describe('Ignored (the old server accepted it).') }),
      result: z.object({
        pruning_statistics: z.object({
          total_prune_runs: z.number().int(),
          total_memories_pruned: z.number().int(),
          last_run: isoTime.nullable(),
          recent_runs: z.array(
            z.object({
              persona_id: z.string().nullable(),
              at: isoTime,
              memories_pruned: z.number().int(),
              avg_importance_pruned: z.number(),
              processing_time: z.number(),
            }),
          ),
          current_memories: z.number().int(),
          would_prune_now: z.number().int(),
        }),
        policy: z.object({ threshold: z.number(), min_idle_days: z.number(), max_per_persona: z.number().int() }),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async () => {
        const store = services.memory.memories;
        const [plan, runs] = await Promise.all([maintenance.prune(null, false), maintenance.pruneRuns(10)]);
        const totals = await maintenance.pruneTotals();
        const policy = store.settings.prune;
        return {
          pruning_statistics: {
            total_prune_runs: totals.runs,
            total_memories_pruned: totals.affected,
            last_run: runs[0] ? toIso(runs[0].startedAt) : null,
            recent_runs: runs.map((run) => ({
              persona_id: run.personaId,
              at: toIso(run.startedAt),
              memories_pruned: run.memoriesAffected,
              avg_importance_pruned: round(run.averageValue, 4),
              processing_time: seconds(run.processingMs, 4),
            })),
            current_memories: plan.before,
            would_prune_now: plan.wouldPrune,
          },
          policy: { threshold: policy.threshold, min_idle_days: policy.minIdleMs / 86_400_000, max_per_persona: policy.maxPerPersona },
        };
      },
    }),
    defineMethod({
      name: 'memory.decay_start',
      requires: 'admin',
      summary: 'Start scheduled importance decay (every memory.decayIntervalHours).',
      params: z.object({}),
      result: decayStatusWire,
      hints: { idempotent: true },
      handler: async () =>
        maintenance.startDecay()
          ? decayStatus('started', `Importance decay runs every ${maintenance.intervalHours} hours.`)
          : decayStatus('already_running', 'Importance decay was already running.'),
    }),
    defineMethod({
      name: 'memory.decay_stop',
      requires: 'admin',
      summary: 'Stop scheduled importance decay.',
      params: z.object({}),
      result: decayStatusWire,
      hints: { idempotent: true },
      handler: async () =>
        maintenance.stopDecay()
          ? decayStatus('stopped', 'Scheduled importance decay stopped.')
          : decayStatus('not_running', 'Importance decay was not running.'),
    }),
    defineMethod({
      name: 'memory.decay_force',
      requires: 'admin',
      summary: 'Run one importance decay cycle now.',
      params: z.object({}),
      result: decayStatusWire.extend({ cycle: decayCycleWire }),
      handler: async () => {
        const cycle = await maintenance.decayNow();
        return {
          ...decayStatus('completed', `Decayed ${cycle.memoriesDecayed} memories of ${cycle.personasProcessed} personas.`),
          cycle: {
            personas_processed: cycle.personasProcessed,
            memories_decayed: cycle.memoriesDecayed,
            average_decay: round(cycle.averageDecay, 6),
            processing_time: seconds(cycle.processingMs, 4),
          },
        };
      },
    }),
    defineMethod({
      name: 'memory.decay_stats',
      requires: 'admin',
      summary: 'Whether scheduled decay runs, and what the cycles did.',
      params: z.object({}),
      result: z.object({
        background_running: z.boolean(),
        interval_hours: z.number(),
        last_run: isoTime.nullable(),
        total_decay_cycles: z.number().int(),
        total_memories_decayed: z.number().int(),
        recent_cycle: decayCycleWire.nullable(),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async () => {
        const stats = await maintenance.decayStats();
        const last = stats.lastCycle;
        return {
          background_running: stats.running,
          interval_hours: maintenance.intervalHours,
          last_run: last ? toIso(last.startedAt) : null,
          total_decay_cycles: stats.cycles,
          total_memories_decayed: stats.decayed,
          recent_cycle: last
            ? {
                personas_processed: last.personasProcessed,
                memories_decayed: last.memoriesAffected,
                average_decay: round(last.averageValue, 6),
                processing_time: seconds(last.processingMs, 4),
              }
            : null,
        };
      },
    }),
    defineMethod({
      name: 'memory.search_cross_persona',
      requires: 'user',
      summary: "Search what a persona may recall: its own memories plus others' shared with it or public.",
      description: 'A persona never sees another persona\'s private memories. `source` is "own" or "cross_persona".',
      params: z.object({
        persona_id: personaIdParam,
        query: z.string().max(2000),
        n_results: nResults,
        min_importance: minImportance,
        include_shared: z.boolean().default(true),
        include_public: z.boolean().default(true),
      }),
      result: z.object({
        persona_id: z.string(),
        memories: z.array(memoryWire.extend({ source: z.enum(['own', 'cross_persona']), source_persona: z.string() })),
        total_results: z.number().int(),
      }),
      handler: async (params, context) => {
        const personaId = memories.personaId(params.persona_id);
        const hits = await memories.search({
          query: params.query,
          limit: params.n_results,
          minImportance: params.min_importance,
          viewerId: personaId,
          userId: context.session.userId,
          includeShared: params.include_shared,
          includePublic: params.include_public,
        });
        return {
          persona_id: personaId,
          memories: hits.map((hit) => ({
            ...memoryToWire(hit.memory, hit),
            source: hit.memory.personaId === personaId ? ('own' as const) : ('cross_persona' as const),
            source_persona: hit.memory.personaId,
          })),
          total_results: hits.length,
        };
      },
    }),
    defineMethod({
      name: 'memory.shared_stats',
      requires: 'user',
      summary: 'How much memory personas share.',
      params: z.object({}),
      result: z.object({
        shared_memory_statistics: z.object({
          total_personas: z.number().int().describe('Personas that have memories.'),
          shared_memories: z.number().int(),
          public_memories: z.number().int(),
          cross_references: z.number().int().describe('Share links: (shared memory, persona or group) pairs.'),
        }),
        groups: z.record(z.string(), z.array(z.string())),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async (_params, context) => {
        // A plain user sees figures over their own memories; an admin over everyone's.
        const stats = await memories.stats(isAdmin(context.session) ? undefined : userIdOf(context.session));
        return {
          shared_memory_statistics: {
            total_personas: Object.keys(stats.byPersona).length,
            shared_memories: stats.shared,
            public_memories: stats.public,
            cross_references: stats.crossReferences,
          },
          groups: await memories.groups(),
        };
      },
    }),
    defineMethod({
      name: 'memory.group_set',
      requires: 'admin',
      summary: 'Define (or redefine) a named group of personas that memories can be shared with.',
      params: z.object({ group_id: groupId, persona_ids: z.array(personaIdParam).max(100) }),
      result: z.object({ group_id: z.string(), persona_ids: z.array(z.string()) }),
      hints: { idempotent: true },
      handler: async ({ group_id, persona_ids }) => ({ group_id, persona_ids: await memories.setGroup(group_id, persona_ids) }),
    }),
  ];
}
