/**
 * Which nodes are connected to the shared PostgreSQL store right now: each node holds a session-level
 * advisory lock on a random key of its own, on a connection of its own (outside the pool, whose idle
 * connections come and go), for as long as it runs. PostgreSQL drops the lock the moment that
 * connection closes — the process exited or was killed (the kernel closes its sockets) — so another node
 * can tell, in the same statement that takes over its work, that the owner is gone
 * ({@link OWNER_GONE}). A host that vanishes without closing its sockets keeps the lock until
 * PostgreSQL's TCP keepalive notices; the work's lease covers that case.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { PostgresDatabase } from './database.js';

/**
 * SQL true when the node whose presence key is the column `keyColumn` holds no presence lock (false for
 * no key: work recorded without one is taken over by its lease alone). An advisory lock on a bigint key
 * shows in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
 */
export function OWNER_GONE(keyColumn: string): string {
  return `(${keyColumn} IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND ((l.classid::bigint << 32) | l.objid::bigint) = ${keyColumn}))`;
}

export class NodePresence {
  /** This node's key: positive (and below 2^49), so pg_locks' unsigned halves give it back unchanged. */
  readonly key = randomBytes(6).readUIntBE(0, 6) + 1;
  private client: pg.Client | null = null;
  private holding: Promise<number | null> | null = null;
  private isClosed = false;
  private readonly gone = new WeakSet<pg.Client>();

  constructor(private readonly db: PostgresDatabase) {
    db.onClose(() => this.close());
  }

  /**
   * The key this node's work is recorded under, once its lock is held (taken on first use, taken again
   * after its connection was lost); null when it cannot be held now (that work is then taken over by
   * its lease alone).
   */
  async ownerKey(): Promise<number | null> {
    if (this.isClosed) return null;
    this.holding ??= this.hold();
    return this.holding;
  }

  private async hold(): Promise<number | null> {
    const client = this.db.newClient();
    // A lost connection (a PostgreSQL restart) must not crash the process: the lock is taken again next time.
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query('SELECT pg_advisory_lock($1)', [this.key]);
    } catch {
      this.lost(client);
      return null;
    }
    if (this.isClosed) {
      await client.end().catch(() => undefined);
      return null;
    }
    this.client = client;
    return this.key;
  }

  private lost(client: pg.Client): void {
    if (this.gone.has(client)) return;
    this.gone.add(client);
    if (this.client === client || this.client === null) {
      this.client = null;
      this.holding = null;
    }
    void client.end().catch(() => undefined);
  }

  private async close(): Promise<void> {
    this.isClosed = true;
    await this.holding?.catch(() => null);
    const client = this.client;
    this.client = null;
    if (client !== null) this.gone.add(client);
    await client?.end().catch(() => undefined);
  }
}
