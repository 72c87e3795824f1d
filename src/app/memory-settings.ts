/** Derives the memory services' settings from the validated config, once, at start-up. */
import type { Config } from '../config/schema.js';
import type { MemorySettings } from '../services/memory/settings.js';

export function memorySettings(config: Config['memory']): MemorySettings {
  return {
    embedder: config.embedder,
    embedModel: config.embedModel,
    recencyDecayPerHour: config.recencyDecayPerHour,
    weights: config.weights,
    decay: {
      halfLifeMs: config.importanceHalfLifeDays * 86_400_000,
      floor: config.importanceFloor,
    },
    prune: { threshold: config.pruneThreshold, minIdleMs: config.pruneMinIdleDays * 86_400_000, maxPerPersona: config.maxPerPersona },
    decayIntervalMs: config.decayIntervalHours * 3_600_000,
    decayOnStart: config.decayOnStart,
    promptShare: config.promptShare,
    promptMaxMemories: config.promptMaxMemories,
    promptMaxTokens: config.promptMaxTokens,
    profileMaxFacts: config.profileMaxFacts,
    relevanceFloor: config.relevanceFloor,
    llmImportance: config.llmImportance,
    doc2query: config.doc2query,
    formedVisibility: config.formedVisibility,
    summariseAfterMessages: config.summariseAfterMessages,
    summaryKeepRecent: config.summaryKeepRecent,
  };
}
