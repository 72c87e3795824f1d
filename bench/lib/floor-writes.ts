/**
 * The floor's SQLite writes (floor-server.ts): a chat turn's rows as persona-mcp writes them, in as many write
 * transactions, with none of its logic — persona-mcp's pragmas, each row a copy of the newest one persona-mcp
 * wrote in the same run (so its size, its indexes and its FTS5 and change-log triggers are the real ones),
 * at the rates per turn bench/floor.ts measured (`FloorShape.rowsPerTurn`, `jobsPerTurn`).
 */
import BetterSqlite3 from 'better-sqlite3';
import type { FloorShape } from './floor-shape.js';

/** A job row's payload of a formation's size (the ids and the texts' keys it carries). */
const JOB_PAYLOAD = JSON.stringify({ personaId: 'aria', conversationId: 'c'.repeat(26), messageId: 10_000, userMessageId: 9_999, sessionId: 'bench_chat_session', userId: null });

/** The writes: persona-mcp's pragmas, rows copied from the newest it wrote, one transaction per step as persona-mcp commits them. */
export class FloorWrites {
  private readonly db: BetterSqlite3.Database;
  private readonly inserts = new Map<string, { statement: BetterSqlite3.Statement; row: Record<string, unknown> }>();
  private readonly owed = new Map<string, number>();
  private readonly pendingJobs: Array<{ id: number | bigint; type: string }> = [];
  private readonly vectors: Array<{ embedder: string; vector: Buffer }>;
  private readonly insertVector: BetterSqlite3.Statement;
  private readonly touchSession: BetterSqlite3.Statement;
  private readonly deletePending: BetterSqlite3.Statement;
  private readonly claim: BetterSqlite3.Statement;
  private readonly complete: BetterSqlite3.Statement;
  private readonly touchRelationship: BetterSqlite3.Statement;
  private readonly relationship: Record<string, string> | undefined;
  private readonly insertPending: BetterSqlite3.Statement;
  private readonly insertJob: BetterSqlite3.Statement;

  constructor(private readonly shape: FloorShape) {
    this.db = new BetterSqlite3(shape.databaseFile, { timeout: 5_000 });
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('foreign_keys = ON');
    this.db.pragma('cache_size = -65536');
    this.vectors = this.db.prepare('SELECT embedder, vector FROM memory_vectors ORDER BY memory_id DESC LIMIT 2').all() as Array<{ embedder: string; vector: Buffer }>;
    this.insertVector = this.db.prepare('INSERT INTO memory_vectors (memory_id, embedder, vector) VALUES (?, ?, ?)');
    this.touchSession = this.db.prepare('UPDATE sessions SET last_seen_at = ? WHERE id = ?');
    this.deletePending = this.db.prepare('DELETE FROM after_reply_pending WHERE reply_message_id = ?');
    this.claim = this.db.prepare("UPDATE jobs SET status = 'running', lease_until = ?, lease_owner = 'floor', attempts = attempts + 1 WHERE id = ?");
    this.complete = this.db.prepare("UPDATE jobs SET status = 'completed', updated_at = ? WHERE id = ?");
    this.touchRelationship = this.db.prepare(
      'UPDATE relationships SET interaction_count = interaction_count + 1, last_interaction = @now WHERE subject_id = @subject_id AND other_kind = @other_kind AND other_id = @other_id',
    );
    this.relationship = this.db.prepare('SELECT subject_id, other_kind, other_id FROM relationships LIMIT 1').get() as Record<string, string> | undefined;
    this.insertPending = this.db.prepare(
      "INSERT INTO after_reply_pending (reply_message_id, user_message_id, session_id, user_id, created_at, owner) VALUES (?, ?, 'bench_chat_session', NULL, ?, 'floor')",
    );
    this.insertJob = this.db.prepare(
      "INSERT INTO jobs (type, payload, status, attempts, max_attempts, run_after, created_at, updated_at) VALUES (?, ?, 'pending', 0, 5, ?, ?, ?)",
    );
    for (const table of ['messages', 'mood_samples', 'memories', 'relationship_events', 'message_threads']) this.template(table);
  }

