/**
 * Each persona's number of memories, kept between reads and brought forward by the change log (0049's
 * `memory_changes`, which every writer's triggers fill: this connection's, other connections', cascades)
 * instead of counted again. Memory formation asks after every write whether the persona is over its cap
 * (`MaintenanceService.enforceCap`), and `count(*)` walks all the persona's index entries: ~50 µs at 600
 * memories, ~1 ms at the default cap of 10,000 — on every formation. Reading the log's few rows since the
 * last read costs a range read of them.
 *
 * A log row of an insert adds one to its persona's count, of a delete takes one; a text or owner change drops
 * the persona's count, to be counted again (a move to another persona is logged as two such rows, which
 * cannot be told from an edit). A gap (the log pruned past what was read) or a long stretch drops them all.
 */
import type { Database } from './database.js';
import { MEMORY_CHANGE } from './connection-follow.js';

/** Log rows brought forward at once at most: past this many, the counts are read again. */
const CATCH_UP_MAX = 1_000;

export class PersonaMemoryCounts {
  /** The log's newest row the counts include. */
  private seq = 0;
  private counts = new Map<string, number>();
  private readonly countAt: { get(personaId: string): { count: number; seq: number | null } | undefined };
  private readonly changesAfter: { all(seq: number, limit: number): Array<{ seq: number; persona_id: string | null; change: number }> };

  constructor(private readonly db: Database) {
    // One statement: the count and the log's newest row of the same snapshot.
    this.countAt = db.prepare<[string], { count: number; seq: number | null }>(
      'SELECT (SELECT count(*) FROM memories WHERE persona_id = ?) AS count, (SELECT max(seq) FROM memory_changes) AS seq',
    );
    this.changesAfter = db.prepare<[number, number], { seq: number; persona_id: string | null; change: number }>(
      'SELECT seq, persona_id, change FROM memory_changes WHERE seq > ? ORDER BY seq LIMIT ?',
    );
  }

  count(personaId: string): number {
    // Inside a transaction the log holds rows that may still roll back, and their numbers are then given to
    // the next commit's rows: count, and keep nothing.
    if (this.db.inTransaction) return this.countAt.get(personaId)!.count;
    this.catchUp();
    const known = this.counts.get(personaId);
    if (known !== undefined) return known;
    const { count, seq } = this.countAt.get(personaId)!;
    // Another connection committed since the log was read: the counts kept are of an older row; keep this one alone.
    if ((seq ?? 0) !== this.seq) this.forget(seq ?? 0);
    this.counts.set(personaId, count);
    return count;
  }

  private catchUp(): void {
    if (this.counts.size === 0) return;
    const rows = this.changesAfter.all(this.seq, CATCH_UP_MAX + 1);
    if (rows.length === 0) return;
    // Rows are numbered without holes (pruning takes the oldest): a first row past seq + 1 means some were pruned unread.
    if (rows[0]!.seq !== this.seq + 1 || rows.length > CATCH_UP_MAX) {
      this.forget(0);
      return;
    }
    for (const { persona_id: personaId, change } of rows) {
      const count = personaId === null ? undefined : this.counts.get(personaId);
      if (count === undefined) continue;
      if (change === MEMORY_CHANGE.inserted) this.counts.set(personaId!, count + 1);
      else if (change === MEMORY_CHANGE.deleted) this.counts.set(personaId!, count - 1);
      else if (change === MEMORY_CHANGE.text) this.counts.delete(personaId!);
    }
    this.seq = rows.at(-1)!.seq;
  }

  private forget(seq: number): void {
    this.seq = seq;
    this.counts = new Map();
  }
}
