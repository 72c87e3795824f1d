/**
 * `persona.memory` and `persona.relationship`: the old server's stubs. Until long-term memory and
 * relationships land they answer an honest empty result with a `note` saying so — never invented data.
 */
import { z } from 'zod';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { personaIdParam } from './wire.js';

const NOT_YET_MEMORY = 'Long-term memory is not available in this version yet; no memories are stored, so none are returned.';
const NOT_YET_RELATIONSHIPS = 'Relationships are not tracked in this version yet; nothing is invented in their place.';

export function personaLinkMethods(services: Services): MethodDefinition[] {
  const { personas, sessions } = services;
  return [
    defineMethod({
      name: 'persona.memory',
      summary: "Search a persona's memories (empty until long-term memory lands; see `note`).",
      params: z.object({ query: z.string().max(2000).default(''), n_results: z.number().int().min(1).max(100).default(5), persona_id: personaIdParam.optional() }),
      result: z.object({
        persona_id: z.string().nullable(),
        memories: z.array(z.object({ id: z.string(), content: z.string(), importance: z.number(), similarity: z.number(), created_at: z.string() })),
        total_results: z.number().int(),
        note: z.string().optional(),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona_id }, context) => {
        const wanted = persona_id ?? (await sessions.activePersonaId(context.session));
        return { persona_id: wanted === null ? null : personas.resolve(wanted).id, memories: [], total_results: 0, note: NOT_YET_MEMORY };
      },
    }),
    defineMethod({
      name: 'persona.relationship',
      summary: "A persona's relationship with another persona (null until relationships land; see `note`).",
      params: z.object({ persona_id: personaIdParam.optional(), other_id: personaIdParam.optional() }),
      result: z.object({
        persona_id: z.string().nullable(),
        other_id: z.string().nullable(),
        relationship: z.null(),
        exists: z.literal(false),
        note: z.string(),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona_id, other_id }, context) => {
        const wanted = persona_id ?? (await sessions.activePersonaId(context.session));
        return {
          persona_id: wanted === null ? null : personas.resolve(wanted).id,
          other_id: other_id === undefined ? null : personas.resolve(other_id).id,
          relationship: null,
          exists: false as const,
          note: NOT_YET_RELATIONSHIPS,
        };
      },
    }),
  ];
}
