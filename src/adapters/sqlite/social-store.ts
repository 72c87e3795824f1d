/**
 * The `SocialStore` port on the SQLite connection the main store opened (`SqliteStore.database`):
 * one connection per process keeps WAL writes serialised in one place. Composite writes run in one
 * IMMEDIATE transaction; SQLite errors become AppErrors in `read`, as in the main store.
 */
import type { MoodState } from '../../domain/social/mood.js';
import type { JobCompletion } from '../../ports/jobs.js';
import { countsAfterFilings, lastFilingOfEachThread } from '../../domain/social/topic-threads.js';
import type {
  GroupMemberRecord,
  GroupRecord,
  GroupStatus,
  InteractionEvent,
  MoodChange,
  MoodEventInput,
  MoodEventRecord,
  RelationshipChange,
  RelationshipEventRecord,
  RelationshipKey,
  RelationshipRecord,
  SocialStore,
  SpeakerFigures,
  ThreadFiling,
  ThreadRecord,
} from '../../ports/social-store.js';
import { toGroup, toMember, toMoodEvent, toRelationship, toRelationshipEvent, toThread } from './social-rows.js';
import { afterReplyWriteKind } from '../after-reply-scope.js';
import { copiedMark, nextCopiedMark } from './copied-marks.js';
import type { Database } from './database.js';
import { translateSqliteError } from './errors.js';
import { ConnectionFollow } from './connection-follow.js';
import { completingTransaction, immediateTransaction, jointWrite } from './transactions.js';
import { writeBatch, type WriteLink } from './write-batch.js';
import {
  prepareSocialStatements,
  type RelationshipRow,
  type SocialStatements,
} from './social-statements.js';

/** Relationships named to the service at most per call; past this it is told 'all' (an import, a persona deleted). */
const CHANGED_NAMED_MAX = 1_000;

export class SqliteSocialStore implements SocialStore {
  private readonly sql: SocialStatements;
  private readonly follow: ConnectionFollow;
  /** Other connections' changed relationships not yet asked for (`relationshipsChangedElsewhere`). */
  private changedElsewhere: RelationshipKey[] | 'all' = [];

  /** `db` must already be migrated (to version 4 or later). */
  constructor(
    private readonly db: Database,
    private readonly path: string = db.name,
  ) {
    try {
      this.sql = prepareSocialStatements(db);
      this.follow = ConnectionFollow.of(db);
    } catch (error) {
      throw translateSqliteError(error, path);
    }
    this.follow.follow('relationships', {
      apply: (rows) => {
        if (this.changedElsewhere === 'all') return;
        if (this.changedElsewhere.length + rows.length > CHANGED_NAMED_MAX) this.changedElsewhere = 'all';
        else for (const row of rows) this.changedElsewhere.push({ subjectId: row.subject_id, otherKind: row.other_kind, otherId: row.other_id });
      },
      lost: () => {
        this.changedElsewhere = 'all';
      },
    });
  }

  relationshipsChangedElsewhere(): readonly RelationshipKey[] | 'all' | null {
    this.follow.check();
    const changed = this.changedElsewhere;
    if (changed !== 'all' && changed.length === 0) return null;
    this.changedElsewhere = [];
    return changed;
  }

  // relationships

  getRelationship(key: RelationshipKey): Promise<RelationshipRecord | null> {
    return this.read(() => {
      const row = this.sql.getRelationship.get(keyParams(key));
      return row === undefined ? null : toRelationship(row);
    });
  }

  listRelationships(subjectId?: string): Promise<RelationshipRecord[]> {
    return this.read(() =>
      (subjectId === undefined ? this.sql.listRelationships.all() : this.sql.listRelationshipsOf.all(subjectId)).map(toRelationship),
    );
  }

  recordInteraction(change: RelationshipRecord | RelationshipChange, event: InteractionEvent, completes?: JobCompletion): Promise<RelationshipEventRecord> {
    // A relationship job's write waits for its claim's other writes (a turn's memory formation) and commits with them.
    const joint = jointWrite(this.db, [completes], { write: () => this.writeInteraction(change, event), committed() {}, rolledBack() {} });
    if (joint !== undefined)
      return joint.catch((error: unknown): never => {
        throw translateSqliteError(error, this.path);
      });
    return this.read(() => completingTransaction(this.db, () => this.writeInteraction(change, event), [completes]));
  }

