/** StateService with in-memory fakes of its ports: the archive, the backup folder, the store and the clock. */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../logger.js';
import type { BackupEntry, BackupFolder, ExportSummary, ImportReport, StateArchive } from '../../ports/archive.js';
import type { DomainEvent, EventBus } from '../../ports/events.js';
import type { Store } from '../../ports/store.js';
import type { PersonaService } from '../persona-service.js';
import { StateService } from './state-service.js';

const DIRECTORY = '/backups';

/** Backups as a map of name → size; `archive.backup` adds to it. */
class InMemoryBackupFolder implements BackupFolder {
  readonly files = new Map<string, number>();
  async list(directory: string): Promise<BackupEntry[]> {
    if (directory !== DIRECTORY) return [];
    return [...this.files].map(([name, bytes]) => ({ name, file: this.pathOf(directory, name), bytes }));
  }
  pathOf(directory: string, name: string): string {
    return path.posix.join(directory, name);
  }
  async remove(file: string): Promise<void> {
    this.files.delete(path.posix.basename(file));
  }
}

const summary: ExportSummary = { file: '', bytes: 3, schemaVersion: 24, createdAt: '2026-01-01T00:00:00.000Z', tables: { personas: 2 }, excluded: [] };

function importReport(overrides: Partial<ImportReport>): ImportReport {
  return {
    dryRun: false,
    onConflict: 'skip',
    bundle: { formatVersion: 1, appVersion: 'test', schemaVersion: 24, createdAt: summary.createdAt, selection: { kind: 'all' } },
    upgradedFrom: null,
    tables: [],
    conflicts: [],
    conflictCount: 0,
    changedPersonaIds: [],
    ...overrides,
  };
}

function setup(options: { keep?: number; report?: ImportReport } = {}) {
  let now = Date.parse('2026-11-25T11:45:00.000Z');
  const folder = new InMemoryBackupFolder();
  const imported: unknown[] = [];
  const archive: StateArchive = {
    exportBundle: async (file) => ({ ...summary, file }),
    exportBundleBytes: async () => ({ bundle: Buffer.from('tgz'), summary }),
    importBundle: async (source) => {
      imported.push(source);
      return options.report ?? importReport({});
    },
    backup: async (file) => {
      folder.files.set(path.posix.basename(file), 100);
      return { file, bytes: 100, schemaVersion: 24, createdAt: new Date(now).toISOString() };
    },
  };
  const events: DomainEvent[] = [];
  const bus = { publish: (event: DomainEvent) => events.push(event), subscribe: () => () => undefined } as unknown as EventBus;
  const refreshed: string[] = [];
  const personas = {
    initialise: async () => {
      refreshed.push('catalogue');
      return [];
    },
    find: (id: string) => (id === 'aria' ? { id } : null),
    replaceState: async (persona: { id: string }) => {
      refreshed.push(`state:${persona.id}`);
    },
  } as unknown as PersonaService;
  const store = { getPersonaState: async () => ({ energy: 1 }) } as unknown as Store;
  const state = new StateService({
    archive,
    folder,
    store,
    personas,
    events: bus,
    clock: { now: () => now },
    logger: silentLogger(),
    backup: { directory: DIRECTORY, intervalHours: 24, keep: options.keep ?? 2 },
  });
  return { state, folder, events, refreshed, imported, advance: (ms: number) => (now += ms) };
}

describe('StateService', () => {
  it('names backups after the clock, in the backup folder', async () => {
    const { state } = setup();
    expect((await state.backup()).file).toBe('/backups/persona-mcp-20261125T114500000Z.db');
    expect((await state.backup('/elsewhere/mine.db')).file).toBe('/elsewhere/mine.db');
  });

  it('lists only its own backups, newest first, and keeps the newest `keep` on a scheduled run', async () => {
    const { state, folder, advance } = setup({ keep: 2 });
    folder.files.set('notes.txt', 5);
    for (let run = 0; run < 4; run += 1) {
      await state.runScheduledBackup();
      advance(3_600_000);
    }
    const names = (await state.listBackups()).map((entry) => path.posix.basename(entry.file));
    expect(names).toEqual(['persona-mcp-20261125T144500000Z.db', 'persona-mcp-20261125T134500000Z.db']);
    expect(folder.files.has('notes.txt')).toBe(true);
  });

  it('keeps every backup when keep is 0', async () => {
    const { state, advance } = setup({ keep: 0 });
    for (let run = 0; run < 3; run += 1) {
      await state.runScheduledBackup();
      advance(60_000);
    }
    expect(await state.listBackups()).toHaveLength(3);
  });

  it('exports into memory through the archive', async () => {
    const { state } = setup();
    expect((await state.exportToBuffer({ kind: 'all' })).bundle.toString()).toBe('tgz');
  });

  it('refreshes caches and announces the tables after a real import that changed something', async () => {
    const report = importReport({ tables: [{ table: 'personas', rows: 1, inserted: 1, unchanged: 0, replaced: 0, renamed: 0, skipped: 0, renumbered: 0 }], changedPersonaIds: ['aria', 'gone'] });
    const { state, events, refreshed, imported } = setup({ report });
    await state.importBundle(Buffer.from('tgz'), { dryRun: false, onConflict: 'skip' }, 'admin');
    expect(imported).toEqual([Buffer.from('tgz')]);
    expect(refreshed).toEqual(['catalogue', 'state:aria']);
    expect(events).toEqual([{ type: 'stateImported', tables: ['personas'] }]);
  });

  it('leaves caches alone after a dry run or an import that changed nothing', async () => {
    const changed = [{ table: 'personas', rows: 1, inserted: 1, unchanged: 0, replaced: 0, renamed: 0, skipped: 0, renumbered: 0 }];
    for (const report of [importReport({ dryRun: true, tables: changed }), importReport({})]) {
      const { state, events, refreshed } = setup({ report });
      await state.importBundle(Buffer.from('tgz'), { dryRun: report.dryRun, onConflict: 'skip' }, 'admin');
      expect(refreshed).toEqual([]);
      expect(events).toEqual([]);
    }
  });
});
