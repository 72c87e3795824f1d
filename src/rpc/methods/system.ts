/** System methods: server status and the LLM backend's models. */
import { z } from 'zod';
import { isAppError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { round } from './wire.js';

import { SERVER_VERSION } from '../../version.js';

export { SERVER_VERSION };

export function systemMethods(services: Services): MethodDefinition[] {
  const { system, personas, chat } = services;

  return [
    defineMethod({
      name: 'system.status',
      requires: 'user',
      summary: 'Server health: uptime, connections, requests, memory, database and LLM backend (with its queue).',
      params: z.object({}),
      result: z.object({
        status: z.enum(['ok', 'degraded']).describe('"degraded" when the database or the LLM backend is unavailable.'),
        version: z.string(),
        uptime_seconds: z.number(),
        active_connections: z.number().int(),
        total_requests: z.number().int(),
        failed_requests: z.number().int(),
        avg_response_time: z.number().describe('Mean request handling time in seconds.'),
        memory_usage_mb: z.number(),
        ollama_status: z.enum(['available', 'unavailable']),
        llm: z.object({
          provider: z.string(),
          endpoint: z.string(),
          reachable: z.boolean(),
          error: z.string().nullable(),
          default_model: z.string(),
          queue: z
            .object({
              running: z.number().int(),
              queued: z.number().int(),
              concurrency: z.number().int(),
              max_queued: z.number().int(),
              preempted: z
                .number()
                .int()
                .describe('Background calls (memory ratings, summaries, judgements) this node aborted so far to give their slot to a chat a person waits for; each runs again from the start.'),
              cluster: z
                .object({ running: z.number().int(), queued: z.number().int() })
                .nullable()
                .describe('With several nodes (Redis): chats running and waiting on every node, against which concurrency and max_queued hold; null on one node.'),
            })
            .nullable()
            .describe("The default backend's queue (every backend's own queue is in system.models)."),
        }),
        jobs: z
          .object({
            pending: z.number().int(),
            due: z.number().int().describe('Pending jobs that may run now (not scheduled for later).'),
            running: z.number().int(),
            failed: z.number().int(),
          })
          .nullable()
          .describe('The durable job queue of post-turn work (memories, relationships, summaries).'),
        database: z.object({
          ok: z.boolean(),
          path: z.string(),
          size_mb: z.number(),
          error: z.string().nullable(),
          vectors: z
            .object({
              index: z.enum(['in_memory']).describe('"in_memory": vectors are stored in the database; each node searches its own in-memory approximate index of them.'),
              pgvector: z
                .enum(['installed', 'available', 'absent'])
                .nullable()
                .describe("PostgreSQL's pgvector extension on the server (null on SQLite); reported only, the in-memory index is used either way."),
            })
            .nullable()
            .describe('How memory vectors are kept and searched (null when the database cannot be reached).'),
        }),
        personas: z.number().int(),
        memory: z
          .object({
            embedder: z.string().describe('The embedder answering memory queries now (e.g. "hashed-ngram-v1@256" offline, "ollama:nomic-embed-text").'),
            embed_model: z.string().nullable().describe('memory.embedModel (null with memory.embedder "offline").'),
            embed_model_status: z
              .enum(['none', 'unchecked', 'installed', 'missing', 'unreachable'])
              .describe('"missing": not installed in Ollama (`ollama pull <embed_model>`); the offline embedder answers meanwhile.'),
            vector_index: z.array(z.object({ embedder: z.string(), vectors: z.number().int(), loading: z.boolean() })),
          })
          .describe('Long-term memory: which embedder answers, and the vector index (searches never wait for it to load).'),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async () => {
        const status = await system.status();
        return {
          status: status.llm.reachable && status.database.ok ? ('ok' as const) : ('degraded' as const),
          version: SERVER_VERSION,
          uptime_seconds: round(status.uptimeMs / 1000, 1),
          active_connections: status.stats.activeConnections,
          total_requests: status.stats.totalRequests,
          failed_requests: status.stats.failedRequests,
          avg_response_time: round(status.stats.averageDurationMs / 1000, 6),
          memory_usage_mb: round(status.memoryRssBytes / 1_048_576, 1),
          ollama_status: status.llm.reachable ? ('available' as const) : ('unavailable' as const),
          llm: {
            provider: status.llm.provider,
            endpoint: status.llm.endpoint,
            reachable: status.llm.reachable,
            error: status.llm.error ?? null,
            default_model: chat.defaultModel,
            queue:
              status.queue === null
                ? null
                : {
                    running: status.queue.running,
                    queued: status.queue.queued,
                    concurrency: status.queue.concurrency,
                    max_queued: status.queue.maxQueued,
                    preempted: status.queue.preempted,
                    cluster: status.queue.cluster ?? null,
                  },
          },
          jobs: status.jobs === null ? null : { pending: status.jobs.pending, due: status.jobs.due, running: status.jobs.running, failed: status.jobs.failed },
          database: {
            ok: status.database.ok,
            path: status.database.path,
            size_mb: round(status.database.sizeBytes / 1_048_576, 3),
            error: status.database.error ?? null,
            vectors: status.database.vectors === undefined ? null : { index: 'in_memory' as const, pgvector: status.database.vectors.pgvector },
          },
          personas: personas.list().length,
          memory: (() => {
            const memory = services.memory.memories.status();
            return { embedder: memory.embedder, embed_model: memory.embedModel, embed_model_status: memory.embedModelState, vector_index: memory.index };
          })(),
        };
      },
    }),

    defineMethod({
      name: 'system.models',
      requires: 'user',
      summary: "Every LLM backend's models, which persona or task uses each, and whether each backend is reachable and has the model.",
      description:
        '`backends` lists each configured backend (ollama, openai, host and the named ones in llm.backends) with its models; a model ' +
        'a persona or task names but the backend lacks is listed with `pulled: false`. The top-level `models` are the default ' +
        "backend's (kept for older clients).",
      params: z.object({}),
      result: z.object({
        ollama_status: z.enum(['available', 'unavailable']).describe('Whether the default backend answered.'),
        error: z.string().nullable().describe('Why the model list is unavailable, and what to do.'),
        default_model: z.string(),
        models: z.array(
          z.object({
            name: z.string(),
            size_bytes: z.number().nullable(),
            family: z.string().nullable(),
            parameter_size: z.string().nullable(),
            modified_at: z.string().nullable(),
          }),
        ),
        persona_models: z.array(z.object({ persona_id: z.string(), name: z.string(), model: z.string(), installed: z.boolean().nullable() })),
        backends: z.array(
          z.object({
            name: z.string(),
            kind: z.enum(['ollama', 'openai', 'host']),
            endpoint: z.string(),
            is_default: z.boolean(),
            reachable: z.boolean(),
            error: z.string().nullable(),
            queue: z.object({ running: z.number().int(), queued: z.number().int(), concurrency: z.number().int(), max_queued: z.number().int() }),
            models: z.array(
              z.object({
                name: z.string(),
                ref: z.string().describe('`backend:model`, usable wherever a model is named.'),
                pulled: z.boolean().nullable().describe('Whether the backend has it (null: cannot tell).'),
                size_bytes: z.number().nullable(),
                family: z.string().nullable(),
                parameter_size: z.string().nullable(),
                context_tokens: z.number().int(),
                used_by: z.array(z.object({ persona_id: z.string().nullable(), task: z.string() })).describe('Personas (task `chat`) and tasks using it.'),
              }),
            ),
          }),
        ),
        tasks: z.record(z.string(), z.string()).describe('The model of each task that has its own (summary, importance, relationship, embeddings).'),
        fallback: z.array(z.string()).describe('llm.fallback, in order.'),
      }),
      hints: { readOnly: true, idempotent: true, openWorld: true },
      handler: async (_params, context) => {
        const personaModels = personas.list().map((persona) => ({ persona, reference: chat.modelFor(persona) }));
        const backends = await system.models(
          personaModels.map(({ persona, reference }) => ({ personaId: persona.id, reference })),
          context.signal,
        );
        const primary = backends.find((backend) => backend.isDefault);
        let defaultModels: Awaited<ReturnType<typeof system.listModels>> | null = null;
        let error: string | null = null;
        if (primary !== undefined) {
          defaultModels = primary.reachable ? primary.models.filter((model) => model.pulled === true) : null;
          error = primary.error;
        } else {
          try {
            defaultModels = await system.listModels(context.signal);
          } catch (caught) {
            if (!isAppError(caught)) throw caught;
            error = caught.message;
          }
        }
        return {
          ollama_status: defaultModels === null ? ('unavailable' as const) : ('available' as const),
          error,
          default_model: chat.defaultModel,
          models: (defaultModels ?? []).map((model) => ({
            name: model.name,
            size_bytes: model.sizeBytes,
            family: model.family,
            parameter_size: model.parameterSize,
            modified_at: model.modifiedAt,
          })),
          persona_models: personaModels.map(({ persona, reference }) => ({
            persona_id: persona.id,
            name: persona.name,
            model: reference,
            installed: system.isPulled(backends, reference),
          })),
          backends: backends.map((backend) => ({
            name: backend.name,
            kind: backend.kind,
            endpoint: backend.endpoint,
            is_default: backend.isDefault,
            reachable: backend.reachable,
            error: backend.error,
            queue: { running: backend.queue.running, queued: backend.queue.queued, concurrency: backend.queue.concurrency, max_queued: backend.queue.maxQueued },
            models: backend.models.map((model) => ({
              name: model.name,
              ref: model.ref,
              pulled: model.pulled,
              size_bytes: model.sizeBytes,
              family: model.family,
              parameter_size: model.parameterSize,
              context_tokens: model.contextTokens,
              used_by: model.usedBy.map((usage) => ({ persona_id: usage.personaId, task: usage.task })),
            })),
          })),
          tasks: system.taskModels(),
          fallback: [...system.fallbackChain()],
        };
      },
    }),
  ];
}