  recordInteractions(
    entries: ReadonlyArray<{
      relationship: RelationshipRecord | RelationshipChange;
      event: InteractionEvent;
      completes?: JobCompletion;
    }>,
  ): Promise<Array<PromiseSettledResult<RelationshipEventRecord>>> {
    // Each in a savepoint of its own (the wrapper nests): one that throws is rolled back alone; the jobs of
    // those written complete with them.
    return this.read(() =>
      completingTransaction(
        this.db,
        () =>
          entries.map(({ relationship, event }): PromiseSettledResult<RelationshipEventRecord> => {
            try {
              return { status: 'fulfilled', value: immediateTransaction(this.db)(() => this.writeInteraction(relationship, event)) };
            } catch (error) {
              return { status: 'rejected', reason: translateSqliteError(error, this.path) };
            }
          }),
        (outcomes) => entries.map((entry, index) => (outcomes[index]!.status === 'fulfilled' ? entry.completes : undefined)),
      ),
    );
  }

  /** Inside a write transaction: one interaction's relationship figures and timeline event (none when its exchange was recorded already). */
  private writeInteraction(change: RelationshipRecord | RelationshipChange, event: InteractionEvent): RelationshipEventRecord {
    // Inside the write transaction: SQLite's single writer keeps the row unchanged between read and write.
    if (event.messageId !== undefined) {
      const recorded = this.sql.exchangeEvent.get({ ...keyParams('apply' in change ? change.key : change), message_id: event.messageId });
      if (recorded !== undefined) return toRelationshipEvent(recorded);
    }
    let relationship: RelationshipRecord;
    if ('apply' in change) {
      const stored = this.sql.getRelationship.get(keyParams(change.key));
      relationship = change.apply(stored === undefined ? null : toRelationship(stored));
    } else {
      relationship = change;
    }
    this.sql.upsertRelationship.run(relationshipParams(relationship));
    const row = this.sql.insertRelationshipEvent.get({
      ...keyParams(relationship),
      at: relationship.lastInteraction ?? 0,
      quality: event.quality,
      source: event.source,
      conversation_id: event.conversationId,
      context: event.context,
      affinity: relationship.affinity,
      trust: relationship.trust,
      respect: relationship.respect,
      familiarity: relationship.familiarity,
      message_id: event.messageId ?? null,
    });
    if (row === undefined) throw new Error(`persona ${relationship.subjectId} does not exist`);
    return toRelationshipEvent(row);
  }

  relationshipHistory(key: RelationshipKey, options: { limit: number; beforeId?: number }): Promise<RelationshipEventRecord[]> {
    return this.read(() =>
      this.sql.relationshipHistory
        .all({ ...keyParams(key), before_id: options.beforeId ?? Number.MAX_SAFE_INTEGER, limit: options.limit })
        .map(toRelationshipEvent),
    );
  }

  relationshipEventsOf(conversationId: string): Promise<RelationshipEventRecord[]> {
    return this.read(() => this.sql.relationshipEventsOf.all(conversationId).map(toRelationshipEvent));
  }

  // emotional state

  getMood(personaId: string): Promise<MoodState | null> {
    return this.read(() => this.moodRow(personaId));
  }

  saveMood(personaId: string, state: MoodState, event?: MoodEventInput): Promise<void> {
    return this.write(() => this.saveMoodRows(personaId, state, event));
  }

  updateMood(personaId: string, change: MoodChange): Promise<MoodState> {
    // a copied reply's reaction applied already on PostgreSQL (copied-marks.ts): not applied twice
    const copied = copiedMark(this.db, afterReplyWriteKind.mood(personaId));
    if (copied !== null) return Promise.resolve(copied.result as MoodState);
    // with the reply's other writes (a reaction to an exchange), in one commit; its sample needs it
    return this.deferredWrite(
      () => {
        const { state, event } = change(this.moodRow(personaId));
        this.saveMoodRows(personaId, state, event);
        return state;
      },
      { name: afterReplyWriteKind.mood(personaId) },
    );
  }

  moodWrittenAlready(personaId: string): MoodState | undefined {
    const copied = nextCopiedMark(this.db, afterReplyWriteKind.mood(personaId));
    return copied === null ? undefined : (copied.result as MoodState);
  }

