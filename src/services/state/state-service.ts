/**
 * State use cases: export the server's state as a bundle, import one (dry run or for real), and take
 * backups — now, or on a schedule with a number of copies kept. After a real import into the live
 * store, the persona catalogue and energy caches are reloaded and `stateImported` is published so
 * other features can drop their caches.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Clock } from '../../ports/clock.js';
import type { EventBus } from '../../ports/events.js';
import type { Store } from '../../ports/store.js';
import type { PersonaService } from '../persona-service.js';
import type { BackupFolder, BackupSummary, ExportSummary, ImportOptions, ImportReport, Selection, StateArchive } from '../../ports/archive.js';

export interface BackupPolicy {
  /** Folder for backups taken without an explicit file, and for scheduled ones. */
  directory: string;
  /** Hours between scheduled backups; 0 switches them off. */
  intervalHours: number;
  /** Scheduled backups kept (the oldest are deleted); 0 keeps all. */
  keep: number;
}

/** `persona-mcp-20261125T114500Z.db`: sorts by time, and tells what it is. */
export const BACKUP_FILE_PATTERN = /^persona-mcp-\d{8}T\d{6}(?:\d{3})?Z\.db$/;

export class StateService {
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly deps: {
      archive: StateArchive;
      /** Where scheduled backups are listed and pruned. */
      folder: BackupFolder;
      store: Store;
      personas: PersonaService;
      events: EventBus;
      clock: Clock;
      logger: Logger;
      /** Read on each use, so `config.set` changes apply to the next backup. */
      backup: BackupPolicy;
    },
  ) {}

  exportToFile(file: string, selection: Selection): Promise<ExportSummary> {
    return this.deps.archive.exportBundle(file, selection);
  }

  /** Exports into memory (for `state.save`, which returns the bundle in its result). */
  exportToBuffer(selection: Selection): Promise<{ bundle: Buffer; summary: ExportSummary }> {
    return this.deps.archive.exportBundleBytes(selection);
  }

  /** Imports into the live store; caches are refreshed after a real (not dry-run) import. */
  async importBundle(bundle: Uint8Array | Readable, options: ImportOptions, actor: string): Promise<ImportReport> {
    const report = await this.deps.archive.importBundle(bundle, options);
    const changed = report.tables.filter((table) => table.inserted + table.replaced + table.renamed > 0).map((table) => table.table);
    this.deps.logger.info(
      { actor, dryRun: report.dryRun, onConflict: report.onConflict, bundleSchema: report.bundle.schemaVersion, changed, conflicts: report.conflictCount },
      report.dryRun ? 'state import checked (dry run)' : 'state imported',
    );
    if (!report.dryRun && changed.length > 0) await this.refreshCaches(report, changed);
    return report;
  }

  /** Takes a backup to `file`, or into the backup folder under a time-stamped name. */
  async backup(file?: string): Promise<BackupSummary> {
    const target = file ?? this.nextBackupFile();
    const summary = await this.deps.archive.backup(target);
    this.deps.logger.info({ file: summary.file, bytes: summary.bytes }, 'backup taken');
    return summary;
  }

  /** Backups in the backup folder, newest first. */
  async listBackups(): Promise<Array<{ file: string; bytes: number }>> {
    const entries = await this.deps.folder.list(this.deps.backup.directory);
    return entries
      .filter((entry) => BACKUP_FILE_PATTERN.test(entry.name))
      .sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0))
      .map(({ file, bytes }) => ({ file, bytes }));
  }

  /** One scheduled run: a backup, then the oldest beyond `keep` are deleted. */
  async runScheduledBackup(): Promise<BackupSummary> {
    const summary = await this.backup();
    const keep = this.deps.backup.keep;
    if (keep > 0) {
      for (const old of (await this.listBackups()).slice(keep)) {
        await this.deps.folder.remove(old.file);
        this.deps.logger.info({ file: old.file }, 'old backup removed');
      }
    }
    return summary;
  }

  /** Checks every minute whether a scheduled backup is due (so a changed interval applies at once). */
  startSchedule(): void {
    let last = this.deps.clock.now();
    const tick = (): void => {
      const hours = this.deps.backup.intervalHours;
      if (hours <= 0 || this.deps.clock.now() - last < hours * 3_600_000) return;
      last = this.deps.clock.now();
      this.runScheduledBackup().catch((error: unknown) => this.deps.logger.error({ err: error }, 'scheduled backup failed'));
    };
    this.timer = setInterval(tick, 60_000);
    this.timer.unref();
  }

  stopSchedule(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private nextBackupFile(): string {
    const stamp = new Date(this.deps.clock.now()).toISOString().replace(/[-:]/g, '').replace('.', '');
    return this.deps.folder.pathOf(this.deps.backup.directory, `persona-mcp-${stamp}.db`);
  }

  private async refreshCaches(report: ImportReport, tables: string[]): Promise<void> {
    const { personas, store } = this.deps;
    await personas.initialise([]);
    for (const id of report.changedPersonaIds) {
      const persona = personas.find(id);
      const state = persona === null ? null : await store.getPersonaState(id);
      if (persona !== null && state !== null) await personas.replaceState(persona, state);
    }
    this.deps.events.publish({ type: 'stateImported', tables });
  }
}
