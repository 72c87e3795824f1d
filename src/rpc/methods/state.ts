/**
 * State methods (issue 8): `state.save` / `state.load` (bundles in the result and params, base64),
 * `state.backup`, `persona.import_card` / `persona.export_card`, and `config.get` / `config.set`.
 * Everything here acts on the whole server, so it is for admins (the local user is one).
 */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import type { PersonaRecord } from '../../ports/store.js';
import { LIVE_SETTINGS } from '../../services/config/live-settings.js';
import type { Services } from '../../services/index.js';
import type { ImportReport, Selection } from '../../services/state/archive-port.js';
import { defineMethod, type MethodContext, type MethodDefinition } from '../registry.js';
import { isoTime, personaIdParam } from './wire.js';
import { isAdmin } from '../access.js';

const conflictPolicy = z.enum(['skip', 'replace', 'rename']);
const base64 = z.string().min(1).regex(/^[A-Za-z0-9+/=\s]+$/, 'must be base64');

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

const personaBrief = z.object({ persona_id: z.string(), name: z.string(), description: z.string() });
const brief = (persona: PersonaRecord): z.infer<typeof personaBrief> => ({ persona_id: persona.id, name: persona.name, description: persona.description });

/** Who did it, for the audit log (the access check — `requires: 'admin'` — has already run). */
function actorOf(context: MethodContext): string {
  return context.session.userId ?? `session:${context.session.id}`;
}

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

const settingValues = z.strictObject(
  Object.fromEntries(Object.entries(LIVE_SETTINGS).map(([key, setting]) => [key, setting.schema.nullable().optional().describe(`${setting.description} null: back to the startup value.`)])),
);

export function stateMethods(services: Services): MethodDefinition[] {
  const { state, config, cards } = services.state;

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

    defineMethod({
      name: 'persona.import_card',
      requires: 'user',
      summary: 'Create a persona from a Character Card V2/V3 (JSON object, or a PNG with the card inside).',
      description: 'Give `card` (the JSON object) or `png` (base64). Unknown fields and extensions are kept for export.',
      params: z.object({
        card: z.record(z.string(), z.unknown()).optional().describe('The card JSON (`spec`, `spec_version`, `data`).'),
        png: base64.optional().describe('A PNG card, base64.'),
        on_conflict: conflictPolicy.optional().describe('When a persona has its id or name; without it, that is a conflict error.'),
      }),
      result: z.object({ persona: personaBrief, spec: z.string(), action: z.enum(['created', 'replaced', 'renamed', 'skipped']) }),
      handler: async (params, context) => {
        if ((params.card === undefined) === (params.png === undefined)) throw new AppError('conflict', 'give either card or png');
        const bytes = params.png !== undefined ? Buffer.from(params.png, 'base64') : Buffer.from(JSON.stringify(params.card));
        const result = await cards.importCard(bytes, params.on_conflict, { userId: context.session.userId, isAdmin: isAdmin(context.session) });
        return { persona: brief(result.persona), spec: result.spec, action: result.action };
      },
    }),

    defineMethod({
      name: 'persona.export_card',
      requires: 'user',
      summary: 'A persona as a Character Card V2 or V3, as JSON or as a PNG (base64) with the card inside.',
      params: z.object({
        persona_id: personaIdParam,
        spec: z.enum(['v2', 'v3']).default('v3'),
        format: z.enum(['json', 'png']).default('json'),
      }),
      result: z.object({ persona_id: z.string(), spec: z.string(), format: z.enum(['json', 'png']), card: z.record(z.string(), z.unknown()), png: z.string().nullable() }),
      hints: { readOnly: true, idempotent: true },
      handler: async (params) => {
        const exported = await cards.exportCard(params.persona_id, { spec: params.spec, container: params.format });
        return { persona_id: exported.persona.id, spec: String(exported.card.spec), format: params.format, card: exported.card, png: exported.png?.toString('base64') ?? null };
      },
    }),

    defineMethod({
      name: 'config.get',
      requires: 'admin',
      summary: 'The settings that can change while the server runs, with their values and where each came from.',
      params: z.object({ keys: z.array(z.string().min(1)).optional().describe('Only these keys.') }),
      result: z.object({
        settings: z.array(z.object({ key: z.string(), value: z.unknown(), source: z.enum(['runtime', 'startup']), description: z.string() })),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async (params) => {
        return { settings: config.get(params.keys) };
      },
    }),

    defineMethod({
      name: 'config.set',
      requires: 'admin',
      summary: 'Change settings without a restart: validated all together, persisted, applied from the next request, and logged.',
      description: '`settings`: key → value (null resets to the startup value). `personas`: persona → {model, model_options}.',
      params: z.object({
        settings: settingValues.optional(),
        personas: z
          .record(personaIdParam, z.strictObject({ model: z.string().trim().min(1).max(200).nullable().optional(), model_options: z.record(z.string().min(1).max(64), z.number()).nullable().optional() }))
          .optional(),
      }),
      result: z.object({ updated: z.array(z.object({ key: z.string(), value: z.unknown(), source: z.enum(['runtime', 'startup']), description: z.string() })) }),
      hints: { idempotent: true },
      handler: async (params, context) => {
        const actor = actorOf(context);
        const changes: Record<string, unknown> = {};
        for (const [key, value] of Object.entries(params.settings ?? {})) if (value !== undefined) changes[key] = value;
        for (const [persona, fields] of Object.entries(params.personas ?? {})) {
          if (fields.model !== undefined) changes[`personas.${persona}.model`] = fields.model;
          if (fields.model_options !== undefined) changes[`personas.${persona}.modelOptions`] = fields.model_options;
        }
        return { updated: await config.set(changes, actor) };
      },
    }),
  ];
}
