/**
 * Relationships as use cases: read a persona's view of another persona or a user (a stranger when
 * none is stored), apply an interaction (pure rules in `domain/social/relationship.ts`, one
 * transaction for the figures and the timeline), list, history, statistics and compatibility.
 */
import { compatibility, interactionSuggestions, type CompatibilityResult } from '../../domain/social/compatibility.js';
import {
  applyInteraction,
  intimacy,
  newRelationship,
  relationshipLabel,
  relationshipStrength,
  type OtherKind,
  type RelationshipLabel,
} from '../../domain/social/relationship.js';
import type { Clock } from '../../ports/clock.js';
import type { JobCompletion } from '../../ports/jobs.js';
import type {
  InteractionEvent,
  InteractionSource,
  RelationshipEventRecord,
  RelationshipChange,
  RelationshipKey,
  RelationshipRecord,
  SocialStore,
} from '../../ports/social-store.js';
import type { PersonaRecord } from '../../ports/store.js';
import type { SessionBinding } from '../session-binding.js';

/** The anonymous local user's id in relationships (sessions without a user id). */
export const LOCAL_USER_ID = 'local';

/** Whom a session speaks for in relationships: its user id, else the local user. */
export function userIdOf(binding: SessionBinding): string {
  return binding.userId ?? LOCAL_USER_ID;
}

export interface RelationshipView extends RelationshipRecord {
  label: RelationshipLabel;
  intimacy: number;
  strength: number;
  /** Persona ↔ persona only: compatibility of the two characters, 0..100; null for users. */
  compatibilityScore: number | null;
  /** Whether it was stored (false: a stranger, never met). */
  exists: boolean;
}

export interface InteractionInput extends RelationshipKey {
  quality: number;
  durationMs: number;
  source: InteractionSource;
  conversationId: string | null;
  context: string | null;
  now?: number;
  /** The message whose exchange this is (`InteractionEvent.messageId`): an exchange counts once, however often it is recorded. */
  messageId?: number;
}

export interface RelationshipStatistics {
  total: number;
  personaPairs: number;
  withUsers: number;
  byLabel: Record<RelationshipLabel, number>;
  averageAffinity: number;
  averageTrust: number;
  totalInteractions: number;
  strongest: RelationshipView | null;
}

/** Relationships kept in memory at most (a chat turn reads one; the least recently read is forgotten first). */
export const KEPT_RELATIONSHIPS = 4_096;

export class RelationshipService {
  /**
   * Stored relationships (null: none stored), read through: every chat turn's prompt reads the persona's
   * relationship with the person, and this service writes every change (`recordInteraction`); imports and
   * deleted personas make it read the store again (`forget`), and so do other writers' changes the store
   * reports (`relationshipsChangedElsewhere`: a jobs worker thread, another process on the SQLite file).
   * Not kept when other nodes share the store.
   */
  private readonly kept = new Map<string, RelationshipRecord | null>();
  /** Counts writes and forgets: a read that a write overtook does not keep what it read. */
  private changes = 0;

  constructor(
    private readonly store: SocialStore,
    private readonly clock: Clock,
    /** Finds a persona by id for compatibility figures (null when deleted). */
    private readonly findPersona: (id: string) => PersonaRecord | null,
    private readonly options: { sharedStore?: boolean } = {},
  ) {}

  async get(key: RelationshipKey): Promise<RelationshipView> {
    this.followElsewhere();
    const id = keyOf(key);
    let stored = this.kept.get(id);
    if (stored === undefined) {
      const changes = this.changes;
      stored = await this.store.getRelationship(key);
      if (changes === this.changes) this.keep(id, stored);
    } else {
      // most recently read last, so the first key is the one to forget
      this.kept.delete(id);
      this.kept.set(id, stored);
    }
    return this.view(stored ?? { ...key, ...newRelationship() }, stored !== null);
  }

  /** Drops the kept relationships other writers changed (read again when next asked for). */
  private followElsewhere(): void {
    const changed = this.store.relationshipsChangedElsewhere?.() ?? null;
    if (changed === null) return;
    this.changes++;
    if (changed === 'all') this.kept.clear();
    else for (const key of changed) this.kept.delete(keyOf(key));
  }

