/**
 * Relationship methods (PROTOCOL.md "Relationship, emotion, state"): the old server's names and fields,
 * with real figures behind them.
 */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import { relationshipLabel } from '../../domain/social/relationship.js';
import type { RelationshipEventRecord, RelationshipKey } from '../../ports/social-store.js';
import type { PersonaRecord } from '../../ports/store.js';
import type { Services } from '../../services/index.js';
import { userIdOf, type RelationshipView } from '../../services/social/relationship-service.js';
import { defineMethod, type MethodContext, type MethodDefinition } from '../registry.js';
import { isoTime, personaIdParam, round, seconds, toIso } from './wire.js';
import { isAdmin } from '../access.js';

const HISTORY_DEFAULT_LIMIT = 50;
const HISTORY_MAX_LIMIT = 500;

const relationshipTypes = ['stranger', 'acquaintance', 'friend', 'close_friend', 'rival', 'enemy'] as const;

export const relationshipWire = z.object({
  other_kind: z.enum(['persona', 'user']),
  other_id: z.string().describe('The other persona id, or the user id ("local" for the anonymous local user).'),
  affinity: z.number().describe('Liking, −1..1.'),
  trust: z.number().describe('0..1'),
  respect: z.number().describe('0..1'),
  familiarity: z.number().describe('0..1; 1 − 0.95^interactions.'),
  intimacy: z.number().describe('familiarity × max(0, affinity), 0..1.'),
  relationship_type: z.enum(relationshipTypes),
  interaction_count: z.number().int(),
  total_interaction_time: z.number().describe('Seconds spent interacting.'),
  compatibility_score: z.number().nullable().describe('Persona ↔ persona: 0..100 from traits and interests; null for users.'),
  relationship_strength: z.number().describe('(|affinity| + trust + familiarity) / 3.'),
  last_interaction: isoTime.nullable(),
  first_meeting: isoTime.nullable(),
});

export function relationshipToWire(view: RelationshipView): z.infer<typeof relationshipWire> {
  return {
    other_kind: view.otherKind,
    other_id: view.otherId,
    affinity: round(view.affinity, 4),
    trust: round(view.trust, 4),
    respect: round(view.respect, 4),
    familiarity: round(view.familiarity, 4),
    intimacy: round(view.intimacy, 4),
    relationship_type: view.label,
    interaction_count: view.interactionCount,
    total_interaction_time: seconds(view.totalInteractionMs),
    compatibility_score: view.compatibilityScore,
    relationship_strength: round(view.strength, 4),
    last_interaction: view.lastInteraction === null ? null : toIso(view.lastInteraction),
    first_meeting: view.firstMeeting === null ? null : toIso(view.firstMeeting),
  };
}

const relationshipEventWire = z.object({
  id: z.number().int(),
  at: isoTime,
  quality: z.number().describe('−1..1'),
  source: z.enum(['chat', 'group', 'manual', 'llm']),
  conversation_id: z.string().nullable(),
  context: z.string().nullable(),
  affinity: z.number(),
  trust: z.number(),
  respect: z.number(),
  familiarity: z.number(),
  relationship_type: z.enum(relationshipTypes),
});

function relationshipEventToWire(event: RelationshipEventRecord): z.infer<typeof relationshipEventWire> {
  return {
    id: event.id,
    at: toIso(event.at),
    quality: event.quality,
    source: event.source,
    conversation_id: event.conversationId,
    context: event.context,
    affinity: event.affinity,
    trust: event.trust,
    respect: event.respect,
    familiarity: event.familiarity,
    relationship_type: relationshipLabel(event),
  };
}

