/** The memory settings the services use, derived once from the validated config. */
import type { Config } from '../../config/schema.js';
import type { DecayPolicy } from '../../domain/memory/decay.js';
import type { MemoryVisibility } from '../../domain/memory/memory.js';
import type { PrunePolicy } from '../../domain/memory/pruning.js';
import type { ScoreWeights } from '../../domain/memory/scoring.js';

export interface MemorySettings {
  embedder: 'auto' | 'offline' | 'ollama';
  embedModel: string;
  recencyDecayPerHour: number;
  weights: ScoreWeights;
  decay: DecayPolicy;
  prune: PrunePolicy;
  decayIntervalMs: number;
  decayOnStart: boolean;
  promptShare: number;
  promptMaxMemories: number;
  promptMaxTokens: number;
  profileMaxFacts: number;
  relevanceFloor: number;
  llmImportance: boolean;
  doc2query: boolean;
  formedVisibility: MemoryVisibility;
  summariseAfterMessages: number;
  summaryKeepRecent: number;
}

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