  /** Drops kept relationships after something else wrote them (a state import, a persona deleted). */
  forget(): void {
    this.changes++;
    this.kept.clear();
  }

  private keep(id: string, record: RelationshipRecord | null): void {
    if (this.options.sharedStore === true) return;
    if (!this.kept.has(id) && this.kept.size >= KEPT_RELATIONSHIPS) this.kept.delete(this.kept.keys().next().value as string);
    this.kept.set(id, record);
  }

  /**
   * Relationships of one persona, or of all. With `viewer` (a plain user's id), relationships with
   * other users are left out: a user sees the personas' relationships with each other and with them.
   */
  async list(subjectId?: string, viewer?: string): Promise<RelationshipView[]> {
    const records = await this.store.listRelationships(subjectId);
    return records
      .filter((record) => viewer === undefined || record.otherKind !== 'user' || record.otherId === viewer)
      .map((record) => this.view(record, true));
  }

  /** Applies one interaction and records it on the timeline; returns the updated view. `completes`: the job whose write this is (ports/jobs.ts). */
  async recordInteraction(input: InteractionInput, completes?: JobCompletion): Promise<{ relationship: RelationshipView; event: RelationshipEventRecord }> {
    const change = this.changeFor(input);
    const event = await this.store.recordInteraction(change.relationship, change.event, completes);
    return await this.recorded(change, event);
  }

  /**
   * Several interactions in order, in one transaction of the store when it can (a batch of relationship
   * jobs: one commit instead of one each); each its own outcome, a failed one leaving the others recorded.
   */
  async recordInteractions(inputs: readonly InteractionInput[]): Promise<Array<PromiseSettledResult<{ relationship: RelationshipView; event: RelationshipEventRecord }>>> {
    const changes = inputs.map((input) => this.changeFor(input));
    if (this.store.recordInteractions === undefined) {
      const outcomes: Array<PromiseSettledResult<{ relationship: RelationshipView; event: RelationshipEventRecord }>> = [];
      for (const change of changes) {
        try {
          outcomes.push({ status: 'fulfilled', value: await this.recorded(change, await this.store.recordInteraction(change.relationship, change.event)) });
        } catch (error) {
          outcomes.push({ status: 'rejected', reason: error });
        }
      }
      return outcomes;
    }
    const events = await this.store.recordInteractions(changes);
    // In order: a later interaction with the same relationship was applied on top of an earlier one.
    const outcomes: Array<PromiseSettledResult<{ relationship: RelationshipView; event: RelationshipEventRecord }>> = [];
    for (const [index, outcome] of events.entries()) {
      if (outcome.status === 'rejected') {
        outcomes.push(outcome);
        continue;
      }
      try {
        outcomes.push({ status: 'fulfilled', value: await this.recorded(changes[index]!, outcome.value) });
      } catch (error) {
        outcomes.push({ status: 'rejected', reason: error });
      }
    }
    return outcomes;
  }

  /** An interaction as the store applies it (to the relationship it holds then: interactions recorded on several nodes at once all count). */
  private changeFor(input: InteractionInput): {
    id: string;
    relationship: RelationshipChange;
    event: InteractionEvent;
    applied: () => RelationshipRecord | null;
  } {
    const key: RelationshipKey = { subjectId: input.subjectId, otherKind: input.otherKind, otherId: input.otherId };
    const interaction = { quality: input.quality, durationMs: input.durationMs, now: input.now ?? this.clock.now() };
    let record: RelationshipRecord | null = null;
    const apply = (stored: RelationshipRecord | null): RelationshipRecord => {
      record = { ...key, ...applyInteraction(stored ?? { ...key, ...newRelationship() }, interaction) };
      return record;
    };
    const id = keyOf(key);
    this.changes++;
    this.kept.delete(id);
    return {
      id,
      relationship: { key, apply },
      event: {
        quality: Math.max(-1, Math.min(1, input.quality)),
        source: input.source,
        conversationId: input.conversationId,
        context: input.context,
        ...(input.messageId === undefined ? {} : { messageId: input.messageId }),
      },
      applied: () => record,
    };
  }