  private moodRow(personaId: string): MoodState | null {
    const row = this.sql.getMood.get(personaId);
    return row === undefined ? null : { valence: row.valence, arousal: row.arousal, stress: row.stress, curiosity: row.curiosity, updatedAt: row.updated_at };
  }

  private saveMoodRows(personaId: string, state: MoodState, event: MoodEventInput | undefined): void {
    const figures = { valence: state.valence, arousal: state.arousal, stress: state.stress, curiosity: state.curiosity };
    this.sql.saveMood.run({ persona_id: personaId, ...figures, updated_at: state.updatedAt });
    if (event !== undefined) {
      this.sql.insertMoodEvent.run({
        persona_id: personaId,
        at: state.updatedAt,
        ...figures,
        mood: event.mood,
        cause: event.cause,
        conversation_id: event.conversationId,
      });
    }
  }

  moodEvents(options: { personaId?: string; conversationId?: string; limit: number }): Promise<MoodEventRecord[]> {
    return this.read(() => {
      const rows =
        options.conversationId !== undefined
          ? this.sql.moodEventsOfConversation.all(options.conversationId, options.limit)
          : options.personaId !== undefined
            ? this.sql.moodEventsOfPersona.all(options.personaId, options.limit)
            : this.sql.moodEventsAll.all(options.limit);
      return rows.filter((row) => options.personaId === undefined || row.persona_id === options.personaId).map(toMoodEvent);
    });
  }

  // topic threads

  listThreads(conversationId: string): Promise<ThreadRecord[]> {
    return this.read(() => this.sql.listThreads.all(conversationId).map(toThread));
  }

  currentThreadId(conversationId: string): Promise<number | null> {
    return this.read(() => this.sql.currentThread.get(conversationId) ?? null);
  }

  createThread(conversationId: string, label: string, now: number, isBranch: boolean): Promise<ThreadRecord> {
    return this.write(() => {
      const row = this.sql.insertThread.get({
        conversation_id: conversationId,
        label,
        centroid: '{}',
        is_branch: isBranch ? 1 : 0,
        created_at: now,
        last_active_at: now,
      });
      if (row === undefined) throw new Error('thread insert returned nothing');
      this.sql.setCursor.run(conversationId, row.id);
      return toThread(row);
    });
  }

  setCurrentThread(conversationId: string, threadId: number): Promise<void> {
    return this.write(() => {
      this.sql.setCursor.run(conversationId, threadId);
    });
  }

  fileInThreads(filings: readonly ThreadFiling[]): Promise<number[]> {
    if (filings.length === 0) return Promise.resolve([]);
    // with the reply's other writes (its filing is written after it went out), in one commit
    return this.deferredWrite(() => {
      const isFiled = filings.map((filing) => this.sql.fileMessage.run(filing.threadId, filing.messageId).changes > 0);
      // each thread written once, with its last filing's centroid and label
      const finalCounts = new Map<number, number>();
      for (const last of lastFilingOfEachThread(filings)) {
        finalCounts.set(last.threadId, this.sql.updateThread.get({ id: last.threadId, centroid: JSON.stringify(last.centroid), label: last.label, now: last.now }) ?? 0);
      }
      this.sql.setCursorToThread.run(filings.at(-1)!.threadId);
      return countsAfterFilings(filings.map((filing) => filing.threadId), isFiled, finalCounts);
    });
  }

  threadOfMessages(conversationId: string): Promise<Map<number, number>> {
    return this.read(() => new Map(this.sql.threadOfMessages.all(conversationId).map((row) => [row.message_id, row.thread_id])));
  }

  // groups

  saveGroup(group: GroupRecord): Promise<void> {
    return this.write(() => {
      this.sql.saveGroup.run({
        conversation_id: group.conversationId,
        status: group.status,
        max_turns: group.maxTurns,
        turn_delay_ms: group.turnDelayMs,
        status_reason: group.statusReason,
        updated_at: group.updatedAt,
      });
    });
  }

  getGroup(conversationId: string): Promise<GroupRecord | null> {
    return this.read(() => {
      const row = this.sql.getGroup.get(conversationId);
      return row === undefined ? null : toGroup(row);
    });
  }

