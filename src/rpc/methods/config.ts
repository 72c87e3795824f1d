/** Runtime configuration: `config.get` and `config.set` (the live settings of `services/config/live-settings.ts`). */
import { z } from 'zod';
import { LIVE_SETTINGS } from '../../services/config/live-settings.js';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { actorOf } from './admin.js';
import { personaIdParam } from './wire.js';

const settingValues = z.strictObject(
  Object.fromEntries(Object.entries(LIVE_SETTINGS).map(([key, setting]) => [key, setting.schema.nullable().optional().describe(`${setting.description} null: back to the startup value.`)])),
);

export function configMethods(services: Services): MethodDefinition[] {
  const { config } = services.state;

  return [
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
      }).refine((params) => params.settings !== undefined || params.personas !== undefined, {
        // A {"key": …, "value": …} request (the shape of other servers' config APIs) would otherwise change nothing, silently.
        message: 'config.set changes nothing without `settings` (key → value, e.g. {"settings":{"chat.defaultTokenBudget":300}}) or `personas`; list the keys with config.get.',
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
