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
import { EMBED_JOB, MemoryFormation } from '../services/memory/formation.js';
import { MemoryMaintenance } from '../services/memory/maintenance.js';
import { MemoryService } from '../services/memory/memory-service.js';
import type { MemoryServices } from '../services/memory/index.js';
import { memorySettings } from './memory-settings.js';
import { MemoryFormationObserver, MemoryRecall } from '../services/memory/turn-hooks.js';

export interface MemoryFeature {
  services: MemoryServices;
  jobs: JobQueue;
  /** Starts the job queue and (when configured) background decay. */
  start(): void;
  /** Stops decay and the job queue (waiting, bounded, for running jobs). */
  stop(): Promise<void>;
}

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
}): MemoryFeature {
  const { config, clock, logger, llm } = deps;
  const settings = memorySettings(config.memory);
  const store = deps.memoryStore;
  const jobs = deps.jobs;
  const remote = settings.embedder === 'offline' || !llm.embed ? null : new LlmEmbedder(llm, settings.embedModel);
  const embedders = new MemoryEmbedders(new HashedNgramEmbedder(), remote, logger);
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
  deps.chat.addContributor(new MemoryRecall(memories, store, settings.promptShare, settings.promptMaxMemories));
  deps.chat.addObserver(new MemoryFormationObserver(jobs, formation));

  return {
    services: { memories, maintenance, formation, jobs },
    jobs,
    start() {
      jobs.start();
      store.warmUp(embedders.ids).catch((error: unknown) => logger.error({ err: error }, 'could not load the memory vector index'));
      if (settings.decayOnStart) maintenance.startDecay();
      // Fill vectors missing from the remote embedder (new model, or memories made while it was down).
      if (remote !== null)
        jobs
          .enqueue(EMBED_JOB, {}, { dedupeKey: EMBED_JOB, runAfter: clock.now() + 30_000 })
          .catch((error: unknown) => logger.warn({ err: error }, 'could not queue re-embedding'));
    },
    async stop() {
      maintenance.stopDecay();
      await jobs.stop();
    },
  };
}