export function relationshipMethods(services: Services): MethodDefinition[] {
  const { personas } = services;
  const { relationships } = services.social;

  /** persona2 given → that persona; else the user named, else the caller. */
  function otherKey(
    subject: PersonaRecord,
    persona2: string | undefined,
    userId: string | undefined,
    context: MethodContext,
  ): RelationshipKey {
    if (persona2 !== undefined) return { subjectId: subject.id, otherKind: 'persona', otherId: personas.resolve(persona2).id };
    const self = userIdOf(context.session);
    if (userId !== undefined && userId !== self && !isAdmin(context.session)) {
      throw new AppError('forbidden', `Only your own relationships: user_id must be "${self}" (or left out); an admin key sees everyone's.`);
    }
    return { subjectId: subject.id, otherKind: 'user', otherId: userId ?? self };
  }

  const pairParams = {
    persona1_id: personaIdParam.describe('Whose view (id or name).'),
    persona2_id: personaIdParam.optional().describe('The other persona; omit for the relationship with a user.'),
    user_id: z
      .string()
      .trim()
      .min(1)
      .max(200)
      .optional()
      .describe('With persona2_id omitted: the user (default: you; "local" is the anonymous local user).'),
  };

  return [
    defineMethod({
      name: 'relationship.get',
      requires: 'user',
      summary: 'How persona1 feels about persona2 (or about you, when persona2_id is omitted).',
      params: z.object(pairParams),
      result: z.object({
        persona1_id: z.string(),
        persona2_id: z.string().nullable(),
        relationship: relationshipWire.nullable(),
        exists: z.boolean(),
        message: z.string().optional(),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona1_id, persona2_id, user_id }, context) => {
        const subject = personas.resolve(persona1_id);
        const key = otherKey(subject, persona2_id, user_id, context);
        const view = await relationships.get(key);
        const persona2 = key.otherKind === 'persona' ? key.otherId : null;
        if (!view.exists) {
          return {
            persona1_id: subject.id,
            persona2_id: persona2,
            relationship: null,
            exists: false,
            message: `${subject.name} has not interacted with ${key.otherId} yet.`,
          };
        }
        return { persona1_id: subject.id, persona2_id: persona2, relationship: relationshipToWire(view), exists: true };
      },
    }),

    defineMethod({
      name: 'relationship.list',
      requires: 'user',
      summary: "A persona's relationships (every persona's when persona_id is omitted).",
      params: z.object({ persona_id: personaIdParam.optional() }),
      result: z.object({
        persona_id: z.string().nullable(),
        relationships: z.array(relationshipWire.extend({ persona_id: z.string(), other_persona_id: z.string().nullable() })),
        total_relationships: z.number().int(),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona_id }, context) => {
        const subject = persona_id === undefined ? null : personas.resolve(persona_id);
        // A plain user sees the personas' relationships with each other and with them, not with other users.
        const list = await relationships.list(subject?.id, isAdmin(context.session) ? undefined : userIdOf(context.session));
        const items = list
          .sort((a, b) => b.strength - a.strength || a.otherId.localeCompare(b.otherId))
          .map((view) => ({
            ...relationshipToWire(view),
            persona_id: view.subjectId,
            other_persona_id: view.otherKind === 'persona' ? view.otherId : null,
          }));
        return { persona_id: subject?.id ?? null, relationships: items, total_relationships: items.length };
      },
    }),

    defineMethod({
      name: 'relationship.compatibility',
      requires: 'user',
      summary: 'How well two personas suit each other, from traits and interests, with the reasons.',
      params: z.object({ persona1_id: personaIdParam, persona2_id: personaIdParam }),
      result: z.object({
        persona1: z.object({ id: z.string(), name: z.string() }),
        persona2: z.object({ id: z.string(), name: z.string() }),
        compatibility_analysis: z.object({
          score: z.number().int().describe('0..100'),
          interest_similarity: z.number(),
          trait_similarity: z.number(),
          shared_interests: z.array(z.string()),
          reasons: z.array(
            z.object({
              factor: z.enum(['interests', 'traits', 'trait_pair']),
              points: z.number().describe('Signed effect on the score.'),
              explanation: z.string(),
            }),
          ),
        }),
        interaction_suggestions: z.array(z.string()),
        existing_relationship: relationshipWire.nullable().describe("persona1's view of persona2, if they have met."),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona1_id, persona2_id }) => {
        const first = personas.resolve(persona1_id);
        const second = personas.resolve(persona2_id);
        const { result, suggestions } = relationships.compatibility(first, second);
        const existing = await relationships.get({ subjectId: first.id, otherKind: 'persona', otherId: second.id });
        return {
          persona1: { id: first.id, name: first.name },
          persona2: { id: second.id, name: second.name },
          compatibility_analysis: {
            score: result.score,
            interest_similarity: result.interestSimilarity,
            trait_similarity: result.traitSimilarity,
            shared_interests: result.sharedInterests,
            reasons: result.reasons,
          },
          interaction_suggestions: suggestions,
          existing_relationship: existing.exists ? relationshipToWire(existing) : null,
        };
      },
    }),

    defineMethod({
      name: 'relationship.stats',
      requires: 'user',
      summary: 'Statistics over every relationship.',
      params: z.object({}),
      result: z.object({
        relationship_statistics: z.object({
          total_relationships: z.number().int(),
          persona_pairs: z.number().int(),
          with_users: z.number().int(),
          by_type: z.record(z.string(), z.number().int()),
          average_affinity: z.number(),
          average_trust: z.number(),
          total_interactions: z.number().int(),
          strongest: relationshipWire.extend({ persona_id: z.string() }).nullable(),
        }),
        timestamp: isoTime,
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async (_params, context) => {
        const stats = await relationships.statistics(isAdmin(context.session) ? undefined : userIdOf(context.session));
        return {
          relationship_statistics: {
            total_relationships: stats.total,
            persona_pairs: stats.personaPairs,
            with_users: stats.withUsers,
            by_type: stats.byLabel,
            average_affinity: stats.averageAffinity,
            average_trust: stats.averageTrust,
            total_interactions: stats.totalInteractions,
            strongest: stats.strongest === null ? null : { ...relationshipToWire(stats.strongest), persona_id: stats.strongest.subjectId },
          },
          timestamp: new Date(services.clock.now()).toISOString(),
        };
      },
    }),

    defineMethod({
      name: 'relationship.update',
      requires: 'user',
      summary: 'Record an interaction between two personas (both directions) or a persona and a user.',
      params: z.object({
        ...pairParams,
        interaction_quality: z.number().min(-1).max(1).describe('How pleasant it was, −1..1.'),
        duration_minutes: z
          .number()
          .min(0)
          .max(24 * 60)
          .default(0),
        context: z.string().max(2000).optional(),
        mutual: z.boolean().default(true).describe('Between personas: update persona2 → persona1 too.'),
      }),
      result: z.object({
        success: z.literal(true),
        message: z.string(),
        interaction_processed: z.object({ quality: z.number(), duration_minutes: z.number(), context: z.string().nullable() }),
        updated_relationship: z.object({
          affinity: z.number(),
          trust: z.number(),
          respect: z.number(),
          familiarity: z.number(),
          relationship_type: z.enum(relationshipTypes),
          compatibility_score: z.number().nullable(),
        }),
      }),
      handler: async (params, context) => {
        const subject = personas.resolve(params.persona1_id);
        const key = otherKey(subject, params.persona2_id, params.user_id, context);
        // Between two personas it changes shared data: the right to change persona1 is needed.
        if (key.otherKind === 'persona' && !isAdmin(context.session) && subject.ownerUserId !== context.session.userId) {
          throw new AppError('forbidden', `${subject.name} is not your persona: only an admin${subject.ownerUserId === null ? '' : ' or its owner'} may change its relationships with other personas. Your own relationship with ${subject.name} (persona2_id left out) is yours to record.`, {
            data: { requires: 'persona_owner' },
          });
        }
        const common = {
          quality: params.interaction_quality,
          durationMs: params.duration_minutes * 60_000,
          source: 'manual' as const,
          conversationId: null,
          context: params.context ?? null,
        };
        const { relationship } = await relationships.recordInteraction({ ...key, ...common });
        if (key.otherKind === 'persona' && params.mutual && key.otherId !== subject.id) {
          await relationships.recordInteraction({ subjectId: key.otherId, otherKind: 'persona', otherId: subject.id, ...common });
        }
        return {
          success: true as const,
          message: `${subject.name} now sees ${key.otherId} as: ${relationship.label.replace('_', ' ')} (affinity ${round(relationship.affinity, 3)}).`,
          interaction_processed: {
            quality: params.interaction_quality,
            duration_minutes: params.duration_minutes,
            context: params.context ?? null,
          },
          updated_relationship: {
            affinity: relationship.affinity,
            trust: relationship.trust,
            respect: relationship.respect,
            familiarity: relationship.familiarity,
            relationship_type: relationship.label,
            compatibility_score: relationship.compatibilityScore,
          },
        };
      },
    }),

    defineMethod({
      name: 'relationship.history',
      requires: 'user',
      summary: 'The interaction timeline of a relationship, newest first.',
      params: z.object({
        ...pairParams,
        limit: z.number().int().min(1).max(HISTORY_MAX_LIMIT).default(HISTORY_DEFAULT_LIMIT),
        before_id: z.number().int().positive().optional().describe('Page to events older than this id.'),
      }),
      result: z.object({
        persona1_id: z.string(),
        other_kind: z.enum(['persona', 'user']),
        other_id: z.string(),
        events: z.array(relationshipEventWire),
        next_before_id: z.number().int().nullable(),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async (params, context) => {
        const subject = personas.resolve(params.persona1_id);
        const key = otherKey(subject, params.persona2_id, params.user_id, context);
        const events = await relationships.history(
          key,
          params.before_id === undefined ? { limit: params.limit } : { limit: params.limit, beforeId: params.before_id },
        );
        // Between personas, events may come from other users' conversations: their ids stay hidden from plain users.
        const isOwnView = isAdmin(context.session) || key.otherKind === 'user' || subject.ownerUserId === context.session.userId;
        return {
          persona1_id: subject.id,
          other_kind: key.otherKind,
          other_id: key.otherId,
          events: events.map(relationshipEventToWire).map((event) => (isOwnView ? event : { ...event, conversation_id: null })),
          next_before_id: events.length === params.limit ? (events.at(-1)?.id ?? null) : null,
        };
      },
    }),

  ];
}
