/**
 * Keeping memory bounded (issue 5 §4): scheduled importance decay, pruning (dry run unless forced)
 * and the hard cap per persona. The rules are pure (domain/memory/decay.ts, pruning.ts); this runs
 * them, times them and records each run for `memory.decay_stats` / `memory.prune_stats`.
 */
import type { Logger } from 'pino';
import { pruneRecommendation, selectForPruning } from '../../domain/memory/pruning.js';
import type { Clock } from '../../ports/clock.js';
import type { DecayOutcome, MaintenanceRun, MemoryStore } from '../../ports/memory.js';
import type { MemorySettings } from './settings.js';

export interface PruneOutcome {
  personaId: string | null;
  dryRun: boolean;
  before: number;
  /** Removed (0 in a dry run). */
  pruned: number;
  /** Would be (or were) removed. */
  wouldPrune: number;
  after: number;
  averageImportancePruned: number;
  processingMs: number;
  recommendation: string;
}

export interface DecayCycle extends DecayOutcome {
  startedAt: number;
  processingMs: number;
}

export class MemoryMaintenance {
  private timer: NodeJS.Timeout | null = null;
  private lastCycle: DecayCycle | null = null;

  constructor(private readonly deps: { memories: MemoryStore; clock: Clock; logger: Logger; settings: MemorySettings }) {}

  get isDecayRunning(): boolean {
    return this.timer !== null;
  }

  get intervalHours(): number {
    return this.deps.settings.decayIntervalMs / 3_600_000;
  }

  /** Starts background decay every `decayIntervalMs`; false when it was already running. */
  startDecay(): boolean {
    if (this.timer !== null) return false;
    this.timer = setInterval(() => {
      this.decayNow().catch((error: unknown) => this.deps.logger.error({ err: error }, 'memory decay failed'));
    }, this.deps.settings.decayIntervalMs);
    this.timer.unref();
    return true;
  }

  /** Stops background decay; false when it was not running. */
  stopDecay(): boolean {
    if (this.timer === null) return false;
    clearInterval(this.timer);
    this.timer = null;
    return true;
  }

  async decayNow(): Promise<DecayCycle> {
    const { memories, clock, settings } = this.deps;
    const startedAt = clock.now();
    const started = performance.now();
    const outcome = await memories.applyDecay(startedAt, settings.decay);
    const processingMs = performance.now() - started;
    await memories.recordRun({
      kind: 'decay',
      personaId: null,
      startedAt,
      processingMs,
      personasProcessed: outcome.personasProcessed,
      memoriesAffected: outcome.memoriesDecayed,
      averageValue: outcome.averageDecay,
    });
    this.lastCycle = { ...outcome, startedAt, processingMs };
    return this.lastCycle;
  }

  async decayStats(): Promise<{ running: boolean; lastCycle: MaintenanceRun | null; cycles: number; decayed: number }> {
    const { memories } = this.deps;
    const [last] = await memories.runs('decay', 1);
    const totals = await memories.runTotals('decay');
    return { running: this.isDecayRunning, lastCycle: last ?? null, cycles: totals.runs, decayed: totals.affected };
  }

  async pruneRuns(limit: number): Promise<MaintenanceRun[]> {
    return this.deps.memories.runs('prune', limit);
  }

  async pruneTotals(): Promise<{ runs: number; affected: number }> {
    return this.deps.memories.runTotals('prune');
  }

  /** Prunes one persona (or, with null, each persona in turn) — only a plan unless `force`. */
  async prune(personaId: string | null, force: boolean): Promise<PruneOutcome> {
    const personas = personaId === null ? await this.deps.memories.personaIdsWithMemories() : [personaId];
    const started = performance.now();
    const outcomes = [];
    for (const persona of personas) outcomes.push(await this.prunePersona(persona, force));
    const before = outcomes.reduce((sum, outcome) => sum + outcome.before, 0);
    const wouldPrune = outcomes.reduce((sum, outcome) => sum + outcome.wouldPrune, 0);
    const importanceSum = outcomes.reduce((sum, outcome) => sum + outcome.averageImportancePruned * outcome.wouldPrune, 0);
    const pruned = force ? wouldPrune : 0;
    return {
      personaId,
      dryRun: !force,
      before,
      pruned,
      wouldPrune,
      after: before - pruned,
      averageImportancePruned: wouldPrune === 0 ? 0 : importanceSum / wouldPrune,
      processingMs: performance.now() - started,
      recommendation: pruneRecommendation(before, wouldPrune, this.deps.settings.prune),
    };
  }

  /** Per-persona outcomes for every persona with memories. */
  async pruneAll(force: boolean): Promise<PruneOutcome[]> {
    const outcomes = [];
    for (const persona of await this.deps.memories.personaIdsWithMemories()) outcomes.push(await this.prunePersona(persona, force));
    return outcomes;
  }

  /** Applies the hard cap (and the faded rule) to one persona when it is over the cap. */
  async enforceCap(personaId: string): Promise<number> {
    if ((await this.deps.memories.countFor(personaId)) <= this.deps.settings.prune.maxPerPersona) return 0;
    return (await this.prunePersona(personaId, true)).pruned;
  }

  private async prunePersona(personaId: string, force: boolean): Promise<PruneOutcome> {
    const { memories, clock, settings } = this.deps;
    const startedAt = clock.now();
    const started = performance.now();
    const candidates = await memories.pruneCandidates(personaId);
    const ids = selectForPruning(candidates, startedAt, settings.prune);
    const chosen = new Set(ids);
    const importance = candidates.filter((memory) => chosen.has(memory.id)).reduce((sum, memory) => sum + memory.importance, 0);
    const average = ids.length === 0 ? 0 : importance / ids.length;
    const pruned = force ? await memories.delete(ids) : 0;
    const processingMs = performance.now() - started;
    if (force) {
      await memories.recordRun({
        kind: 'prune',
        personaId,
        startedAt,
        processingMs,
        personasProcessed: 1,
        memoriesAffected: pruned,
        averageValue: average,
      });
      if (pruned > 0) this.deps.logger.info({ personaId, pruned }, 'pruned memories');
    }
    return {
      personaId,
      dryRun: !force,
      before: candidates.length,
      pruned,
      wouldPrune: ids.length,
      after: candidates.length - pruned,
      averageImportancePruned: average,
      processingMs,
      recommendation: pruneRecommendation(candidates.length, ids.length, settings.prune),
    };
  }
}
