/**
 * How a connection's caches follow what other connections commit to the same file (a jobs worker thread
 * on its own connection, `persona-mcp mcp` or the CLI beside a server): triggers append every change of
 * the cached tables to a log in the writer's own transaction (migrations 0047 and 0049); when this
 * connection's `PRAGMA data_version` moves (only another connection's commit moves it), each log is read
 * past the last row this connection applied and handed to its followers — the memory read cache, the
 * full-text mirror, each memory store's vector index and word counts, the social store's relationships —
 * which apply it as they apply this connection's own writes. A gap (the log pruned past what was applied)
 * or a long stretch of changes makes them read the table again instead.
 *
 * One `data_version` read per check serves them all (there was one prepared statement per cache). This
 * connection's own transactions (transactions.ts) check first and, once committed, step past the rows they
 * logged themselves: a cache is told of its own connection's writes directly, and never again by the log.
 * Applying a row twice is harmless (each follower re-reads or drops what it names), so a row applied both
 * ways (a write outside the wrapper) costs a read, never a wrong cache.
 */
import type { Database } from './database.js';

/** A row of `memory_changes` (0049); `change`: see MEMORY_CHANGE. */
export interface MemoryChangeRow {
  seq: number;
  memory_id: number;
  kind: string | null;
  persona_id: string | null;
  conversation_id: string | null;
  change: number;
}

/** `memory_changes.change` (0049). */
export const MEMORY_CHANGE = { inserted: 1, text: 2, other: 3, deleted: 4, shares: 5 } as const;

/** Whether the memory's text or owner changed (or it came or went): what the full-text mirror and the word counts re-read. */
export function isTextChange(row: MemoryChangeRow): boolean {
  return row.change !== MEMORY_CHANGE.other && row.change !== MEMORY_CHANGE.shares;
}

/** A row of `memory_vector_changes` (0047). */
export interface VectorChangeRow {
  seq: number;
  memory_id: number;
  embedder: string;
}

/** A row of `relationship_changes` (0049). */
export interface RelationshipChangeRow {
  seq: number;
  subject_id: string;
  other_kind: 'persona' | 'user';
  other_id: string;
}

interface LogRows {
  memories: MemoryChangeRow;
  vectors: VectorChangeRow;
  relationships: RelationshipChangeRow;
}
type LogName = keyof LogRows;

const LOG_TABLES: { [K in LogName]: { table: string; columns: string } } = {
  memories: { table: 'memory_changes', columns: 'memory_id, kind, persona_id, conversation_id, change' },
  vectors: { table: 'memory_vector_changes', columns: 'memory_id, embedder' },
  relationships: { table: 'relationship_changes', columns: 'subject_id, other_kind, other_id' },
};

/** What a cache does with another connection's changes. */
export interface LogFollower<Row> {
  /** The log's rows past the last one applied, in commit order (applying one twice must be harmless). */
  apply(rows: readonly Row[]): void;
  /** Which rows changed is unknown (the log was pruned past what was applied, or too much changed): read the table again. */
  lost(): void;
}

/**
 * Rows of a log applied at once at most: past this many, its followers read their tables again (an import
 * of thousands of memories, a decay run over all of them), which costs less than applying each.
 */
export const CATCH_UP_MAX = 5_000;
/**
 * Rows kept per log: a connection that looked last more than this many changes ago reads its tables
 * again. Pruned by this connection's own transactions once PRUNE_EVERY rows were added since the last time.
 */
export const LOG_KEPT = 50_000;
const PRUNE_EVERY = 1_000;

class FollowedLog<Row extends { seq: number }> {
  /** The last row applied (or known to be this connection's own). */
  seen = 0;
  /** The newest row when this connection last pruned the log. */
  prunedAt = 0;
  readonly followers: Array<LogFollower<Row>> = [];
  private readonly after: { all(seen: number, limit: number): Row[] };
  private readonly prune: { run(through: number): unknown };

  constructor(
    db: Database,
    { table, columns }: { table: string; columns: string },
    private readonly newest: () => number,
  ) {
    this.after = db.prepare<[number, number], Row>(`SELECT seq, ${columns} FROM ${table} WHERE seq > ? ORDER BY seq LIMIT ?`);
    this.prune = db.prepare<[number]>(`DELETE FROM ${table} WHERE seq <= ?`);
  }

  follow(follower: LogFollower<Row>): void {
    if (this.followers.length === 0) this.seen = this.newest();
    this.followers.push(follower);
  }

  catchUp(): void {
    if (this.followers.length === 0) return;
    const rows = this.after.all(this.seen, CATCH_UP_MAX + 1);
    if (rows.length === 0) return;
    // Rows are numbered without holes (pruning takes the oldest): a first row past seen + 1 means some were pruned unread.
    if (rows[0]!.seq !== this.seen + 1 || rows.length > CATCH_UP_MAX) {
      // Read before the followers read their tables: what commits in between is applied again later, harmlessly.
      this.seen = this.newest();
      for (const follower of this.followers) follower.lost();
      return;
    }
    this.seen = rows.at(-1)!.seq;
    for (const follower of this.followers) follower.apply(rows);
  }

  /** In one of this connection's write transactions: drops the rows past LOG_KEPT when PRUNE_EVERY were added since the last time. */
  pruneIfDue(newest: number): void {
    if (newest - this.prunedAt < PRUNE_EVERY) return;
    this.prunedAt = newest;
    this.prune.run(newest - LOG_KEPT);
  }
}

const follows = new WeakMap<Database, ConnectionFollow>();

