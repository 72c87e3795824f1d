/** The `SocialStore` port on PostgreSQL: the statements of `../sqlite/social-statements.ts`, in PostgreSQL's dialect. */
import type { MoodState } from '../../domain/social/mood.js';
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
import { toGroup, toMember, toMoodEvent, toRelationship, toRelationshipEvent, toThread } from '../sqlite/social-rows.js';
import type { GroupRow, MemberRow, MoodEventRow, MoodRow, RelationshipEventRow, RelationshipRow, SpeakerRow, ThreadRow } from '../sqlite/social-statements.js';
import type { PostgresDatabase, TransactionClient } from './database.js';
import { translatePgError } from './errors.js';
import { afterReplyWriteKind, replyWrite } from '../after-reply-scope.js';
import { nextWriteMarked, writeOnce } from './after-reply-fence.js';
import { pgWriteBatch } from './write-batch.js';

const SPEAKER_COLUMNS = `persona_id, role, count(*) AS messages, coalesce(sum(tokens), 0) AS tokens,
  coalesce(sum(length(content)), 0) AS characters, coalesce(sum(processing_ms), 0) AS processing_ms_total,
  count(processing_ms) AS timed_replies`;

const COUNT_COLUMNS = `count(*) AS total, count(*) FILTER (WHERE status = 'active') AS active, count(*) FILTER (WHERE kind = 'personas') AS groups`;

export class PostgresSocialStore implements SocialStore {
  constructor(private readonly db: PostgresDatabase) {}

  // relationships

  async getRelationship(key: RelationshipKey): Promise<RelationshipRecord | null> {
    const row = await this.db.one<RelationshipRow>('SELECT * FROM relationships WHERE subject_id = $1 AND other_kind = $2 AND other_id = $3', keyValues(key));
    return row === null ? null : toRelationship(row);
  }

  async listRelationships(subjectId?: string): Promise<RelationshipRecord[]> {
    const rows =
      subjectId === undefined
        ? await this.db.rows<RelationshipRow>('SELECT * FROM relationships ORDER BY subject_id, other_kind, other_id')
        : await this.db.rows<RelationshipRow>('SELECT * FROM relationships WHERE subject_id = $1 ORDER BY other_kind, other_id', [subjectId]);
    return rows.map(toRelationship);
  }

  recordInteraction(
    change: RelationshipRecord | RelationshipChange,
    event: InteractionEvent,
  ): Promise<RelationshipEventRecord> {
    return this.db.transaction((tx) => writeInteraction(tx, change, event));
  }

  /**
   * Several interactions in one transaction, in order (a batch of relationship jobs: one commit), each in
   * a savepoint of its own: one that fails is rolled back alone and rejects alone.
   */
  recordInteractions(
    entries: ReadonlyArray<{ relationship: RelationshipRecord | RelationshipChange; event: InteractionEvent }>,
  ): Promise<Array<PromiseSettledResult<RelationshipEventRecord>>> {
    return this.db.transaction(async (tx) => {
      const outcomes: Array<PromiseSettledResult<RelationshipEventRecord>> = [];
      for (const { relationship, event } of entries) {
        await tx.query('SAVEPOINT interaction');
        try {
          outcomes.push({ status: 'fulfilled', value: await writeInteraction(tx, relationship, event) });
          await tx.query('RELEASE SAVEPOINT interaction');
        } catch (error) {
          await tx.query('ROLLBACK TO SAVEPOINT interaction');
          await tx.query('RELEASE SAVEPOINT interaction');
          outcomes.push({ status: 'rejected', reason: translatePgError(error, this.db.label) });
        }
      }
      return outcomes;
    });
  }

  async relationshipHistory(key: RelationshipKey, options: { limit: number; beforeId?: number }): Promise<RelationshipEventRecord[]> {
    const rows = await this.db.rows<RelationshipEventRow>(
      `SELECT * FROM relationship_events WHERE subject_id = $1 AND other_kind = $2 AND other_id = $3 AND id < $4 ORDER BY id DESC LIMIT $5`,
      [...keyValues(key), options.beforeId ?? Number.MAX_SAFE_INTEGER, options.limit],
    );
    return rows.map(toRelationshipEvent);
  }