  listGroups(status: GroupStatus): Promise<GroupRecord[]> {
    return this.read(() => this.sql.listGroups.all(status).map(toGroup));
  }

  addMember(member: GroupMemberRecord): Promise<void> {
    return this.write(() => {
      this.sql.addMember.run({
        conversation_id: member.conversationId,
        persona_id: member.personaId,
        joined_after: member.joinedAfter,
        left_after: member.leftAfter,
        joined_at: member.joinedAt,
        left_at: member.leftAt,
      });
      this.sql.addParticipant.run({ conversation_id: member.conversationId, persona_id: member.personaId });
    });
  }

  markLeft(conversationId: string, personaId: string, leftAfter: number, now: number): Promise<void> {
    return this.write(() => {
      this.sql.markLeft.run({ conversation_id: conversationId, persona_id: personaId, left_after: leftAfter, now });
    });
  }

  members(conversationId: string): Promise<GroupMemberRecord[]> {
    return this.read(() => this.sql.members.all(conversationId).map(toMember));
  }

  threadsOfMessages(messageIds: readonly number[]): Promise<Map<number, number>> {
    if (messageIds.length === 0) return Promise.resolve(new Map());
    return this.read(() => new Map(this.sql.threadsOfMessages.all(JSON.stringify(messageIds)).map((row) => [row.message_id, row.thread_id])));
  }

  newestMessageOfThreads(threadIds: readonly number[]): Promise<Map<number, number>> {
    if (threadIds.length === 0) return Promise.resolve(new Map());
    return this.read(() => new Map(this.sql.newestMessageOfThreads.all(JSON.stringify(threadIds)).map((row) => [row.thread_id, row.message_id])));
  }

  lastMessageId(conversationId: string): Promise<number> {
    return this.read(() => this.sql.lastMessageId.get(conversationId) ?? 0);
  }

  // analytics

  speakerFigures(filter: { conversationId?: string; personaId?: string }): Promise<SpeakerFigures[]> {
    return this.read(() => {
      const rows =
        filter.conversationId !== undefined
          ? this.sql.speakersOfConversation.all(filter.conversationId)
          : filter.personaId !== undefined
            ? this.sql.speakersOfPersona.all(filter.personaId)
            : this.sql.speakersAll.all();
      return rows.map((row) => ({
        personaId: row.persona_id,
        role: row.role,
        messages: row.messages,
        tokens: row.tokens,
        characters: row.characters,
        processingMsTotal: row.processing_ms_total,
        timedReplies: row.timed_replies,
      }));
    });
  }

  conversationCount(filter: { personaId?: string }): Promise<{ total: number; active: number; groups: number }> {
    return this.read(
      () =>
        (filter.personaId === undefined ? this.sql.conversationCountAll.get() : this.sql.conversationCountOf.get(filter.personaId)) ?? {
          total: 0,
          active: 0,
          groups: 0,
        },
    );
  }

  // helpers

  private async read<T>(work: () => T): Promise<T> {
    try {
      return work();
    } catch (error) {
      throw translateSqliteError(error, this.path);
    }
  }

  private write<T>(work: () => T): Promise<T> {
    return this.read(() => immediateTransaction(this.db)(work));
  }

  /** A write committed with the connection's other writes of this moment (`write-batch.ts`). */
  private deferredWrite<T>(work: () => T, link?: WriteLink): Promise<T> {
    return writeBatch(this.db)
      .defer(work, link)
      .catch((error: unknown) => {
        throw translateSqliteError(error, this.path);
      });
  }
}

function keyParams(key: RelationshipKey): { subject_id: string; other_kind: 'persona' | 'user'; other_id: string } {
  return { subject_id: key.subjectId, other_kind: key.otherKind, other_id: key.otherId };
}

function relationshipParams(record: RelationshipRecord): RelationshipRow {
  return {
    subject_id: record.subjectId,
    other_kind: record.otherKind,
    other_id: record.otherId,
    affinity: record.affinity,
    trust: record.trust,
    respect: record.respect,
    familiarity: record.familiarity,
    interaction_count: record.interactionCount,
    total_interaction_ms: record.totalInteractionMs,
    first_meeting: record.firstMeeting,
    last_interaction: record.lastInteraction,
  };
}

