/**
 * Helpers for the state tests: a data directory filled with realistic state through the store (and,
 * where the schema has them, memory and social rows through SQL), a table-by-table dump to compare
 * databases, and tools to open and re-pack a bundle the way a tamperer would.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gunzipSync, gzipSync } from 'node:zlib';
import BetterSqlite3 from 'better-sqlite3';
import * as tar from 'tar-stream';
import { DATABASE_FILE_NAME } from '../../src/app/app.js';
import { loadPersonaFiles, shippedPersonasDir } from '../../src/adapters/persona-files.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import { buildPersonaDefinition } from '../../src/domain/persona-schema.js';

export const T0 = Date.UTC(2026, 0, 10, 12, 0, 0);
export const DAY = 86_400_000;

export function tempDir(prefix = 'persona-mcp-state-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function databaseFile(dataDir: string): string {
  return path.join(dataDir, DATABASE_FILE_NAME);
}

/**
 * Aria, Kira and a custom persona (Tobias); two sessions; three conversations over three days with
 * chat turns; memories with vectors when the schema has them.
 */
export async function fillDataDir(dataDir: string): Promise<void> {
  const store = SqliteStore.open(databaseFile(dataDir));
  try {
    await store.seedPersonas(loadPersonaFiles(shippedPersonasDir()), T0);
    await store.insertPersona(buildPersonaDefinition({ name: 'Tobias', description: 'A retired knight who tends bees.', personality_traits: ['gruff'] }), T0);
    await store.touchSession('ses_alice_000001', T0, 'alice');
    await store.touchSession('ses_bob_00000001', T0, 'bob');
    const turns: Array<[string, string, number]> = [
      ['ses_alice_000001', 'aria', T0 + 1_000],
      ['ses_alice_000001', 'kira', T0 + DAY],
      ['ses_bob_00000001', 'tobias', T0 + 2 * DAY],
    ];
    for (const [sessionId, personaId, now] of turns) {
      for (let index = 0; index < 2; index += 1) {
        const at = now + index * 60_000;
        const { conversation } = await store.appendUserTurn({ sessionId, personaId, content: `question ${index} for ${personaId} about honey bees`, tokens: 7, now: at });
        await store.appendAssistantTurn({
          conversationId: conversation.id,
          personaId,
          content: `answer ${index} from ${personaId}`,
          tokens: 5,
          promptTokens: 40,
          processingMs: 120,
          now: at + 1_000,
          personaState: { energy: 100 - index, fatigue: 0.1 * index, updatedAt: at + 1_000, cooldownUntil: null },
        });
      }
    }
    await store.setActivePersona('ses_alice_000001', 'kira', T0 + DAY);
  } finally {
    await store.close();
  }
  const db = new BetterSqlite3(databaseFile(dataDir));
  try {
    if (hasTable(db, 'memories')) {
      const insert = db.prepare(
        `INSERT INTO memories (persona_id, kind, content, importance, importance_source, visibility, session_id, conversation_id, message_id, created_at, last_accessed_at, access_count, decayed_at)
         SELECT ?, 'observation', ?, 0.7, 'heuristic', 'private', c.session_id, m.conversation_id, m.id, m.created_at, m.created_at, 0, m.created_at
         FROM messages m JOIN conversations c ON c.id = m.conversation_id WHERE m.persona_id = ? LIMIT 1`,
      );
      insert.run('aria', 'Alice keeps honey bees on her roof', 'aria');
      insert.run('tobias', 'Bob asked about swarming season', 'tobias');
      if (hasTable(db, 'memory_vectors')) {
        db.prepare("INSERT INTO memory_vectors (memory_id, embedder, vector) SELECT id, 'test-embedder', ? FROM memories").run(Buffer.from(new Float32Array([0.25, -1, 3.5]).buffer));
      }
    }
  } finally {
    db.close();
  }
}

export function hasTable(db: BetterSqlite3.Database, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** Every row of every ordinary table (not schema_migrations, not search-index internals), sorted. */
export function dumpDatabase(file: string, options: { skip?: string[] } = {}): Record<string, unknown[]> {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    const skip = new Set(['schema_migrations', ...(options.skip ?? [])]);
    const tables = db
      .prepare<[], { name: string }>("SELECT name FROM pragma_table_list WHERE type = 'table' AND schema = 'main' AND name NOT LIKE 'sqlite_%' ORDER BY name")
      .all()
      .map((row) => row.name)
      .filter((name) => !skip.has(name));
    const dump: Record<string, unknown[]> = {};
    for (const table of tables) {
      dump[table] = db
        .prepare(`SELECT * FROM "${table}"`)
        .raw()
        .all()
        .map((row) => JSON.stringify(row, (_key, value: unknown) => (Buffer.isBuffer(value) ? value.toString('base64') : value)))
        .sort();
    }
    return dump;
  } finally {
    db.close();
  }
}

export function countRows(file: string, table: string, where = '1'): number {
  const db = new BetterSqlite3(file, { readonly: true });
  try {
    return db.prepare<[], number>(`SELECT count(*) FROM "${table}" WHERE ${where}`).pluck().get() ?? 0;
  } finally {
    db.close();
  }
}

/** The entries of a .tar.gz bundle, by name. */
export async function unpack(bundle: Buffer): Promise<Map<string, Buffer>> {
  const extract = tar.extract();
  Readable.from([gunzipSync(bundle)]).pipe(extract);
  const entries = new Map<string, Buffer>();
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    for await (const chunk of entry as AsyncIterable<Buffer>) chunks.push(chunk);
    entries.set(entry.header.name, Buffer.concat(chunks));
  }
  return entries;
}

/** Packs entries (in the given order) into a .tar.gz. */
export async function repack(entries: Map<string, Buffer>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of entries) pack.entry({ name, size: content.length }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  return gzipSync(Buffer.concat(chunks));
}