  async relationshipEventsOf(conversationId: string): Promise<RelationshipEventRecord[]> {
    return (await this.db.rows<RelationshipEventRow>('SELECT * FROM relationship_events WHERE conversation_id = $1 ORDER BY id', [conversationId])).map(
      toRelationshipEvent,
    );
  }

  // emotional state

  async getMood(personaId: string): Promise<MoodState | null> {
    return moodOf(await this.db.one<MoodRow>(MOOD_SELECT, [personaId]));
  }

  saveMood(personaId: string, state: MoodState, event?: MoodEventInput): Promise<void> {
    return this.db.transaction((tx) => saveMoodRows(tx, personaId, state, event));
  }

  /** A reply taken over whose reaction the dead node saved (its mark, read at the takeover): the mood it saved. */
  moodWrittenAlready(personaId: string): MoodState | undefined {
    return nextWriteMarked(this.db, afterReplyWriteKind.mood(personaId))?.result as MoodState | undefined;
  }

  updateMood(personaId: string, change: MoodChange): Promise<MoodState> {
    // with the reply's other writes of this moment (a reaction to an exchange), in one commit (write-batch.ts), once per reply
    return pgWriteBatch(this.db).defer(async (tx) => {
      await tx.lock(`mood:${personaId}`);
      const { state, event } = change(moodOf(await tx.one<MoodRow>(MOOD_SELECT, [personaId])));
      await saveMoodRows(tx, personaId, state, event);
      return state;
    }, afterReplyWriteKind.mood(personaId));
  }

  async moodEvents(options: { personaId?: string; conversationId?: string; limit: number }): Promise<MoodEventRecord[]> {
    const newest = (where: string, values: unknown[]): Promise<MoodEventRow[]> =>
      this.db.rows<MoodEventRow>(
        `SELECT * FROM (SELECT * FROM mood_events ${where} ORDER BY id DESC LIMIT $${values.length + 1}) newest ORDER BY id`,
        [...values, options.limit],
      );
    const rows =
      options.conversationId !== undefined
        ? await newest('WHERE conversation_id = $1', [options.conversationId])
        : options.personaId !== undefined
          ? await newest('WHERE persona_id = $1', [options.personaId])
          : await newest('', []);
    return rows.filter((row) => options.personaId === undefined || row.persona_id === options.personaId).map(toMoodEvent);
  }

  // topic threads

  async listThreads(conversationId: string): Promise<ThreadRecord[]> {
    return (await this.db.rows<ThreadRow>('SELECT * FROM topic_threads WHERE conversation_id = $1 ORDER BY id', [conversationId])).map(toThread);
  }

  async currentThreadId(conversationId: string): Promise<number | null> {
    return (await this.db.one<{ thread_id: number }>('SELECT thread_id FROM thread_cursor WHERE conversation_id = $1', [conversationId]))?.thread_id ?? null;
  }

  createThread(conversationId: string, label: string, now: number, isBranch: boolean): Promise<ThreadRecord> {
    return this.db.transaction(async (tx) => {
      const row = await tx.one<ThreadRow>(
        `INSERT INTO topic_threads (conversation_id, label, centroid, is_branch, message_count, created_at, last_active_at)
         VALUES ($1, $2, '{}', $3, 0, $4, $4) RETURNING *`,
        [conversationId, label, isBranch ? 1 : 0, now],
      );
      if (row === null) throw new Error('thread insert returned nothing');
      await tx.query(
        'INSERT INTO thread_cursor (conversation_id, thread_id) VALUES ($1, $2) ON CONFLICT (conversation_id) DO UPDATE SET thread_id = excluded.thread_id',
        [conversationId, row.id],
      );
      return toThread(row);
    });
  }

  async setCurrentThread(conversationId: string, threadId: number): Promise<void> {
    await this.db.query(
      'INSERT INTO thread_cursor (conversation_id, thread_id) VALUES ($1, $2) ON CONFLICT (conversation_id) DO UPDATE SET thread_id = excluded.thread_id',
      [conversationId, threadId],
    );
  }

