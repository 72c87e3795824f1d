/**
 * The work of `persona-mcp export | import | backup | restore | card` (registered in `state.ts`, which
 * loads this file only when one of them runs): moving state in and out of a data directory,
 * or of a running server with `--url` (over its RPC: state.save, state.load, state.backup,
 * persona.export_card, persona.import_card).
 *
 * On a data directory directly, `import` and `card import` refuse while a server uses it (its caches
 * would not see the change: use --url), `export` and `backup` work while it runs (they read a
 * consistent snapshot), and `restore` always refuses while a server runs.
 */
import { createReadStream, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DATABASE_FILE_NAME } from '../app/app.js';
import { SqliteStateArchive } from '../adapters/bundle/sqlite-archive.js';
import { CharacterCardCodec } from '../adapters/cards/card-codec.js';
import { InProcessEventBus } from '../adapters/events/in-process-bus.js';
import { backupDatabase, openForBackup, restoreDatabase, runningServer } from '../adapters/sqlite/backup.js';
import { SqliteCardStore } from '../adapters/sqlite/settings-store.js';
import { SqliteStore } from '../adapters/sqlite/sqlite-store.js';
import { AppError } from '../domain/errors.js';
import { systemClock } from '../ports/clock.js';
import { SERVER_VERSION } from '../rpc/methods/system.js';
import { PersonaService } from '../services/persona-service.js';
import { CONFLICT_POLICIES, type ConflictPolicy, type ImportReport, type Selection } from '../ports/archive.js';
import { CardService } from '../services/state/card-service.js';
import { configFromFlags } from './config-flags.js';
import { RpcClient } from './rpc-client.js';

export interface Target {
  /** Config file (for the data directory). */
  config?: string;
  dataDir?: string;
  /** A running server's WebSocket address; then the data directory is not touched. */
  url?: string;
  apiKey?: string;
}

export interface SelectionFlags {
  persona?: string[];
  session?: string[];
  user?: string;
  from?: string;
  to?: string;
}

type Print = (line: string) => void;
const stdout: Print = (line) => process.stdout.write(`${line}\n`);

function dataDirOf(target: Target): string {
  return configFromFlags({ ...(target.config === undefined ? {} : { config: target.config }), ...(target.dataDir === undefined ? {} : { dataDir: target.dataDir }) }).dataDir;
}

function databaseOf(target: Target): string {
  return path.join(dataDirOf(target), DATABASE_FILE_NAME);
}

function refuseWhileServing(dataDir: string, what: string): void {
  const server = runningServer(dataDir);
  if (server !== null) {
    throw new AppError('conflict', `a persona-mcp server (pid ${server.pid}) is using ${dataDir}; ${what} through it with --url ws://HOST:PORT/mcp, or stop it first`);
  }
}

async function withServer<T>(target: Target, work: (client: RpcClient) => Promise<T>): Promise<T> {
  const apiKey = target.apiKey ?? process.env.PERSONA_MCP_API_KEY;
  const client = await RpcClient.connect(target.url as string, apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {});
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}

export function selectionFrom(flags: SelectionFlags): Selection {
  const kinds = [flags.persona, flags.session, flags.user, flags.from ?? flags.to].filter((value) => value !== undefined);
  if (kinds.length > 1) throw new AppError('conflict', 'choose one of --persona, --session, --user, or --from/--to');
  if (flags.persona !== undefined) return { kind: 'personas', personaIds: flags.persona };
  if (flags.session !== undefined) return { kind: 'sessions', sessionIds: flags.session };
  if (flags.user !== undefined) return { kind: 'user', userId: flags.user };
  if (flags.from !== undefined || flags.to !== undefined) return { kind: 'range', from: timeOf(flags.from, '--from'), to: timeOf(flags.to, '--to') };
  return { kind: 'all' };
}

function timeOf(value: string | undefined, flag: string): number | null {
  if (value === undefined) return null;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new AppError('conflict', `${flag} "${value}" is not a date or time (use ISO 8601, e.g. 2026-01-31 or 2026-01-31T12:00:00Z)`);
  return time;
}

