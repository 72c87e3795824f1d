import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from './database.js';
import { immediateTransaction } from './transactions.js';

let db: Database;

beforeEach(() => {
  db = openDatabase(':memory:');
  db.exec('CREATE TEMP TABLE notes (text TEXT NOT NULL)');
});

afterEach(() => db.close());

const notes = (): string[] => db.prepare<[], string>('SELECT text FROM temp.notes ORDER BY rowid').pluck().all();

describe('immediateTransaction', () => {
  it('is one wrapper per connection, committing each piece of work with its result', () => {
    const run = immediateTransaction(db);
    expect(immediateTransaction(db)).toBe(run);
    expect(run(() => db.prepare('INSERT INTO temp.notes (text) VALUES (?)').run('first').changes)).toBe(1);
    expect(db.inTransaction).toBe(false);
    expect(notes()).toEqual(['first']);
  });

  it('rolls back work that throws, and rethrows its error', () => {
    const run = immediateTransaction(db);
    expect(() =>
      run(() => {
        db.prepare('INSERT INTO temp.notes (text) VALUES (?)').run('lost');
        throw new Error('no');
      }),
    ).toThrow('no');
    expect(db.inTransaction).toBe(false);
    expect(notes()).toEqual([]);
  });

  it('nests as a savepoint: an inner failure undoes the inner work only', () => {
    const run = immediateTransaction(db);
    run(() => {
      db.prepare('INSERT INTO temp.notes (text) VALUES (?)').run('outer');
      expect(() =>
        run(() => {
          db.prepare('INSERT INTO temp.notes (text) VALUES (?)').run('inner');
          throw new Error('inner failed');
        }),
      ).toThrow('inner failed');
      expect(db.inTransaction).toBe(true);
    });
    expect(notes()).toEqual(['outer']);
  });
});