  fileInThreads(filings: readonly ThreadFiling[]): Promise<number[]> {
    if (filings.length === 0) return Promise.resolve([]);
    // Its own transaction, not the write batch: on a shared store a person's message is filed at once and
    // the turn waits for it (no filing is kept to write with the reply's; a batch window,
    // `database.writeBatchMs`, would hold the turn), and a reply's filing follows a read of the threads,
    // so it would not join the reply's other writes anyway. A reply's filing is done once for the reply
    // all the same (after-reply-fence.ts), and its record is cleared only once it is written
    // (TurnRunner.awaitAfterReply).
    const reply = replyWrite(`filing:${filings.map((filing) => filing.messageId).join(',')}`);
    return this.db.transaction((tx) => writeOnce(this.db, tx, reply, async () => {
      const isFiled: boolean[] = [];
      for (const filing of filings) {
        const filed = await tx.query(
          `INSERT INTO message_threads (message_id, thread_id) SELECT id, $1 FROM messages WHERE id = $2
           ON CONFLICT (message_id) DO UPDATE SET thread_id = excluded.thread_id`,
          [filing.threadId, filing.messageId],
        );
        isFiled.push((filed.rowCount ?? 0) > 0);
      }
      // each thread written once, with its last filing's centroid and label
      const finalCounts = new Map<number, number>();
      for (const last of lastFilingOfEachThread(filings)) {
        const updated = await tx.query<{ message_count: number }>(
          `UPDATE topic_threads SET centroid = $2, label = $3, last_active_at = $4,
             message_count = (SELECT count(*) FROM message_threads WHERE thread_id = $1) WHERE id = $1 RETURNING message_count`,
          [last.threadId, JSON.stringify(last.centroid), last.label, last.now],
        );
        finalCounts.set(last.threadId, Number(updated.rows[0]?.message_count ?? 0));
      }
      await tx.query(
        `INSERT INTO thread_cursor (conversation_id, thread_id) SELECT conversation_id, id FROM topic_threads WHERE id = $1
         ON CONFLICT (conversation_id) DO UPDATE SET thread_id = excluded.thread_id`,
        [filings.at(-1)!.threadId],
      );
      return countsAfterFilings(filings.map((filing) => filing.threadId), isFiled, finalCounts);
    }));
  }

  async threadOfMessages(conversationId: string): Promise<Map<number, number>> {
    const rows = await this.db.rows<{ message_id: number; thread_id: number }>(
      `SELECT mt.message_id, mt.thread_id FROM message_threads mt JOIN topic_threads t ON t.id = mt.thread_id WHERE t.conversation_id = $1`,
      [conversationId],
    );
    return new Map(rows.map((row) => [row.message_id, row.thread_id]));
  }

  async threadsOfMessages(messageIds: readonly number[]): Promise<Map<number, number>> {
    if (messageIds.length === 0) return new Map();
    const rows = await this.db.rows<{ message_id: number; thread_id: number }>(
      'SELECT message_id, thread_id FROM message_threads WHERE message_id = ANY($1::bigint[])',
      [messageIds],
    );
    return new Map(rows.map((row) => [Number(row.message_id), Number(row.thread_id)]));
  }

  async newestMessageOfThreads(threadIds: readonly number[]): Promise<Map<number, number>> {
    if (threadIds.length === 0) return new Map();
    const rows = await this.db.rows<{ thread_id: number; message_id: number }>(
      'SELECT thread_id, max(message_id) AS message_id FROM message_threads WHERE thread_id = ANY($1::bigint[]) GROUP BY thread_id',
      [threadIds],
    );
    return new Map(rows.map((row) => [Number(row.thread_id), Number(row.message_id)]));
  }

  // groups

