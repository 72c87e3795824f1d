/**
 * The CLI's state commands on data directories and against a running server: export/import, backup
 * under a concurrent write load and restore, and card files.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { readCardTexts } from '../../src/adapters/cards/png.js';
import { backupCommand, cardExportCommand, cardImportCommand, exportCommand, importCommand, restoreCommand } from '../../src/cli/state-commands.js';
import { startTestServer } from '../helpers/server.js';
import { countRows, databaseFile, dumpDatabase, fillDataDir, tempDir } from '../helpers/state-fixtures.js';

const dirs: string[] = [];
const dir = (): string => {
  const made = tempDir();
  dirs.push(made);
  return made;
};
const quiet = (): void => undefined;
afterAll(() => {
  for (const made of dirs) rmSync(made, { recursive: true, force: true });
});

describe('persona-mcp export / import', () => {
  it('moves a data directory into an empty one, after a dry run that changes nothing', async () => {
    const source = dir();
    await fillDataDir(source);
    const bundle = path.join(dir(), 'state.tar.gz');
    const lines: string[] = [];
    await exportCommand(bundle, { dataDir: source }, {}, (line) => lines.push(line));
    expect(lines[0]).toMatch(/^exported \d+ rows in \d+ tables to /);

    const target = dir();
    const dry: string[] = [];
    await importCommand(bundle, { dataDir: target }, { dryRun: true, onConflict: 'skip' }, (line) => dry.push(line));
    expect(dry[0]).toMatch(/^dry run: nothing was changed/);
    expect(dry).toContainEqual('  messages: 12 inserted');
    expect(countRows(databaseFile(target), 'messages')).toBe(0);

    await importCommand(bundle, { dataDir: target }, { dryRun: false, onConflict: 'skip' }, quiet);
    expect(dumpDatabase(databaseFile(target))).toEqual(dumpDatabase(databaseFile(source)));
  });

  it('refuses a direct import into a data dir a server is using, and works through --url instead', async () => {
    const source = dir();
    await fillDataDir(source);
    const bundle = path.join(dir(), 'tobias.tar.gz');
    await exportCommand(bundle, { dataDir: source }, { persona: ['tobias'] }, quiet);

    const server = await startTestServer();
    try {
      await expect(importCommand(bundle, { dataDir: server.dataDir }, { dryRun: false, onConflict: 'skip' }, quiet)).rejects.toThrow(/is using .*--url/);
      await importCommand(bundle, { url: server.server.websocketUrl }, { dryRun: false, onConflict: 'skip' }, quiet);
      const client = await server.connect();
      expect((await client.result('persona.get', { persona_id: 'tobias' })).name).toBe('Tobias');
      const back = path.join(dir(), 'back.tar.gz');
      await exportCommand(back, { url: server.server.websocketUrl }, { persona: ['tobias'] }, quiet);
      expect(readFileSync(back).subarray(0, 2)).toEqual(Buffer.from([0x1f, 0x8b]));
    } finally {
      await server.cleanup();
    }
  });
});

describe('persona-mcp backup / restore', () => {
  it('takes a consistent backup while the server keeps writing, and restores it once the server stops', async () => {
    const server = await startTestServer();
    const { store } = server.server;
    const conversation = await store.startConversation({ sessionId: 'ses_load_000001', kind: 'user', personaIds: ['aria'], topic: null, context: null, startedAt: 1, tokenBudget: null });
    let writes = 0;
    let writing = true;
    // Each turn writes a message and Aria's state in one transaction: a consistent copy has both or neither.
    const load = (async () => {
      while (writing) {
        writes += 1;
        await store.appendAssistantTurn({
          conversationId: conversation.id,
          personaId: 'aria',
          content: `load ${writes}`,
          tokens: 1,
          promptTokens: 1,
          processingMs: 1,
          now: writes,
          personaState: { energy: writes, fatigue: 0, updatedAt: writes, cooldownUntil: null },
        });
        await new Promise((resolve) => setImmediate(resolve));
      }
    })();
    let backup: string;
    try {
      while (writes < 50) await new Promise((resolve) => setTimeout(resolve, 5));
      backup = await backupCommand(path.join(dir(), 'copy.db'), { dataDir: server.dataDir }, quiet);
      const atBackup = writes;
      while (writes < atBackup + 50) await new Promise((resolve) => setTimeout(resolve, 5));
      writing = false;
      await load;

      const copy = new BetterSqlite3(backup, { readonly: true });
      try {
        expect(copy.pragma('integrity_check', { simple: true })).toBe('ok');
        const last = copy.prepare<[], number>("SELECT max(CAST(substr(content, 6) AS INTEGER)) FROM messages WHERE content LIKE 'load %'").pluck().get() ?? 0;
        const energy = copy.prepare<[], number>("SELECT energy FROM persona_state WHERE persona_id = 'aria'").pluck().get();
        expect(last).toBeGreaterThanOrEqual(50);
        expect(last).toBeLessThan(writes);
        expect(energy).toBe(last);
        expect(copy.prepare("SELECT count(*) FROM messages WHERE content LIKE 'load %'").pluck().get()).toBe(last);
      } finally {
        copy.close();
      }

      await expect(restoreCommand(backup, { dataDir: server.dataDir }, quiet)).rejects.toThrow(/server \(pid \d+\) is using/);
    } finally {
      writing = false;
      await load;
      await server.stop();
    }
    const lines: string[] = [];
    await restoreCommand(backup, { dataDir: server.dataDir }, (line) => lines.push(line));
    expect(lines[0]).toMatch(/previous database was kept as .*before-restore-/);
    const restoredCount = countRows(databaseFile(server.dataDir), 'messages', "content LIKE 'load %'");
    expect(restoredCount).toBe(countRows(backup, 'messages', "content LIKE 'load %'"));
    expect(restoredCount).toBeLessThan(writes);
    await server.cleanup();
  });

  it('refuses to restore a file that is not a backup, and leaves the database alone', async () => {
    const target = dir();
    await fillDataDir(target);
    const before = dumpDatabase(databaseFile(target));
    const junk = path.join(dir(), 'junk.db');
    writeFileSync(junk, 'definitely not sqlite');
    await expect(restoreCommand(junk, { dataDir: target }, quiet)).rejects.toMatchObject({ kind: 'invalid_bundle' });
    expect(dumpDatabase(databaseFile(target))).toEqual(before);
    expect(existsSync(`${databaseFile(target)}.restoring`)).toBe(false);
  });

  it('backs up through a running server into its backup folder', async () => {
    const server = await startTestServer();
    try {
      const file = await backupCommand(undefined, { url: server.server.websocketUrl }, quiet);
      expect(path.dirname(file)).toBe(path.join(server.dataDir, 'backups'));
      expect(countRows(file, 'personas')).toBe(2);
    } finally {
      await server.cleanup();
    }
  });
});

describe('persona-mcp card', () => {
  it('imports a JSON card into a data dir and exports it as a V3 PNG', async () => {
    const target = dir();
    const id = await cardImportCommand(path.resolve('test/fixtures/cards/seraphina-v2.json'), { dataDir: target }, undefined, quiet);
    expect(id).toBe('seraphina');
    const out = path.join(dir(), 'seraphina.png');
    await cardExportCommand('Seraphina', out, { dataDir: target }, { spec: 'v3' }, quiet);
    const texts = readCardTexts(readFileSync(out));
    expect(JSON.parse(texts.ccv3 as string).data.extensions.someone_elses_app).toEqual({ colour: 'green', nested: { list: [1, 2, 3] } });
  });
});
