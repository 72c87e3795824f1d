/**
 * `persona.memory` and `persona.relationship`: the old server's stubs, now real. `persona.memory` is the
 * memory search (memory.ts); `persona.relationship` is `relationship.get` seen from a persona (relationship.ts).
 */
import { z } from 'zod';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { memoryToWire, memoryWire } from './memory-wire.js';
import { userIdOf } from '../../services/social/relationship-service.js';
import { relationshipToWire, relationshipWire } from './relationship.js';
import { personaIdParam } from './wire.js';

export function personaKnowledgeMethods(services: Services): MethodDefinition[] {
  const { personas } = services;
  return [
    defineMethod({
      name: 'persona.memory',
      requires: 'user',
      summary: "Search a persona's memories (the old server's name for memory.search; same results).",
      params: z.object({ query: z.string().max(2000).default(''), n_results: z.number().int().min(1).max(100).default(5), persona_id: personaIdParam.optional() }),
      result: z.object({ persona_id: z.string().nullable(), memories: z.array(memoryWire), total_results: z.number().int() }),
      handler: async ({ query, n_results, persona_id }, context) => {
        const personaId = (await services.target.personaOrNone(context.session, persona_id))?.id ?? null;
        const hits = await services.memory.memories.search({ query, limit: n_results, viewerId: personaId, userId: context.session.userId });
        return { persona_id: personaId, memories: hits.map((hit) => memoryToWire(hit.memory, hit)), total_results: hits.length };
      },
    }),
    defineMethod({
      name: 'persona.relationship',
      requires: 'user',
      summary: "A persona's relationship with another persona (other_id), or with you when other_id is omitted.",
      params: z.object({ persona_id: personaIdParam.optional(), other_id: personaIdParam.optional() }),
      result: z.object({
        persona_id: z.string().nullable(),
        other_id: z.string().nullable(),
        other_kind: z.enum(['persona', 'user']),
        relationship: relationshipWire.nullable(),
        exists: z.boolean(),
        note: z.string().optional(),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona_id, other_id }, context) => {
        const subject = await services.target.persona(context.session, persona_id);
        const view = await services.social.relationships.get(
          other_id === undefined
            ? { subjectId: subject.id, otherKind: 'user', otherId: userIdOf(context.session) }
            : { subjectId: subject.id, otherKind: 'persona', otherId: personas.resolve(other_id).id },
        );
        return {
          persona_id: subject.id,
          other_id: view.otherId,
          other_kind: view.otherKind,
          relationship: view.exists ? relationshipToWire(view) : null,
          exists: view.exists,
          ...(view.exists ? {} : { note: `${subject.name} has not interacted with ${view.otherId} yet.` }),
        };
      },
    }),
  ];
}
