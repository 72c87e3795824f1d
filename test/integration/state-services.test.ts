/** The state and config services on a real store: audited live settings, and scheduled backups with retention. */
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { FileBackupFolder } from '../../src/adapters/bundle/backup-folder.js';
import { SqliteStateArchive } from '../../src/adapters/bundle/sqlite-archive.js';
import { InProcessEventBus } from '../../src/adapters/events/in-process-bus.js';
import { SqliteSettingsStore } from '../../src/adapters/sqlite/settings-store.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import { loadPersonaFiles, shippedPersonasDir } from '../../src/adapters/persona-files.js';
import { ConfigService } from '../../src/services/config/config-service.js';
import { PersonaService } from '../../src/services/persona-service.js';
import { StateService } from '../../src/services/state/state-service.js';
import { databaseFile, tempDir } from '../helpers/state-fixtures.js';

const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

async function setup() {
  const dataDir = tempDir();
  dirs.push(dataDir);
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _encoding, done) => { lines.push(JSON.parse(String(chunk))); done(); } }));
  let now = Date.UTC(2026, 10, 25, 12, 0, 0);
  const clock = { now: () => now };
  const store = SqliteStore.open(databaseFile(dataDir));
  const events = new InProcessEventBus(() => undefined);
  const personas = new PersonaService(store, clock, events);
  await personas.initialise(loadPersonaFiles(shippedPersonasDir()));
  return { dataDir, lines, logger, clock, advance: (ms: number) => (now += ms), store, events, personas };
}

describe('ConfigService', () => {
  it('applies a change to the live objects, persists it and writes an audit line', async () => {
    const { store, personas, logger, lines, clock, dataDir } = await setup();
    const targets = {
      chat: { defaultModel: 'llama3.1:8b', defaultTokenBudget: 500, maxTokenBudget: 4096, maxMessageChars: 16_000, historyMessages: 200, contextTokens: 4096 },
      retention: { sessionIdleMs: 3_600_000, messageMaxAgeMs: 0, maxMessagesPerConversation: 10_000, moodHistoryMaxAgeMs: 0, maxMoodSamplesPerPersona: 0 },
      backup: { intervalHours: 0, keep: 7 },
      logger,
    };
    const repository = new SqliteSettingsStore(store.database, databaseFile(dataDir));
    const config = new ConfigService({ repository, targets, personas, clock, logger });
    await config.set({ 'llm.model': 'tiny:1b', 'retention.sessionIdleHours': 2, logLevel: 'warn' }, 'admin-user');
    expect(targets.chat.defaultModel).toBe('tiny:1b');
    expect(targets.retention.sessionIdleMs).toBe(7_200_000);
    expect(logger.level).toBe('warn');
    expect(lines).toContainEqual(expect.objectContaining({ audit: 'config.set', actor: 'admin-user', key: 'llm.model', from: 'llama3.1:8b', to: 'tiny:1b' }));
    expect((await repository.list()).map((setting) => [setting.key, setting.value, setting.updatedBy])).toContainEqual(['llm.model', 'tiny:1b', 'admin-user']);

    // A fresh service (a restart) applies what was stored.
    const restarted = { ...targets, chat: { ...targets.chat, defaultModel: 'llama3.1:8b' } };
    await new ConfigService({ repository, targets: restarted, personas, clock, logger }).load();
    expect(restarted.chat.defaultModel).toBe('tiny:1b');
    await store.close();
  });
});

describe('scheduled backups', () => {
  it('keeps the newest `keep` backups', async () => {
    const { store, personas, logger, clock, advance, events, dataDir } = await setup();
    const backup = { directory: path.join(dataDir, 'backups'), intervalHours: 1, keep: 2 };
    const state = new StateService({ archive: new SqliteStateArchive(databaseFile(dataDir), 'test'), folder: new FileBackupFolder(), store, personas, events, clock, logger, backup });
    const made: string[] = [];
    for (let run = 0; run < 3; run += 1) {
      made.push((await state.runScheduledBackup()).file);
      advance(3_600_000);
    }
    expect(readdirSync(backup.directory).sort()).toEqual(made.slice(1).map((file) => path.basename(file)).sort());
    expect((await state.listBackups()).map((entry) => entry.file)).toEqual(made.slice(1).reverse());
    await store.close();
  });
});
