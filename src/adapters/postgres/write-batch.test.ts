/**
 * The PostgreSQL write batch (`write-batch.ts`) on the test server: writes asked for at one moment commit
 * in one transaction, each in its own savepoint; a failing write rejects alone; closing commits what waits.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { dropFreshPostgres, freshPostgres, postgresAvailable } from '../../../test/helpers/store-backend.js';
import { PostgresDatabase } from './database.js';
import { PgWriteBatch } from './write-batch.js';

const available = await postgresAvailable();

describe.skipIf(!available.ok)('PgWriteBatch', () => {
  afterEach(async () => {
    await dropFreshPostgres();
  });

  const setting = async (db: PostgresDatabase, key: string): Promise<string | null> =>
    (await db.one<{ value: string }>('SELECT value FROM settings WHERE key = $1', [key]))?.value ?? null;
  const put = (key: string, value: string) => (tx: { one: PostgresDatabase['one'] }) =>
    tx.one<{ tx: string }>('INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, 1) RETURNING txid_current()::text AS tx', [key, value]);

  it('commits the writes of one moment in one transaction; a failing one rolls back alone and rejects with its own error', async () => {
    const db = await freshPostgres();
    const batch = new PgWriteBatch(db);
    const [first, failing, last] = await Promise.allSettled([
      batch.defer(put('a', '1')),
      batch.defer(async (tx) => {
        await tx.query("INSERT INTO settings (key, value, updated_at) VALUES ('b', '2', 1)");
        await tx.query('SELECT * FROM no_such_table');
      }),
      batch.defer(put('c', '3')),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(last.status).toBe('fulfilled');
    // one transaction for both
    expect((first as PromiseFulfilledResult<{ tx: string }>).value.tx).toBe((last as PromiseFulfilledResult<{ tx: string }>).value.tx);
    expect(failing.status).toBe('rejected');
    expect(String((failing as PromiseRejectedResult).reason)).toMatch(/no_such_table/);
    expect([await setting(db, 'a'), await setting(db, 'b'), await setting(db, 'c')]).toEqual(['1', null, '3']);
  });

  it('commits batches one after another, in the order they were asked for', async () => {
    const db = await freshPostgres();
    const batch = new PgWriteBatch(db);
    const order: string[] = [];
    const slow = batch.defer(async (tx) => {
      await tx.query('SELECT pg_sleep(0.05)');
      order.push('first');
    });
    await new Promise((resolve) => setImmediate(resolve));
    // asked while the first batch commits: waits for it
    const next = batch.defer(async () => {
      order.push('second');
    });
    await Promise.all([slow, next]);
    expect(order).toEqual(['first', 'second']);
  });

  it('commits the writes still waiting when the database closes', async () => {
    const db = await freshPostgres();
    const batch = new PgWriteBatch(db, 60_000);
    const waiting = batch.defer(put('held', 'yes'));
    expect(batch.size).toBe(1);
    await db.close();
    await waiting;
    const reader = await freshPostgres();
    expect(await setting(reader, 'held')).toBe('yes');
  });
});

describe.skipIf(available.ok)('PgWriteBatch', () => {
  it.skip(`skipped: ${available.ok ? '' : available.reason}`, () => {});
});
