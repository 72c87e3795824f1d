/**
 * `MoodHistory` on PostgreSQL: the same table and rules as `../sqlite/mood-history.ts` (migration
 * `0030_mood_samples`), shared by every node.
 */
import type { MoodHistory, MoodSampleInput, MoodSamplePage, MoodSampleQuery, MoodSampleRecord } from '../../ports/mood-history.js';
import { afterReplyWriteKind } from '../after-reply-scope.js';
import { MOOD_SAMPLE_COLUMNS, moodSampleValues, pageOf, toMoodSample, type MoodSampleRow } from '../sqlite/mood-sample-rows.js';
import type { PostgresDatabase } from './database.js';
import { pgWriteBatch } from './write-batch.js';

export class PostgresMoodHistory implements MoodHistory {
  constructor(private readonly db: PostgresDatabase) {}

  /** Committed with the other writes of this moment (a reply's mood and jobs: `write-batch.ts`); once per reply. */
  async append(sample: MoodSampleInput): Promise<MoodSampleRecord> {
    const row = await pgWriteBatch(this.db).defer((tx) => tx.one<MoodSampleRow>(
      `INSERT INTO mood_samples (${MOOD_SAMPLE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id, ${MOOD_SAMPLE_COLUMNS}`,
      moodSampleValues(sample),
    ), afterReplyWriteKind.moodSample(sample.cause));
    return toMoodSample(row!);
  }

  async latest(personaId: string): Promise<MoodSampleRecord | null> {
    const row = await this.db.one<MoodSampleRow>(`SELECT id, ${MOOD_SAMPLE_COLUMNS} FROM mood_samples WHERE persona_id = $1 ORDER BY id DESC LIMIT 1`, [personaId]);
    return row === null ? null : toMoodSample(row);
  }

  async samples(personaId: string, query: MoodSampleQuery): Promise<MoodSamplePage> {
    const rows = await this.db.rows<MoodSampleRow>(
      `SELECT id, ${MOOD_SAMPLE_COLUMNS} FROM mood_samples
       WHERE persona_id = $1 AND id > $2 AND id < $3 AND at >= $4 ORDER BY id DESC LIMIT $5`,
      [personaId, query.afterId ?? 0, query.beforeId ?? Number.MAX_SAFE_INTEGER, query.since ?? 0, query.limit + 1],
    );
    return pageOf(rows, query.limit);
  }

  async prune(rule: { olderThan: number; keepPerPersona: number }): Promise<number> {
    return this.db.transaction(async (client) => {
      let removed = 0;
      // mood_events, the older log of mood changes with their causes (`conversation.analytics`), is bounded by the same rule.
      for (const table of ['mood_samples', 'mood_events']) {
        if (rule.olderThan > 0) removed += (await client.query(`DELETE FROM ${table} WHERE at < $1`, [rule.olderThan])).rowCount ?? 0;
        if (rule.keepPerPersona > 0) {
          const beyond = await client.query(
            `DELETE FROM ${table} WHERE id IN (
               SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY persona_id ORDER BY id DESC) AS newest FROM ${table}) ranked WHERE newest > $1)`,
            [Math.floor(rule.keepPerPersona)],
          );
          removed += beyond.rowCount ?? 0;
        }
      }
      return removed;
    });
  }
}
