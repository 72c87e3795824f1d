/**
 * State methods (issue 8): `state.save` / `state.load` (bundles in the result and params, base64),
 * `state.backup` and `state.backups`. Everything here acts on the whole server, so it is for admins
 * (the local user is one).
 */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import type { Services } from '../../services/index.js';
import type { ImportReport, Selection } from '../../ports/archive.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { actorOf } from './admin.js';
import { base64, conflictPolicy } from './state-wire.js';
import { isoTime, personaIdParam } from './wire.js';


const selectionParams = z.object({
  persona_id: z.union([personaIdParam, z.array(personaIdParam).min(1)]).optional().describe('Only these personas, with their conversations.'),
  session_id: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional().describe('Only these sessions, with their conversations.'),
  user_id: z.string().min(1).optional().describe("Only this user's sessions, with their conversations."),
  from: isoTime.optional().describe('Only rows dated at or after this time.'),
  to: isoTime.optional().describe('Only rows dated before this time.'),
});

const tableReportWire = z.object({
  table: z.string(),
  rows: z.number().int(),
  inserted: z.number().int(),
  unchanged: z.number().int(),
  replaced: z.number().int(),
  renamed: z.number().int(),
  skipped: z.number().int(),
  renumbered: z.number().int(),
});

function parseTime(value: string | undefined, field: string): number | null {
  if (value === undefined) return null;
  const time = Date.parse(value);
  if (Number.isNaN(time)) throw new AppError('conflict', `${field} is not an ISO 8601 time: ${value}`);
  return time;
}

function toSelection(params: z.infer<typeof selectionParams>, services: Services): Selection {
  const given = [params.persona_id, params.session_id, params.user_id, params.from ?? params.to].filter((value) => value !== undefined).length;
  if (given > 1) throw new AppError('conflict', 'choose one selection: persona_id, session_id, user_id, or from/to');
  if (params.persona_id !== undefined) {
    const ids = Array.isArray(params.persona_id) ? params.persona_id : [params.persona_id];
    return { kind: 'personas', personaIds: ids.map((id) => services.personas.resolve(id).id) };
  }
  if (params.session_id !== undefined) return { kind: 'sessions', sessionIds: Array.isArray(params.session_id) ? params.session_id : [params.session_id] };
  if (params.user_id !== undefined) return { kind: 'user', userId: params.user_id };
  if (params.from !== undefined || params.to !== undefined) return { kind: 'range', from: parseTime(params.from, 'from'), to: parseTime(params.to, 'to') };
  return { kind: 'all' };
}

function reportToWire(report: ImportReport) {
  return {
    state_loaded: !report.dryRun,
    dry_run: report.dryRun,
    on_conflict: report.onConflict,
    bundle: {
      format_version: report.bundle.formatVersion,
      app_version: report.bundle.appVersion,
      schema_version: report.bundle.schemaVersion,
      created_at: report.bundle.createdAt,
      selection: report.bundle.selection.kind,
    },
    upgraded_from: report.upgradedFrom,
    tables: report.tables,
    conflicts: report.conflicts,
    conflict_count: report.conflictCount,
  };
}

export function stateMethods(services: Services): MethodDefinition[] {
  const { state } = services.state;

  return [
    defineMethod({
      name: 'state.save',
      requires: 'admin',
      summary: 'Export the server state (or a selection) as a bundle, returned base64-encoded.',
      description:
        'The bundle is a gzip-compressed tar with `manifest.json` and one JSON-lines file per table (docs/state.md). ' +
        'Give at most one selection: `persona_id`, `session_id`, `user_id`, or `from`/`to`. For large states use `persona-mcp export`.',
      params: selectionParams,
      result: z.object({
        state_saved: z.literal(true),
        state: z.string().describe('The bundle, base64.'),
        format: z.literal('persona-mcp-bundle'),
        encoding: z.literal('base64'),
        bytes: z.number().int(),
        schema_version: z.number().int(),
        created_at: isoTime,
        selection: z.string(),
        tables: z.record(z.string(), z.number().int()).describe('Rows per table.'),
        excluded: z.array(z.object({ table: z.string(), reason: z.string() })),
      }),
      hints: { readOnly: true },
      handler: async (params) => {
        const selection = toSelection(params, services);
        const { bundle, summary } = await state.exportToBuffer(selection);
        return {
          state_saved: true as const,
          state: bundle.toString('base64'),
          format: 'persona-mcp-bundle' as const,
          encoding: 'base64' as const,
          bytes: bundle.length,
          schema_version: summary.schemaVersion,
          created_at: summary.createdAt,
          selection: selection.kind,
          tables: summary.tables,
          excluded: summary.excluded,
        };
      },
    }),

    defineMethod({
      name: 'state.load',
      requires: 'admin',
      summary: 'Import a bundle from state.save: verified whole first, then applied in one transaction (or only reported, with dry_run).',
      description:
        'Refused, with nothing changed, when the bundle is damaged, tampered with (checksums) or from a newer persona-mcp; ' +
        'an older one is migrated first. `on_conflict` decides about rows whose key is taken by a different row.',
      params: z.object({
        state: base64.describe('The bundle, base64.'),
        dry_run: z.boolean().default(false).describe('Only report what would change.'),
        on_conflict: conflictPolicy.default('skip'),
      }),
      result: z.object({
        state_loaded: z.boolean(),
        dry_run: z.boolean(),
        on_conflict: conflictPolicy,
        bundle: z.object({ format_version: z.number().int(), app_version: z.string(), schema_version: z.number().int(), created_at: isoTime, selection: z.string() }),
        upgraded_from: z.number().int().nullable().describe("The bundle's schema version when it was migrated."),
        tables: z.array(tableReportWire),
        conflicts: z.array(z.object({ table: z.string(), key: z.string(), action: z.enum(['skipped', 'replaced', 'renamed']), to: z.string().optional(), reason: z.string() })),
        conflict_count: z.number().int(),
      }),
      hints: { destructive: true },
      handler: async (params, context) => {
        const actor = actorOf(context);
        const bundle = Buffer.from(params.state, 'base64');
        return reportToWire(await state.importBundle(bundle, { dryRun: params.dry_run, onConflict: params.on_conflict }, actor));
      },
    }),

    defineMethod({
      name: 'state.backup',
      requires: 'admin',
      summary: "Take a consistent copy of the database now, into the server's backup folder.",
      params: z.object({}),
      result: z.object({ backup_saved: z.literal(true), file: z.string(), bytes: z.number().int(), schema_version: z.number().int(), created_at: isoTime }),
      handler: async (_params) => {
        const summary = await state.backup();
        return { backup_saved: true as const, file: summary.file, bytes: summary.bytes, schema_version: summary.schemaVersion, created_at: summary.createdAt };
      },
    }),

    defineMethod({
      name: 'state.backups',
      requires: 'admin',
      summary: "The backups in the server's backup folder, newest first.",
      params: z.object({}),
      result: z.object({ backups: z.array(z.object({ file: z.string(), bytes: z.number().int() })) }),
      hints: { readOnly: true, idempotent: true },
      handler: async (_params) => {
        return { backups: await state.listBackups() };
      },
    }),

  ];
}
