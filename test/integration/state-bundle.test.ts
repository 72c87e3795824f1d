/** Export and import of whole and partial state bundles, through the SQLite archive adapter. */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStateArchive } from '../../src/adapters/bundle/sqlite-archive.js';
import type { ImportReport, Selection } from '../../src/ports/archive.js';
import { countRows, databaseFile, DAY, dumpDatabase, fillDataDir, hasTable, repack, T0, tempDir, unpack } from '../helpers/state-fixtures.js';

const dirs: string[] = [];
let source: string;
let fullBundle: string;

function newDir(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

function archiveOf(dataDir: string): SqliteStateArchive {
  return new SqliteStateArchive(databaseFile(dataDir), 'test');
}

const exported = new Map<string, Promise<string>>();
/** The bundle of `selection` from the source data dir (made once; tests only read it). */
function exportOf(selection: Selection): Promise<string> {
  const key = JSON.stringify(selection);
  let file = exported.get(key);
  if (file === undefined) {
    const out = path.join(newDir(), 'bundle.tar.gz');
    file = archiveOf(source).exportBundle(out, selection).then(() => out);
    exported.set(key, file);
  }
  return file;
}

function importInto(dataDir: string, bundle: string | Buffer, options: Partial<{ dryRun: boolean; onConflict: 'skip' | 'replace' | 'rename' }> = {}): Promise<ImportReport> {
  const bytes = typeof bundle === 'string' ? readFileSync(bundle) : bundle;
  return archiveOf(dataDir).importBundle(Readable.from([bytes]), { dryRun: options.dryRun ?? false, onConflict: options.onConflict ?? 'skip' });
}

function tableReport(report: ImportReport, table: string) {
  const found = report.tables.find((entry) => entry.table === table);
  if (found === undefined) throw new Error(`no report for ${table}`);
  return found;
}

beforeAll(async () => {
  source = newDir();
  await fillDataDir(source);
  fullBundle = await exportOf({ kind: 'all' });
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('full export and import', () => {
  it('restores every row of every table into an empty data dir, and search works there', async () => {
    const target = newDir();
    const report = await importInto(target, fullBundle);
    expect(report.conflictCount).toBe(0);
    expect(tableReport(report, 'messages')).toMatchObject({ rows: 12, inserted: 12 });
    expect(dumpDatabase(databaseFile(target))).toEqual(dumpDatabase(databaseFile(source)));

    const db = new BetterSqlite3(databaseFile(target), { readonly: true });
    try {
      if (hasTable(db, 'memories_fts')) {
        const hits = db.prepare<[], { content: string }>("SELECT m.content FROM memories_fts f JOIN memories m ON m.id = f.rowid WHERE memories_fts MATCH 'bees'").all();
        expect(hits.map((hit) => hit.content)).toEqual(['Alice keeps honey bees on her roof']);
      }
    } finally {
      db.close();
    }
  });

  it('lists what it left out and why in the manifest', async () => {
    const entries = await unpack(readFileSync(fullBundle));
    const manifest = JSON.parse((entries.get('manifest.json') as Buffer).toString('utf8'));
    expect(manifest).toMatchObject({ format: 'persona-mcp-bundle', formatVersion: 1, selection: { kind: 'all' } });
    expect([...entries.keys()][0]).toBe('manifest.json');
    expect(manifest.excluded.map((entry: { table: string }) => entry.table)).toContain('schema_migrations');
    const messages = manifest.tables.find((entry: { table: string }) => entry.table === 'messages');
    expect(messages.rows).toBe(12);
    expect(messages.sha256).toBe(createHash('sha256').update(entries.get('tables/messages.jsonl') as Buffer).digest('hex'));
  });

  it('changes nothing when the same bundle is imported again', async () => {
    const target = newDir();
    await importInto(target, fullBundle);
    const before = dumpDatabase(databaseFile(target));
    const again = await importInto(target, fullBundle, { onConflict: 'replace' });
    expect(again.tables.every((table) => table.inserted + table.replaced + table.renamed + table.skipped === 0)).toBe(true);
    expect(tableReport(again, 'messages').unchanged).toBe(12);
    expect(dumpDatabase(databaseFile(target))).toEqual(before);
  });
});

describe('refused bundles change nothing', () => {
  let target: string;
  let before: Record<string, unknown[]>;

  beforeAll(async () => {
    target = newDir();
    await importInto(target, await exportOf({ kind: 'personas', personaIds: ['aria'] }));
    before = dumpDatabase(databaseFile(target));
  });

  async function expectRefused(bundle: Buffer, reason: string, message: RegExp): Promise<void> {
    const error = await importInto(target, bundle, { onConflict: 'replace' }).then(() => null, (caught: unknown) => caught);
    expect(error).toMatchObject({ kind: 'invalid_bundle', reason });
    expect((error as Error).message).toMatch(message);
    expect(dumpDatabase(databaseFile(target))).toEqual(before);
  }

  it('refuses a tampered table file (checksum mismatch)', async () => {
    const entries = await unpack(readFileSync(fullBundle));
    const messages = (entries.get('tables/messages.jsonl') as Buffer).toString('utf8').replace('answer 0 from aria', 'answer 0 from evil');
    entries.set('tables/messages.jsonl', Buffer.from(messages));
    await expectRefused(await repack(entries), 'checksum_mismatch', /tables\/messages\.jsonl does not match its checksum/);
  });

  it('refuses a truncated (corrupt) file', async () => {
    const bytes = readFileSync(fullBundle);
    await expectRefused(bytes.subarray(0, Math.floor(bytes.length / 2)), 'corrupt', /cannot be read|not a valid gzip/);
  });

  it('refuses something that is not a bundle at all', async () => {
    await expectRefused(Buffer.from('hello, I am not a bundle'), 'corrupt', /gzip|cannot be read/);
  });

  it('refuses a bundle with a file the manifest does not list', async () => {
    const entries = await unpack(readFileSync(fullBundle));
    entries.set('tables/extra.jsonl', Buffer.from('{}\n'));
    await expectRefused(await repack(entries), 'corrupt', /does not list: tables\/extra\.jsonl/);
  });

  it('refuses a bundle from a newer schema version, naming both versions', async () => {
    const entries = await unpack(readFileSync(fullBundle));
    const manifest = JSON.parse((entries.get('manifest.json') as Buffer).toString('utf8'));
    manifest.schemaVersion = 999;
    manifest.migrations.push(999);
    entries.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
    await expectRefused(await repack(entries), 'newer_version', /schema version 999.*upgrade persona-mcp/);
  });

  it('refuses a row that breaks the schema (type check by SQLite), with the file and line', async () => {
    const entries = await unpack(readFileSync(fullBundle));
    const lines = (entries.get('tables/messages.jsonl') as Buffer).toString('utf8').split('\n');
    const row = JSON.parse(lines[1] as string);
    row.tokens = 'many';
    lines[1] = JSON.stringify(row);
    const content = Buffer.from(lines.join('\n'));
    entries.set('tables/messages.jsonl', content);
    const manifest = JSON.parse((entries.get('manifest.json') as Buffer).toString('utf8'));
    const entry = manifest.tables.find((table: { table: string }) => table.table === 'messages');
    entry.sha256 = createHash('sha256').update(content).digest('hex');
    entry.bytes = content.length;
    entries.set('manifest.json', Buffer.from(JSON.stringify(manifest)));
    await expectRefused(await repack(entries), 'invalid_rows', /tables\/messages\.jsonl line 2/);
  });
});

describe('dry run and conflict policies', () => {
  async function targetWithChangedAria(): Promise<string> {
    const target = newDir();
    await importInto(target, fullBundle);
    const db = new BetterSqlite3(databaseFile(target));
    try {
      db.prepare("UPDATE personas SET definition = json_set(definition, '$.description', 'Local Aria'), updated_at = updated_at + 1 WHERE id = 'aria'").run();
      // A local message that takes the id the next imported message would have.
      db.prepare("INSERT INTO messages (conversation_id, role, persona_id, content, tokens, created_at) SELECT conversation_id, 'user', NULL, 'local only', 1, 0 FROM messages LIMIT 1").run();
    } finally {
      db.close();
    }
    return target;
  }
  const description = (dataDir: string, id: string): string | undefined => {
    const db = new BetterSqlite3(databaseFile(dataDir), { readonly: true });
    try {
      return db.prepare<[string], string>("SELECT json_extract(definition, '$.description') FROM personas WHERE id = ?").pluck().get(id);
    } finally {
      db.close();
    }
  };

  it('dry run reports what would change and changes nothing', async () => {
    const target = newDir();
    const report = await importInto(target, fullBundle, { dryRun: true });
    expect(report.dryRun).toBe(true);
    expect(tableReport(report, 'messages').inserted).toBe(12);
    expect(tableReport(report, 'personas').inserted).toBe(3);
    expect(countRows(databaseFile(target), 'messages')).toBe(0);
    expect(countRows(databaseFile(target), 'personas')).toBe(0);
  });

  it('skip keeps the stored row', async () => {
    const target = await targetWithChangedAria();
    const report = await importInto(target, fullBundle, { onConflict: 'skip' });
    expect(tableReport(report, 'personas')).toMatchObject({ skipped: 1, unchanged: 2 });
    expect(report.conflicts).toContainEqual(expect.objectContaining({ table: 'personas', key: 'aria', action: 'skipped' }));
    expect(description(target, 'aria')).toBe('Local Aria');
  });

  it('replace overwrites the stored row in place, keeping what points at it', async () => {
    const target = await targetWithChangedAria();
    const messagesBefore = countRows(databaseFile(target), 'messages');
    const report = await importInto(target, fullBundle, { onConflict: 'replace' });
    expect(tableReport(report, 'personas').replaced).toBe(1);
    expect(description(target, 'aria')).not.toBe('Local Aria');
    expect(countRows(databaseFile(target), 'messages')).toBe(messagesBefore);
  });

  it('rename imports the row under a new id and name, and its references follow', async () => {
    const target = await targetWithChangedAria();
    const report = await importInto(target, fullBundle, { onConflict: 'rename' });
    expect(report.conflicts).toContainEqual(expect.objectContaining({ table: 'personas', key: 'aria', action: 'renamed', to: 'aria-imported' }));
    expect(description(target, 'aria')).toBe('Local Aria');
    const db = new BetterSqlite3(databaseFile(target), { readonly: true });
    try {
      const renamed = db.prepare<[], { name: string; definition: string }>("SELECT name, definition FROM personas WHERE id = 'aria-imported'").get();
      expect(renamed?.name).toBe('Aria (imported)');
      expect(JSON.parse(renamed?.definition ?? '{}')).toMatchObject({ id: 'aria-imported', name: 'Aria (imported)' });
      expect(db.prepare("SELECT count(*) FROM persona_state WHERE persona_id = 'aria-imported'").pluck().get()).toBe(1);
    } finally {
      db.close();
    }
  });

  it('renumbers imported messages whose ids are taken, in order, and keeps their conversations', async () => {
    const target = newDir();
    await importInto(target, await exportOf({ kind: 'personas', personaIds: ['aria'] }));
    const db = new BetterSqlite3(databaseFile(target));
    try {
      // Local messages take ids 5..8, which Kira's messages have in the bundle.
      const insert = db.prepare("INSERT INTO messages (conversation_id, role, content, tokens, created_at) SELECT conversation_id, 'system', 'local', 0, 0 FROM messages LIMIT 1");
      for (let index = 0; index < 4; index += 1) insert.run();
    } finally {
      db.close();
    }
    const report = await importInto(target, await exportOf({ kind: 'personas', personaIds: ['kira'] }));
    expect(tableReport(report, 'messages')).toMatchObject({ inserted: 4, renumbered: 4 });
    const check = new BetterSqlite3(databaseFile(target), { readonly: true });
    try {
      const kira = check
        .prepare<[], { id: number; content: string }>("SELECT m.id, m.content FROM messages m JOIN conversation_personas p USING (conversation_id) WHERE p.persona_id = 'kira' ORDER BY m.id")
        .all();
      expect(kira.map((message) => message.content)).toEqual(['question 0 for kira about honey bees', 'answer 0 from kira', 'question 1 for kira about honey bees', 'answer 1 from kira']);
      expect(kira.map((message) => message.id)).toEqual([9, 10, 11, 12]);
    } finally {
      check.close();
    }
  });
});

describe('selective export', () => {
  const tablesOf = async (file: string): Promise<Record<string, string[]>> => {
    const entries = await unpack(readFileSync(file));
    const result: Record<string, string[]> = {};
    for (const [name, content] of entries) {
      if (name === 'manifest.json') continue;
      result[name.replace(/^tables\/|\.jsonl$/g, '')] = content.toString('utf8').split('\n').filter(Boolean);
    }
    return result;
  };
  const ids = (lines: string[] | undefined, column = 'id'): unknown[] => (lines ?? []).map((line) => JSON.parse(line)[column]).sort();

  it('one persona: the persona, its state and its conversations, not the others nor the sessions', async () => {
    const tables = await tablesOf(await exportOf({ kind: 'personas', personaIds: ['tobias'] }));
    expect(ids(tables.personas)).toEqual(['tobias']);
    expect(ids(tables.persona_state, 'persona_id')).toEqual(['tobias']);
    expect(tables.messages).toHaveLength(4);
    expect(tables.sessions ?? []).toHaveLength(0);
    expect(tables.persona_seeds).toBeUndefined();
    // The conversation's session is not exported, so its reference is cleared.
    expect(ids(tables.conversations, 'session_id')).toEqual([null]);
    if (tables.memories !== undefined) expect(ids(tables.memories, 'persona_id')).toEqual(['tobias']);
  });

  it('one user: their sessions and conversations, with the personas they talked to', async () => {
    const tables = await tablesOf(await exportOf({ kind: 'user', userId: 'alice' }));
    expect(ids(tables.sessions)).toEqual(['ses_alice_000001']);
    expect(ids(tables.personas)).toEqual(['aria', 'kira']);
    expect(tables.messages).toHaveLength(8);
  });

  it('a date range: the rows dated inside it, with the rows they need', async () => {
    const file = await exportOf({ kind: 'range', from: T0 + DAY, to: T0 + 2 * DAY });
    const tables = await tablesOf(file);
    expect(tables.messages).toHaveLength(4);
    expect(ids(tables.messages, 'persona_id').filter(Boolean)).toEqual(['kira', 'kira']);
    expect(tables.conversations).toHaveLength(1);
    // A partial bundle imports cleanly into an empty data dir.
    const target = newDir();
    const report = await importInto(target, file);
    expect(report.conflictCount).toBe(0);
    expect(countRows(databaseFile(target), 'messages')).toBe(4);
  });

  it('a persona bundle can be shared: written to a file and imported elsewhere', async () => {
    const file = await exportOf({ kind: 'personas', personaIds: ['aria'] });
    const copy = path.join(newDir(), 'copy.tar.gz');
    writeFileSync(copy, readFileSync(file));
    const target = newDir();
    await importInto(target, copy);
    expect(countRows(databaseFile(target), 'personas')).toBe(1);
    expect(countRows(databaseFile(target), 'messages')).toBe(4);
  });
});
