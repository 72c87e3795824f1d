/** The memory settings the services use (derived once from the validated config in `src/app/memory-settings.ts`). */
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