export async function exportCommand(out: string, target: Target, flags: SelectionFlags, print: Print = stdout): Promise<void> {
  const selection = selectionFrom(flags);
  if (target.url !== undefined) {
    const params: Record<string, unknown> = {};
    if (selection.kind === 'personas') params.persona_id = selection.personaIds;
    if (selection.kind === 'sessions') params.session_id = selection.sessionIds;
    if (selection.kind === 'user') params.user_id = selection.userId;
    if (selection.kind === 'range') {
      if (selection.from !== null) params.from = new Date(selection.from).toISOString();
      if (selection.to !== null) params.to = new Date(selection.to).toISOString();
    }
    const saved = await withServer(target, (client) => client.request<{ state: string; tables: Record<string, number> }>('state.save', params));
    writeFileSync(out, Buffer.from(saved.state, 'base64'));
    print(`exported ${describeTables(saved.tables)} to ${out}`);
    return;
  }
  const databaseFile = databaseOf(target);
  if (!existsSync(databaseFile)) throw new AppError('storage_error', `there is no database at ${databaseFile}; check --data-dir`);
  const summary = await new SqliteStateArchive(databaseFile, SERVER_VERSION).exportBundle(out, selection);
  print(`exported ${describeTables(summary.tables)} to ${out} (${summary.bytes} bytes, schema version ${summary.schemaVersion})`);
}

export async function importCommand(file: string, target: Target, options: { dryRun: boolean; onConflict: ConflictPolicy }, print: Print = stdout): Promise<ImportReport | Record<string, unknown>> {
  if (!CONFLICT_POLICIES.includes(options.onConflict)) throw new AppError('conflict', `--on-conflict must be one of ${CONFLICT_POLICIES.join(', ')}`);
  if (target.url !== undefined) {
    const state = readFileSync(file).toString('base64');
    const report = await withServer(target, (client) =>
      client.request<Record<string, unknown> & { tables: ImportReport['tables']; conflict_count: number }>('state.load', { state, dry_run: options.dryRun, on_conflict: options.onConflict }),
    );
    printReport(report.tables, report.conflict_count, options.dryRun, print);
    return report;
  }
  const dataDir = dataDirOf(target);
  refuseWhileServing(dataDir, 'import');
  mkdirSync(dataDir, { recursive: true });
  const report = await new SqliteStateArchive(path.join(dataDir, DATABASE_FILE_NAME), SERVER_VERSION).importBundle(createReadStream(file), options);
  printReport(report.tables, report.conflictCount, options.dryRun, print);
  for (const conflict of report.conflicts.slice(0, 20)) print(`  ${conflict.action} ${conflict.table} ${conflict.key}${conflict.to ? ` → ${conflict.to}` : ''}: ${conflict.reason}`);
  return report;
}

export async function backupCommand(out: string | undefined, target: Target, print: Print = stdout): Promise<string> {
  if (target.url !== undefined) {
    const result = await withServer(target, (client) => client.request<{ file: string; bytes: number }>('state.backup'));
    print(`backup written by the server to ${result.file} (${result.bytes} bytes)`);
    return result.file;
  }
  const dataDir = dataDirOf(target);
  const file = out ?? path.join(dataDir, 'backups', `persona-mcp-${new Date().toISOString().replace(/[-:]/g, '').replace('.', '')}.db`);
  mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const db = openForBackup(path.join(dataDir, DATABASE_FILE_NAME));
  try {
    const result = await backupDatabase(db, file);
    print(`backup written to ${result.file} (${result.bytes} bytes, schema version ${result.schemaVersion})`);
    return result.file;
  } finally {
    db.close();
  }
}

export async function restoreCommand(file: string, target: Target, print: Print = stdout): Promise<void> {
  const result = await restoreDatabase(file, databaseOf(target));
  print(`restored ${file} into ${result.file}${result.previous ? `; the previous database was kept as ${result.previous}` : ''}`);
  if (result.upgraded.length > 0) print(`upgraded with migrations ${result.upgraded.join(', ')}`);
}