  /** An INSERT of the table's newest row, its integer key left to SQLite. */
  private template(table: string): void {
    const row = this.db.prepare(`SELECT * FROM ${table} ORDER BY rowid DESC LIMIT 1`).get() as Record<string, unknown> | undefined;
    if (row === undefined) return;
    const key = table === 'message_threads' ? 'message_id' : 'id';
    const columns = Object.keys(row).filter((column) => column !== key);
    const statement = this.db.prepare(
      `INSERT INTO ${table} (${[key, ...columns].join(', ')}) VALUES (${[`@${key}`, ...columns.map((column) => `@${column}`)].join(', ')})`,
    );
    this.inserts.set(table, { statement, row: { ...row, [key]: null } });
  }

  private insert(table: string, changes: Record<string, unknown> = {}): number | bigint {
    const template = this.inserts.get(table);
    if (template === undefined) return 0;
    return template.statement.run({ ...template.row, ...changes }).lastInsertRowid;
  }

  /** How many rows of `table` this turn writes: its rate per turn, carried over in fractions. */
  private due(table: string, perTurn: number): number {
    const owed = (this.owed.get(table) ?? 0) + perTurn;
    const count = Math.floor(owed + 1e-9);
    this.owed.set(table, owed - count);
    return count;
  }

  userMessage(content: string): number | bigint {
    const now = Date.now();
    return this.db.transaction(() => {
      this.touchSession.run(now, 'bench_chat_session');
      return this.insert('messages', { role: 'user', content, created_at: now });
    }).immediate();
  }

  reply(content: string, userMessageId: number | bigint): number | bigint {
    const now = Date.now();
    return this.db.transaction(() => {
      const id = this.insert('messages', { role: 'assistant', content, created_at: now });
      this.insertPending.run(id, userMessageId, now);
      return id;
    }).immediate();
  }

  /** The after-reply batch: the jobs queued and claimed, the mood sample, topic filing, the pending record gone. */
  afterReply(userMessageId: number | bigint, replyId: number | bigint): void {
    const now = Date.now();
    this.db.transaction(() => {
      for (const [type, perTurn] of Object.entries(this.shape.jobsPerTurn)) {
        for (let index = this.due(`job:${type}`, perTurn); index > 0; index--) {
          const id = this.insertJob.run(type, JOB_PAYLOAD, now, now, now).lastInsertRowid;
          this.claim.run(now + 30_000, id);
          this.pendingJobs.push({ id, type });
        }
      }
      for (let index = this.due('mood_samples', this.shape.rowsPerTurn['mood_samples'] ?? 0); index > 0; index--) this.insert('mood_samples', { at: now });
      // Topic filing: the turn's two messages, as many of them as persona-mcp filed a turn.
      const filed = Math.min(2, this.due('message_threads', this.shape.rowsPerTurn['message_threads'] ?? 0));
      for (const messageId of [userMessageId, replyId].slice(2 - filed)) this.insert('message_threads', { message_id: messageId });
      this.deletePending.run(replyId);
    }).immediate();
  }

  /** The claimed jobs, one write transaction each with its completion: a formation's memories and vectors, a relationship's event and row. */
  runJobs(): void {
    const formations = this.pendingJobs.filter((job) => job.type.includes('form')).length || 1;
    for (const job of this.pendingJobs.splice(0)) {
      const now = Date.now();
      this.db.transaction(() => {
        if (job.type.includes('form')) {
          for (let index = this.due('memories', (this.shape.rowsPerTurn['memories'] ?? 0) / formations); index > 0; index--) {
            const memoryId = this.insert('memories', { created_at: now, last_accessed_at: now, decayed_at: now });
            for (const vector of this.vectors) this.insertVector.run(memoryId, vector.embedder, vector.vector);
          }
        } else if (job.type.includes('relation')) {
          this.insert('relationship_events', { at: now, message_id: null });
          if (this.relationship !== undefined) this.touchRelationship.run({ ...this.relationship, now });
        }
        this.complete.run(now, job.id);
      }).immediate();
    }
  }
}