  async saveGroup(group: GroupRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO group_conversations (conversation_id, status, max_turns, turn_delay_ms, status_reason, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (conversation_id) DO UPDATE SET status = excluded.status, max_turns = excluded.max_turns,
         turn_delay_ms = excluded.turn_delay_ms, status_reason = excluded.status_reason, updated_at = excluded.updated_at`,
      [group.conversationId, group.status, group.maxTurns, group.turnDelayMs, group.statusReason, group.updatedAt],
    );
  }

  async getGroup(conversationId: string): Promise<GroupRecord | null> {
    const row = await this.db.one<GroupRow>('SELECT * FROM group_conversations WHERE conversation_id = $1', [conversationId]);
    return row === null ? null : toGroup(row);
  }

  async listGroups(status: GroupStatus): Promise<GroupRecord[]> {
    return (await this.db.rows<GroupRow>('SELECT * FROM group_conversations WHERE status = $1 ORDER BY updated_at', [status])).map(toGroup);
  }

  addMember(member: GroupMemberRecord): Promise<void> {
    return this.db.transaction(async (tx) => {
      await tx.query(
        `INSERT INTO group_members (conversation_id, persona_id, joined_after, left_after, joined_at, left_at)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (conversation_id, persona_id) DO UPDATE SET joined_after = excluded.joined_after,
           left_after = NULL, joined_at = excluded.joined_at, left_at = NULL`,
        [member.conversationId, member.personaId, member.joinedAfter, member.leftAfter, member.joinedAt, member.leftAt],
      );
      await tx.lock(`conversation-personas:${member.conversationId}`);
      await tx.query(
        `INSERT INTO conversation_personas (conversation_id, persona_id, position)
         SELECT $1, $2, coalesce(max(position) + 1, 0) FROM conversation_personas WHERE conversation_id = $1
         ON CONFLICT DO NOTHING`,
        [member.conversationId, member.personaId],
      );
    });
  }

  async markLeft(conversationId: string, personaId: string, leftAfter: number, now: number): Promise<void> {
    await this.db.query(
      `UPDATE group_members SET left_after = $3, left_at = $4 WHERE conversation_id = $1 AND persona_id = $2 AND left_after IS NULL`,
      [conversationId, personaId, leftAfter, now],
    );
  }

  async members(conversationId: string): Promise<GroupMemberRecord[]> {
    return (await this.db.rows<MemberRow>('SELECT * FROM group_members WHERE conversation_id = $1 ORDER BY joined_at, persona_id', [conversationId])).map(toMember);
  }

  async lastMessageId(conversationId: string): Promise<number> {
    return (await this.db.one<{ id: number }>('SELECT coalesce(max(id), 0) AS id FROM messages WHERE conversation_id = $1', [conversationId]))?.id ?? 0;
  }

  // analytics

  async speakerFigures(filter: { conversationId?: string; personaId?: string }): Promise<SpeakerFigures[]> {
    const order = 'GROUP BY role, persona_id ORDER BY role, persona_id';
    const rows =
      filter.conversationId !== undefined
        ? await this.db.rows<SpeakerRow>(`SELECT ${SPEAKER_COLUMNS} FROM messages WHERE conversation_id = $1 ${order}`, [filter.conversationId])
        : filter.personaId !== undefined
          ? await this.db.rows<SpeakerRow>(
              `SELECT ${SPEAKER_COLUMNS} FROM messages WHERE conversation_id IN (SELECT conversation_id FROM conversation_personas WHERE persona_id = $1) ${order}`,
              [filter.personaId],
            )
          : await this.db.rows<SpeakerRow>(`SELECT ${SPEAKER_COLUMNS} FROM messages ${order}`);
    return rows.map((row) => ({
      personaId: row.persona_id,
      role: row.role,
      messages: row.messages,
      tokens: row.tokens,
      characters: row.characters,
      processingMsTotal: row.processing_ms_total,
      timedReplies: row.timed_replies,
    }));
  }

  async conversationCount(filter: { personaId?: string }): Promise<{ total: number; active: number; groups: number }> {
    const row =
      filter.personaId === undefined
        ? await this.db.one<{ total: number; active: number; groups: number }>(`SELECT ${COUNT_COLUMNS} FROM conversations`)
        : await this.db.one<{ total: number; active: number; groups: number }>(
            `SELECT ${COUNT_COLUMNS} FROM conversations WHERE id IN (SELECT conversation_id FROM conversation_personas WHERE persona_id = $1)`,
            [filter.personaId],
          );
    return row ?? { total: 0, active: 0, groups: 0 };
  }
}

function keyValues(key: RelationshipKey): [string, string, string] {
  return [key.subjectId, key.otherKind, key.otherId];
}

const MOOD_SELECT = 'SELECT valence, arousal, stress, curiosity, updated_at FROM emotional_state WHERE persona_id = $1';

function moodOf(row: MoodRow | null): MoodState | null {
  return row === null ? null : { valence: row.valence, arousal: row.arousal, stress: row.stress, curiosity: row.curiosity, updatedAt: row.updated_at };
}

async function saveMoodRows(tx: TransactionClient, personaId: string, state: MoodState, event: MoodEventInput | undefined): Promise<void> {
  const figures = [state.valence, state.arousal, state.stress, state.curiosity];
  await tx.query(
    `INSERT INTO emotional_state (persona_id, valence, arousal, stress, curiosity, updated_at)
     SELECT id, $2, $3, $4, $5, $6 FROM personas WHERE id = $1
     ON CONFLICT (persona_id) DO UPDATE SET valence = excluded.valence, arousal = excluded.arousal, stress = excluded.stress,
       curiosity = excluded.curiosity, updated_at = excluded.updated_at`,
    [personaId, ...figures, state.updatedAt],
  );
  if (event !== undefined) {
    await tx.query(
      `INSERT INTO mood_events (persona_id, at, valence, arousal, stress, curiosity, mood, cause, conversation_id)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM personas WHERE id = $1)`,
      [personaId, state.updatedAt, ...figures, event.mood, event.cause, event.conversationId],
    );
  }
}

/**
 * Inside a transaction: one interaction's relationship figures (read-modify-write under its lock) and timeline
 * event; none when its exchange was recorded already (looked for under the lock: a node running the job again meanwhile waits).
 */
async function writeInteraction(tx: TransactionClient, change: RelationshipRecord | RelationshipChange, event: InteractionEvent): Promise<RelationshipEventRecord> {
    const key: RelationshipKey = 'apply' in change ? change.key : change;
    // The advisory lock also covers a relationship not stored yet (no row to lock with FOR UPDATE).
    if ('apply' in change || event.messageId !== undefined) await tx.lock(`relationship:${key.subjectId}:${key.otherKind}:${key.otherId}`);
    if (event.messageId !== undefined) {
      const recorded = await tx.one<RelationshipEventRow>(
        'SELECT * FROM relationship_events WHERE message_id = $1 AND subject_id = $2 AND other_kind = $3 AND other_id = $4',
        [event.messageId, ...keyValues(key)],
      );
      if (recorded !== null) return toRelationshipEvent(recorded);
    }
    let relationship: RelationshipRecord;
    if ('apply' in change) {
      const stored = await tx.one<RelationshipRow>('SELECT * FROM relationships WHERE subject_id = $1 AND other_kind = $2 AND other_id = $3', keyValues(change.key));
      relationship = change.apply(stored === null ? null : toRelationship(stored));
    } else {
      relationship = change;
    }
    const r = relationship;
    await tx.query(
      `INSERT INTO relationships (subject_id, other_kind, other_id, affinity, trust, respect, familiarity, interaction_count,
         total_interaction_ms, first_meeting, last_interaction)
       SELECT id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 FROM personas WHERE id = $1
       ON CONFLICT (subject_id, other_kind, other_id) DO UPDATE SET affinity = excluded.affinity, trust = excluded.trust,
         respect = excluded.respect, familiarity = excluded.familiarity, interaction_count = excluded.interaction_count,
         total_interaction_ms = excluded.total_interaction_ms, first_meeting = excluded.first_meeting,
         last_interaction = excluded.last_interaction`,
      [...keyValues(r), r.affinity, r.trust, r.respect, r.familiarity, r.interactionCount, Math.round(r.totalInteractionMs), r.firstMeeting, r.lastInteraction],
    );
    const row = await tx.one<RelationshipEventRow>(
      `INSERT INTO relationship_events (subject_id, other_kind, other_id, at, quality, source, conversation_id, context,
         affinity, trust, respect, familiarity, message_id)
       SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, (SELECT id FROM messages WHERE id = $13)
       WHERE EXISTS (SELECT 1 FROM personas WHERE id = $1)
       RETURNING *`,
      [...keyValues(r), r.lastInteraction ?? 0, event.quality, event.source, event.conversationId, event.context, r.affinity, r.trust, r.respect, r.familiarity, event.messageId ?? null],
    );
    if (row === null) throw new Error(`persona ${relationship.subjectId} does not exist`);
    return toRelationshipEvent(row);
}
