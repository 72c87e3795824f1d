import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from './database.js';
import { NeededWriteFailed, WriteBatch, writeBatch } from './write-batch.js';

let dir: string;
let db: Database;
let other: Database;

beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'write-batch-'));
  db = openDatabase(path.join(dir, 'test.db'));
  db.exec('CREATE TABLE notes (text TEXT NOT NULL UNIQUE)');
  other = openDatabase(path.join(dir, 'test.db'));
});

afterEach(() => {
  other.close();
  if (db.open) db.close();
  rmSync(dir, { recursive: true, force: true });
});

const insert = (text: string) => (): number => Number(db.prepare('INSERT INTO notes (text) VALUES (?)').run(text).lastInsertRowid);
const seenByOther = (): string[] => other.prepare<[], string>('SELECT text FROM notes ORDER BY rowid').pluck().all();

describe('WriteBatch', () => {
  it('commits the writes of one turn of the event loop in one transaction, each resolving with its result once committed', async () => {
    const batch = new WriteBatch(db);
    const seenDuringSecond: string[][] = [];
    const first = batch.defer(insert('filing'));
    const second = batch.defer(() => {
      // the first write is done but not committed: another connection does not see it yet
      seenDuringSecond.push(seenByOther());
      return insert('mood')();
    });
    expect(batch.size).toBe(2);
    expect(seenByOther()).toEqual([]);
    expect(await Promise.all([first, second])).toEqual([1, 2]);
    expect(seenDuringSecond).toEqual([[]]);
    expect(seenByOther()).toEqual(['filing', 'mood']);
    expect(db.inTransaction).toBe(false);
  });

  it('rolls back a failing write alone: it rejects with its error, the others commit', async () => {
    const batch = new WriteBatch(db);
    const kept = batch.defer(insert('kept'));
    const failing = batch.defer(() => {
      insert('half done')();
      insert('kept')(); // UNIQUE constraint
    });
    const after = batch.defer(insert('after'));
    await expect(failing).rejects.toThrow(/UNIQUE/);
    await Promise.all([kept, after]);
    expect(seenByOther()).toEqual(['kept', 'after']);
  });

  it('does not run a write whose needed write failed (in this batch or an earlier one), until that one succeeds again', async () => {
    const batch = new WriteBatch(db);
    const mood = batch.defer(insert('taken'), { name: 'mood' });
    const failedMood = batch.defer(insert('taken'), { name: 'mood' }); // UNIQUE constraint
    const sample = batch.defer(insert('sample of the failed change'), { needs: 'mood' });
    const unrelated = batch.defer(insert('unrelated'), { needs: 'other' });
    await mood;
    await expect(failedMood).rejects.toThrow(/UNIQUE/);
    await expect(sample).rejects.toBeInstanceOf(NeededWriteFailed);
    await unrelated;
    await expect(batch.defer(insert('still not'), { needs: 'mood' })).rejects.toBeInstanceOf(NeededWriteFailed);
    await batch.defer(insert('mood again'), { name: 'mood' });
    await batch.defer(insert('its sample'), { needs: 'mood' });
    expect(seenByOther()).toEqual(['taken', 'unrelated', 'mood again', 'its sample']);
  });

  it('writes at once on flush (a closing connection), and refuses writes once the connection is closed', async () => {
    const batch = new WriteBatch(db, 60_000);
    const waiting = batch.defer(insert('before close'));
    batch.flush();
    await waiting;
    expect(seenByOther()).toEqual(['before close']);
    const late = batch.defer(insert('too late'));
    db.close();
    batch.flush();
    await expect(late).rejects.toThrow(/closed/);
  });

  it('is one batch per connection', () => {
    expect(writeBatch(db)).toBe(writeBatch(db));
    expect(writeBatch(other)).not.toBe(writeBatch(db));
  });

  it('deferAndCommit commits the waiting writes with the last one at once, unless writes gather for a window', async () => {
    const batch = new WriteBatch(db);
    const first = batch.defer(insert('filing'));
    const second = batch.defer(insert('mood'));
    const last = batch.deferAndCommit(insert('pending cleared'));
    // one transaction, committed before deferAndCommit returned
    expect(seenByOther()).toEqual(['filing', 'mood', 'pending cleared']);
    expect(await Promise.all([first, second, last])).toEqual([1, 2, 3]);

    const gathering = new WriteBatch(db, 60_000);
    const held = gathering.deferAndCommit(insert('held'));
    expect(seenByOther()).toEqual(['filing', 'mood', 'pending cleared']);
    gathering.flush();
    expect(await held).toBe(4);
  });
});