export class ConnectionFollow {
  /** The connection's follow (made on first use; the connection must be migrated to 0049 or later). */
  static of(db: Database): ConnectionFollow {
    let follow = follows.get(db);
    if (follow === undefined) {
      follow = new ConnectionFollow(db);
      follows.set(db, follow);
    }
    return follow;
  }

  /** The connection's follow if one was made (transactions.ts: a connection no cache follows pays nothing). */
  static existing(db: Database): ConnectionFollow | undefined {
    return follows.get(db);
  }

  private readonly dataVersion: { get(): number | undefined };
  private readonly newest: { get(): { memories: number | null; vectors: number | null; relationships: number | null } | undefined };
  private version: number;
  private readonly logs: { [K in LogName]: FollowedLog<LogRows[K]> };
  /** The newest row of each log at the end of the open own transaction (what its commit steps past). */
  private ownNewest: { memories: number; vectors: number; relationships: number } | null = null;
  private readonly commitListeners: Array<() => void> = [];
  private isCheckDue = false;
  /** A check outside a transaction ran in the synchronous stretch now running (cleared by a microtask at its end). */
  private isCheckedInStretch = false;
  private readonly stretchEnded = (): void => {
    this.isCheckedInStretch = false;
  };

  private constructor(private readonly db: Database) {
    // Prepared once: `db.pragma()` prepares its statement on every call (~20 µs, more than reading it).
    this.dataVersion = db.prepare<[], number>('PRAGMA data_version').pluck();
    this.newest = db.prepare<[], { memories: number | null; vectors: number | null; relationships: number | null }>(
      `SELECT (SELECT max(seq) FROM ${LOG_TABLES.memories.table}) AS memories, (SELECT max(seq) FROM ${LOG_TABLES.vectors.table}) AS vectors,
              (SELECT max(seq) FROM ${LOG_TABLES.relationships.table}) AS relationships`,
    );
    const newestOf = (log: LogName) => (): number => this.newest.get()?.[log] ?? 0;
    this.logs = {
      memories: new FollowedLog<MemoryChangeRow>(db, LOG_TABLES.memories, newestOf('memories')),
      vectors: new FollowedLog<VectorChangeRow>(db, LOG_TABLES.vectors, newestOf('vectors')),
      relationships: new FollowedLog<RelationshipChangeRow>(db, LOG_TABLES.relationships, newestOf('relationships')),
    };
    this.version = this.dataVersion.get() ?? 0;
  }

  /** From now on `follower` is handed the rows of `log` other connections commit. */
  follow<K extends LogName>(log: K, follower: LogFollower<LogRows[K]>): void {
    (this.logs[log] as FollowedLog<LogRows[K]>).follow(follower);
  }

  /**
   * Brings every follower up to date with what other connections have committed: one `data_version`
   * read when nothing was (the cost of a check on a chat turn's path), a range read per followed log when
   * something was.
   *
   * Outside a transaction, once per synchronous stretch: each `data_version` read there is a read
   * transaction of its own, a WAL read lock taken and dropped (two `fcntl`), and a stretch's reads check
   * one after another (a recall's caches, the read cache's refill: 12.8 reads a turn, 7.7 so). No event
   * reaches a stretch after its first check (the jobs thread's word that it committed is an event of its
   * own), so a commit that comes in meanwhile is applied at the next stretch's check, as if it had come
   * just after. In a write transaction it always reads: the writes must follow every commit before them.
   */
  check(): void {
    if (!this.db.inTransaction) {
      if (this.isCheckedInStretch) return;
      this.isCheckedInStretch = true;
      queueMicrotask(this.stretchEnded);
    }
    const version = this.dataVersion.get() ?? 0;
    if (version === this.version) return;
    this.version = version;
    this.logs.memories.catchUp();
    this.logs.vectors.catchUp();
    this.logs.relationships.catchUp();
  }

  /**
   * Brings every follower up to date soon — after the event loop has taken in what arrived meanwhile —
   * instead of inside the next read that checks: another connection said it committed (the jobs thread,
   * after its jobs' writes), so the next turn's recall finds the caches, the vector index and the full-text
   * mirror current instead of applying the backlog itself. Every read still checks first: nothing stale
   * is ever served.
   */
  checkSoon(): void {
    if (this.isCheckDue) return;
    this.isCheckDue = true;
    setImmediate(() => {
      this.isCheckDue = false;
      if (this.db.open && !this.db.inTransaction) this.check();
    });
  }

  /**
   * `listener` runs after each of this connection's own write transactions that logged a change commits
   * (the jobs thread tells the main thread; its queue's claims and completions log none).
   */
  onOwnCommit(listener: () => void): void {
    this.commitListeners.push(listener);
  }

  /** First thing in an own write transaction (holding the write lock): others' changes before it are applied. */
  ownBegun(): void {
    this.ownNewest = null;
    this.check();
  }

  /** Last thing in an own write transaction: every row past what was applied is this transaction's own. */
  ownEnding(): void {
    const newest = this.newest.get();
    this.ownNewest = { memories: newest?.memories ?? 0, vectors: newest?.vectors ?? 0, relationships: newest?.relationships ?? 0 };
    for (const log of ['memories', 'vectors', 'relationships'] as const) this.logs[log].pruneIfDue(this.ownNewest[log]);
  }

  /** The own transaction committed: its rows are not applied again (its writes told the caches directly). */
  ownCommitted(): void {
    if (this.ownNewest === null) return;
    let isLogged = false;
    for (const log of ['memories', 'vectors', 'relationships'] as const) {
      isLogged ||= this.ownNewest[log] > this.logs[log].seen;
      this.logs[log].seen = Math.max(this.logs[log].seen, this.ownNewest[log]);
    }
    this.ownNewest = null;
    if (isLogged) for (const listener of this.commitListeners) listener();
  }
}
