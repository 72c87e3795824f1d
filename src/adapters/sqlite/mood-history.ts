/**
 * `MoodHistory` on the SQLite connection the main store opened (migration `0030_mood_samples`).
 * Row mapping and the query's shape are shared with PostgreSQL (`mood-sample-rows.ts`).
 */
import type { MoodSampleCause } from '../../domain/social/mood-samples.js';
import type { MoodHistory, MoodSampleInput, MoodSamplePage, MoodSampleQuery, MoodSampleRecord } from '../../ports/mood-history.js';
import { afterReplyWriteKind } from '../after-reply-scope.js';
import { copiedMark, nextCopiedMark } from './copied-marks.js';
import type { Database } from './database.js';
import { translateSqliteError } from './errors.js';
import { immediateTransaction } from './transactions.js';
import { writeBatch } from './write-batch.js';
import { MOOD_SAMPLE_COLUMNS, moodSampleValues, pageOf, toMoodSample, type MoodSampleRow } from './mood-sample-rows.js';

const MOOD_SAMPLES = 'mood_samples';
/** The older log of mood changes with their causes (`conversation.analytics`): bounded by the same rule. */
const MOOD_EVENTS = 'mood_events';
/** The causes of samples taken after a mood change (`EmotionService.onChanged`): each describes that change's write. */
const MOOD_CHANGE_CAUSES: ReadonlySet<MoodSampleCause> = new Set(['chat', 'group', 'manual']);

export class SqliteMoodHistory implements MoodHistory {
  private readonly sql;

  constructor(
    private readonly db: Database,
    private readonly path: string = db.name,
  ) {
    try {
      this.sql = {
        append: db.prepare<unknown[], MoodSampleRow>(
          `INSERT INTO mood_samples (${MOOD_SAMPLE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id, ${MOOD_SAMPLE_COLUMNS}`,
        ),
        latest: db.prepare<[string], MoodSampleRow>(`SELECT id, ${MOOD_SAMPLE_COLUMNS} FROM mood_samples WHERE persona_id = ? ORDER BY id DESC LIMIT 1`),
        page: db.prepare<[string, number, number, number, number], MoodSampleRow>(
          `SELECT id, ${MOOD_SAMPLE_COLUMNS} FROM mood_samples
           WHERE persona_id = ? AND id > ? AND id < ? AND at >= ? ORDER BY id DESC LIMIT ?`,
        ),
        pruneOld: [MOOD_SAMPLES, MOOD_EVENTS].map((table) => db.prepare<[number]>(`DELETE FROM ${table} WHERE at < ?`)),
        pruneBeyond: [MOOD_SAMPLES, MOOD_EVENTS].map((table) =>
          db.prepare<[number]>(
            `DELETE FROM ${table} WHERE id IN (
               SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY persona_id ORDER BY id DESC) AS newest FROM ${table}) WHERE newest > ?)`,
          ),
        ),
      };
    } catch (error) {
      throw translateSqliteError(error, path);
    }
  }

  private run<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(translateSqliteError(error, this.path));
    }
  }

  /** Committed with the connection's other writes of this moment (a reply's filing, mood and jobs: `write-batch.ts`). */
  append(sample: MoodSampleInput): Promise<MoodSampleRecord> {
    // a copied reply's sample written already on PostgreSQL (copied-marks.ts)
    const copied = copiedMark(this.db, afterReplyWriteKind.moodSample(sample.cause));
    if (copied !== null) return Promise.resolve(toMoodSample(copied.result as MoodSampleRow));
    // the sample of a mood change is written only with that change (both or neither)
    const link = MOOD_CHANGE_CAUSES.has(sample.cause) ? { needs: afterReplyWriteKind.mood(sample.personaId) } : {};
    return writeBatch(this.db)
      .defer(() => toMoodSample(this.sql.append.get(...moodSampleValues(sample))!), link)
      .catch((error: unknown) => {
        throw translateSqliteError(error, this.path);
      });
  }

  sampleWrittenAlready(cause: MoodSampleCause): MoodSampleRecord | undefined {
    const copied = nextCopiedMark(this.db, afterReplyWriteKind.moodSample(cause));
    return copied === null ? undefined : toMoodSample(copied.result as MoodSampleRow);
  }

  latest(personaId: string): Promise<MoodSampleRecord | null> {
    return this.run(() => {
      const row = this.sql.latest.get(personaId);
      return row === undefined ? null : toMoodSample(row);
    });
  }

  samples(personaId: string, query: MoodSampleQuery): Promise<MoodSamplePage> {
    return this.run(() => {
      // One more than asked: whether older ones match too.
      const rows = this.sql.page.all(personaId, query.afterId ?? 0, query.beforeId ?? Number.MAX_SAFE_INTEGER, query.since ?? 0, query.limit + 1);
      return pageOf(rows, query.limit);
    });
  }

  prune(rule: { olderThan: number; keepPerPersona: number }): Promise<number> {
    return this.run(() =>
      immediateTransaction(this.db)(() => {
        let removed = 0;
        if (rule.olderThan > 0) for (const statement of this.sql.pruneOld) removed += statement.run(rule.olderThan).changes;
        if (rule.keepPerPersona > 0) for (const statement of this.sql.pruneBeyond) removed += statement.run(Math.floor(rule.keepPerPersona)).changes;
        return removed;
      }),
    );
  }
}