export async function cardImportCommand(file: string, target: Target, onConflict: ConflictPolicy | undefined, print: Print = stdout): Promise<string> {
  const bytes = readFileSync(file);
  if (target.url !== undefined) {
    const isPng = bytes.subarray(1, 4).toString('latin1') === 'PNG';
    const params = isPng ? { png: bytes.toString('base64') } : { card: JSON.parse(bytes.toString('utf8')) as unknown };
    const result = await withServer(target, (client) =>
      client.request<{ persona: { persona_id: string }; action: string }>('persona.import_card', { ...params, ...(onConflict ? { on_conflict: onConflict } : {}) }),
    );
    print(`${result.action} persona ${result.persona.persona_id}`);
    return result.persona.persona_id;
  }
  const dataDir = dataDirOf(target);
  refuseWhileServing(dataDir, 'import cards');
  return withCards(dataDir, async (cards) => {
    const result = await cards.importCard(bytes, onConflict);
    print(`${result.action} persona ${result.persona.id} (${result.spec})`);
    return result.persona.id;
  });
}

export async function cardExportCommand(persona: string, out: string, target: Target, options: { spec: 'v2' | 'v3'; format?: 'json' | 'png' }, print: Print = stdout): Promise<void> {
  if (options.spec !== 'v2' && options.spec !== 'v3') throw new AppError('conflict', `--spec must be v2 or v3, not "${String(options.spec)}"`);
  if (options.format !== undefined && options.format !== 'json' && options.format !== 'png') throw new AppError('conflict', `--format must be json or png, not "${String(options.format)}"`);
  const format = options.format ?? (out.toLowerCase().endsWith('.png') ? 'png' : 'json');
  if (target.url !== undefined) {
    const result = await withServer(target, (client) =>
      client.request<{ card: unknown; png: string | null }>('persona.export_card', { persona_id: persona, spec: options.spec, format }),
    );
    writeFileSync(out, result.png !== null ? Buffer.from(result.png, 'base64') : `${JSON.stringify(result.card, null, 2)}\n`);
  } else {
    await withCards(dataDirOf(target), async (cards) => {
      const result = await cards.exportCard(persona, { spec: options.spec, container: format });
      writeFileSync(out, result.png ?? `${JSON.stringify(result.card, null, 2)}\n`);
    });
  }
  print(`wrote ${persona} as a ${options.spec.toUpperCase()} ${format.toUpperCase()} card to ${out}`);
}

async function withCards<T>(dataDir: string, work: (cards: CardService) => Promise<T>): Promise<T> {
  const databaseFile = path.join(dataDir, DATABASE_FILE_NAME);
  const store = SqliteStore.open(databaseFile);
  try {
    const personas = new PersonaService(store, systemClock, new InProcessEventBus(() => undefined));
    await personas.initialise([]);
    const cards = new CardService({ codec: new CharacterCardCodec(), cards: new SqliteCardStore(store.database, databaseFile), personas, clock: systemClock });
    return await work(cards);
  } finally {
    await store.close();
  }
}

function describeTables(tables: Record<string, number>): string {
  const total = Object.values(tables).reduce((sum, rows) => sum + rows, 0);
  return `${total} rows in ${Object.keys(tables).length} tables`;
}

function printReport(tables: ImportReport['tables'], conflicts: number, dryRun: boolean, print: Print): void {
  print(dryRun ? 'dry run: nothing was changed; the import would do this:' : 'imported:');
  for (const table of tables) {
    if (table.rows === 0) continue;
    const parts = (['inserted', 'unchanged', 'replaced', 'renamed', 'skipped', 'renumbered'] as const).filter((key) => table[key] > 0).map((key) => `${table[key]} ${key}`);
    print(`  ${table.table}: ${parts.join(', ')}`);
  }
  if (conflicts > 0) print(`${conflicts} conflict(s)`);
}