  /**
   * Keeps what the store now holds (it applied the change to its row, inside its transaction) and gives its
   * view. A change the store did not apply was an exchange recorded before (a job run again after a crash):
   * the relationship is as the store holds it, read again.
   */
  private async recorded(change: ReturnType<RelationshipService['changeFor']>, event: RelationshipEventRecord): Promise<{ relationship: RelationshipView; event: RelationshipEventRecord }> {
    const record = change.applied();
    if (record === null) {
      if (change.event.messageId === undefined) throw new Error('the store recorded an interaction without applying it');
      const stored = await this.store.getRelationship(change.relationship.key);
      return { relationship: this.view(stored ?? { ...change.relationship.key, ...newRelationship() }, stored !== null), event };
    }
    this.changes++;
    this.keep(change.id, record);
    return { relationship: this.view(record, true), event };
  }

  /** Both directions of one persona ↔ persona interaction, each with its own quality. */
  async recordMutual(
    first: string,
    second: string,
    qualities: { firstTowardsSecond: number; secondTowardsFirst: number },
    common: Omit<InteractionInput, 'subjectId' | 'otherKind' | 'otherId' | 'quality'>,
  ): Promise<void> {
    await this.recordInteraction({
      ...common,
      subjectId: first,
      otherKind: 'persona',
      otherId: second,
      quality: qualities.firstTowardsSecond,
    });
    await this.recordInteraction({
      ...common,
      subjectId: second,
      otherKind: 'persona',
      otherId: first,
      quality: qualities.secondTowardsFirst,
    });
  }

  history(key: RelationshipKey, options: { limit: number; beforeId?: number }): Promise<RelationshipEventRecord[]> {
    return this.store.relationshipHistory(key, options);
  }

  compatibility(first: PersonaRecord, second: PersonaRecord): { result: CompatibilityResult; suggestions: string[] } {
    return { result: compatibility(first, second), suggestions: interactionSuggestions(first, second) };
  }

  /** Figures over every relationship, or over those `viewer` may see (see `list`). */
  async statistics(viewer?: string): Promise<RelationshipStatistics> {
    const all = await this.list(undefined, viewer);
    const byLabel: Record<RelationshipLabel, number> = { stranger: 0, acquaintance: 0, friend: 0, close_friend: 0, rival: 0, enemy: 0 };
    for (const view of all) byLabel[view.label] += 1;
    const mean = (values: number[]): number =>
      values.length === 0 ? 0 : Math.round((values.reduce((a, b) => a + b, 0) / values.length) * 10_000) / 10_000;
    const strongest = all.reduce<RelationshipView | null>(
      (best, view) => (best === null || view.strength > best.strength ? view : best),
      null,
    );
    return {
      total: all.length,
      personaPairs: all.filter((view) => view.otherKind === 'persona').length,
      withUsers: all.filter((view) => view.otherKind === 'user').length,
      byLabel,
      averageAffinity: mean(all.map((view) => view.affinity)),
      averageTrust: mean(all.map((view) => view.trust)),
      totalInteractions: all.reduce((sum, view) => sum + view.interactionCount, 0),
      strongest,
    };
  }

  private view(record: RelationshipRecord, exists: boolean): RelationshipView {
    let compatibilityScore: number | null = null;
    if (record.otherKind === 'persona') {
      const subject = this.findPersona(record.subjectId);
      const other = this.findPersona(record.otherId);
      if (subject !== null && other !== null) compatibilityScore = compatibility(subject, other).score;
    }
    return {
      ...record,
      label: relationshipLabel(record),
      intimacy: intimacy(record),
      strength: relationshipStrength(record),
      compatibilityScore,
      exists,
    };
  }
}

export type { OtherKind };

/** A relationship's key as one string (ids hold no NUL). */
function keyOf(key: RelationshipKey): string {
  return `${key.subjectId}\u0000${key.otherKind}\u0000${key.otherId}`;
}
