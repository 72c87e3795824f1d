/**
 * Which nodes are connected to the shared PostgreSQL store right now: each node holds a session-level
 * advisory lock on a random key of its own, on a connection of its own (outside the pool, whose idle
 * connections come and go), for as long as it runs. PostgreSQL drops the lock the moment that
 * connection closes — the process exited or was killed (the kernel closes its sockets) — so another node
 * can tell, in the same statement that takes over its work, that the owner is gone
 * ({@link OWNER_GONE}). A host that vanishes without closing its sockets keeps the lock until
 * PostgreSQL's TCP keepalive notices; the work's lease covers that case.
 *
 * A live node can lose that connection too (a `pg_terminate_backend`, a proxy or network hiccup): it
 * takes its lock again at once, under the same key, so its work stays its own; and a node takes over
 * another's work only when that node's lock is still gone {@link PRESENCE_GRACE_MS} after it first saw
 * it gone ({@link goneOwners}), so a live node's replies and jobs are not done a second time meanwhile.
 */
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { PostgresDatabase } from './database.js';

/**
 * How long a node's presence lock must stay gone before another node takes over its work: a live node
 * whose lock connection dropped takes its lock again within a few milliseconds (retrying every
 * {@link RETAKE_RETRY_MS} while the server refuses it); a dead one never does.
 */
export const PRESENCE_GRACE_MS = 1_000;
/** How often a node whose lock connection dropped tries again while it cannot connect. */
const RETAKE_RETRY_MS = 250;

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

/**
 * The presence keys, among those `keys` selects (a column `key`, with `values`), of nodes gone from the
 * store: holding no presence lock now, nor {@link PRESENCE_GRACE_MS} later (waited only when one is gone).
 * The caller's takeover checks {@link OWNER_GONE} again in its own statement and takes from these keys only.
 */
export async function goneOwners(db: PostgresDatabase, keys: string, values: unknown[]): Promise<number[]> {
  const look = async (): Promise<number[]> =>
    (await db.rows<{ key: number }>(`SELECT DISTINCT k.key FROM (${keys}) k WHERE ${OWNER_GONE('k.key')}`, values)).map((row) => row.key);
  const first = await look();
  if (first.length === 0) return [];
  await new Promise((resolve) => setTimeout(resolve, PRESENCE_GRACE_MS));
  const still = new Set(await look());
  return first.filter((key) => still.has(key));
}

const presences = new WeakMap<PostgresDatabase, NodePresence>();

/** The database's one presence (the store's replies and the job queue's claims are recorded under its key). */
export function nodePresence(db: PostgresDatabase): NodePresence {
  let presence = presences.get(db);
  if (presence === undefined) {
    presence = new NodePresence(db);
    presences.set(db, presence);
  }
  return presence;
}

export class NodePresence {
  /** This node's key: positive (and below 2^49), so pg_locks' unsigned halves give it back unchanged. */
  readonly key = randomBytes(6).readUIntBE(0, 6) + 1;
  private client: pg.Client | null = null;
  private holding: Promise<number | null> | null = null;
  private isClosed = false;
  private readonly gone = new WeakSet<pg.Client>();
  /** The next try to take the lock again after its connection dropped. */
  private retaking: NodeJS.Timeout | null = null;

  constructor(private readonly db: PostgresDatabase) {
    db.onClose(() => this.close());
  }

  /**
   * The key this node's work is recorded under, once its lock is held (taken on first use, taken again
   * at once after its connection was lost); null when it cannot be held now (that work is then taken
   * over by its lease alone).
   */
  async ownerKey(): Promise<number | null> {
    if (this.isClosed) return null;
    this.holding ??= this.hold();
    return this.holding;
  }

  private async hold(): Promise<number | null> {
    const client = this.db.newClient();
    // A lost connection (a PostgreSQL restart, a terminated backend) must not crash the process: the lock is taken again.
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    try {
      await client.connect();
      await client.query('SELECT pg_advisory_lock($1)', [this.key]);
    } catch {
      this.gone.add(client);
      void client.end().catch(() => undefined);
      this.holding = null;
      this.retake(RETAKE_RETRY_MS);
      return null;
    }
    if (this.isClosed) {
      this.gone.add(client);
      await client.end().catch(() => undefined);
      return null;
    }
    this.client = client;
    return this.key;
  }

  private lost(client: pg.Client): void {
    if (this.gone.has(client)) return;
    this.gone.add(client);
    void client.end().catch(() => undefined);
    // A connection still connecting: `hold` sees its failure.
    if (this.client !== client) return;
    this.client = null;
    this.holding = null;
    // At once, under the same key: the records and claims made under it stay this node's.
    this.retake(0);
  }

  private retake(delayMs: number): void {
    if (this.isClosed || this.retaking !== null) return;
    this.retaking = setTimeout(() => {
      this.retaking = null;
      if (!this.isClosed) this.holding ??= this.hold();
    }, delayMs);
    this.retaking.unref();
  }

  private async close(): Promise<void> {
    this.isClosed = true;
    if (this.retaking !== null) clearTimeout(this.retaking);
    this.retaking = null;
    await this.holding?.catch(() => null);
    const client = this.client;
    this.client = null;
    if (client !== null) this.gone.add(client);
    await client?.end().catch(() => undefined);
  }
}
