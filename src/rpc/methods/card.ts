/** Character Cards: `persona.import_card` and `persona.export_card` (Character Card V2/V3, JSON or PNG). */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import type { PersonaRecord } from '../../ports/store.js';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { isAdmin } from '../access.js';
import { base64, conflictPolicy } from './state-wire.js';
import { personaIdParam } from './wire.js';

const personaBrief = z.object({ persona_id: z.string(), name: z.string(), description: z.string() });
const brief = (persona: PersonaRecord): z.infer<typeof personaBrief> => ({ persona_id: persona.id, name: persona.name, description: persona.description });

export function cardMethods(services: Services): MethodDefinition[] {
  const { cards } = services.state;

  return [
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
  ];
}
