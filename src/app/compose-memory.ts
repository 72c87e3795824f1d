/**
 * Builds the memory feature from its parts, for the composition root (`app.ts`): the SQLite memory store and durable job
 * queue on the store's connection, the embedders, the services, and the chat-turn hooks.
 */
import type { Logger } from 'pino';
import { HashedNgramEmbedder } from '../adapters/embedders/hashed-ngram.js';
import { LlmEmbedder } from '../adapters/embedders/llm-embedder.js';
import type { Config } from '../config/schema.js';
import type { Clock } from '../ports/clock.js';
import type { JobQueue } from '../ports/jobs.js';
import type { LlmProvider } from '../ports/llm.js';
import type { MemoryStore } from '../ports/memory.js';
import type { ChatService } from '../services/chat-service.js';
import type { PersonaService } from '../services/persona-service.js';
import { MemoryEmbedders } from '../services/memory/embedders.js';
import { EMBED_JOB, EXPAND_JOB, MemoryFormation } from '../services/memory/formation.js';
import { MemoryMaintenance } from '../services/memory/maintenance.js';
import { MemoryService } from '../services/memory/memory-service.js';
import type { MemoryServices } from '../services/memory/index.js';
import { memorySettings } from './memory-settings.js';
import type { TurnAppraiser } from '../services/turn-appraiser.js';
import { MemoryFormationObserver, MemoryRecall } from '../services/memory/turn-hooks.js';

export interface MemoryFeature {
  services: MemoryServices;
  jobs: JobQueue;
  /**
   * Starts the job queue and (when configured) background decay. `jobs-elsewhere`: this thread only
   * enqueues, the jobs thread runs them; `jobs-thread`: this is that thread, which runs the queue only
   * (decay and the expansion backfill's enqueue stay with the main thread).
   */
  start(role?: MemoryRole): void;
  /** Stops decay and the job queue (waiting, bounded, for running jobs). */
  stop(): Promise<void>;
}

/** Which of the memory feature's background work runs in this thread (`MemoryFeature.start`). */
export type MemoryRole = 'all' | 'jobs-elsewhere' | 'jobs-thread';

export function composeMemory(deps: {
  /** The memory repository and the durable job queue of the store (compose-storage.ts). */
  memoryStore: MemoryStore;
  jobs: JobQueue;
  config: Config;
  personas: PersonaService;
  chat: ChatService;
  llm: LlmProvider;
  clock: Clock;
  logger: Logger;
  /** The turn's one call for all its background judgements (memory ratings with the relationship's tone). */
  appraiser?: TurnAppraiser | null;
}): MemoryFeature {
  const { config, clock, logger, llm } = deps;
  const settings = memorySettings(config.memory);
  const store = deps.memoryStore;
  const jobs = deps.jobs;
  const remote = settings.embedder === 'offline' || !llm.embed ? null : new LlmEmbedder(llm, settings.embedModel);
  const queueReembedding = (): void => {
    jobs
      .enqueue(EMBED_JOB, {}, { dedupeKey: EMBED_JOB, runAfter: clock.now() + 30_000 })
      .catch((error: unknown) => logger.warn({ err: error }, 'could not queue re-embedding'));
  };
  const embedders = new MemoryEmbedders(new HashedNgramEmbedder(), remote, logger, {
    model: { name: settings.embedModel, installed: async () => (await llm.listModels()).map((model) => model.name) },
    // Fill vectors missing from the remote embedder (new model, or memories made while it was down).
    onModelReady: queueReembedding,
  });
  const maintenance = new MemoryMaintenance({ memories: store, clock, logger, settings });
  const memories = new MemoryService({ memories: store, personas: deps.personas, embedders, maintenance, clock, logger, settings });
  const formation = new MemoryFormation({
    memories: store,
    embedders,
    maintenance,
    llm,
    jobs,
    clock,
    logger,
    settings,
    appraiser: deps.appraiser ?? null,
    persona: (id) => {
      try {
        const record = deps.personas.resolve(id);
        return { record, model: deps.chat.modelFor(record) };
      } catch {
        return null;
      }
    },
  });
  formation.register(jobs);
  deps.chat.addContributor(
    new MemoryRecall(memories, store, {
      budgetShare: settings.promptShare,
      maxLines: settings.promptMaxMemories,
      maxTokens: settings.promptMaxTokens,
      profileFacts: settings.profileMaxFacts,
      relevanceFloor: settings.relevanceFloor,
    }),
  );
  deps.chat.addObserver(new MemoryFormationObserver(jobs, formation));

  return {
    services: { memories, maintenance, formation, jobs },
    jobs,
    start(role = 'all') {
      if (role !== 'jobs-elsewhere') jobs.start();
      store.warmUp(embedders.ids).catch((error: unknown) => logger.error({ err: error }, 'could not load the memory vector index'));
      // Is the embedding model installed? (Warns once with the `ollama pull` line when it is not.)
      void embedders.checkModel();
      if (role === 'jobs-thread') return;
      if (settings.decayOnStart) maintenance.startDecay();
      // Recall terms of memories made before this build's thesaurus (e.g. right after the upgrade).
      jobs.enqueue(EXPAND_JOB, { after: 0 }, { dedupeKey: EXPAND_JOB }).catch((error: unknown) => logger.warn({ err: error }, 'could not queue the expansion backfill'));
    },
    async stop() {
      maintenance.stopDecay();
      await jobs.stop();
      // Recalls the store gathered but has not written yet (the store closes next).
      await store.flushAccess?.();
    },
  };
}
