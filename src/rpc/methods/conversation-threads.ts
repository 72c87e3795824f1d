/** What builds on a conversation's messages: topic threads and branches, and analytics. */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import type { ConversationRecord } from '../../ports/store.js';
import type { Services } from '../../services/index.js';
import type { SpeakerShare, Totals } from '../../services/social/analytics-service.js';
import { defineMethod, type MethodDefinition, type SessionBinding } from '../registry.js';
import { conversationIdParam, isoTime, personaIdParam, seconds, toIso } from './wire.js';

const threadWire = z.object({
  thread_id: z.number().int(),
  label: z.string(),
  is_branch: z.boolean().describe('Opened by conversation.branch rather than detected.'),
  is_current: z.boolean(),
  message_count: z.number().int(),
  created_at: isoTime,
  last_active_at: isoTime,
});

const totalsWire = z.object({
  messages: z.number().int(),
  turns: z.number().int().describe('Persona replies.'),
  user_messages: z.number().int(),
  tokens: z.number().int().describe('Tokens of the messages (model counts for replies).'),
  avg_response_time: z.number().nullable().describe('Seconds, mean over replies.'),
});

const speakerWire = z.object({
  speaker: z.string().describe('Persona id, or "user".'),
  role: z.enum(['user', 'assistant', 'system']),
  messages: z.number().int(),
  share: z.number().describe('Share of the messages, 0..1.'),
  tokens: z.number().int(),
  characters: z.number().int(),
  avg_response_time: z.number().nullable(),
});

function totalsToWire(totals: Totals): z.infer<typeof totalsWire> {
  return {
    messages: totals.messages,
    turns: totals.turns,
    user_messages: totals.userMessages,
    tokens: totals.tokens,
    avg_response_time: totals.averageResponseMs === null ? null : seconds(totals.averageResponseMs),
  };
}

function speakerToWire(share: SpeakerShare): z.infer<typeof speakerWire> {
  return {
    speaker: share.personaId ?? share.role,
    role: share.role,
    messages: share.messages,
    share: share.share,
    tokens: share.tokens,
    characters: share.characters,
    avg_response_time: share.averageResponseMs === null ? null : seconds(share.averageResponseMs),
  };
}

const moodChangeWire = z.object({
  persona_id: z.string(),
  at: isoTime,
  mood: z.string(),
  valence: z.number(),
  arousal: z.number(),
  stress: z.number(),
  cause: z.string(),
});
const relationshipChangeWire = z.object({
  persona_id: z.string(),
  other_kind: z.enum(['persona', 'user']),
  other_id: z.string(),
  at: isoTime,
  quality: z.number(),
  affinity: z.number(),
  trust: z.number(),
  familiarity: z.number(),
});

export function conversationThreadMethods(services: Services): MethodDefinition[] {
  const { personas, sessions, conversations } = services;
  const { threads, analytics } = services.social;

  async function targetConversation(session: SessionBinding, conversationId: string | undefined): Promise<ConversationRecord> {
    if (conversationId !== undefined) return conversations.accessible(session, conversationId);
    const activeId = await sessions.activePersonaId(session);
    const conversation = activeId === null ? null : await conversations.activeWith(session, activeId);
    if (conversation === null)
      throw new AppError(
        'conversation_not_found',
        'Pass conversation_id (there is no active conversation with an active persona in this session).',
      );
    return conversation;
  }

  return [
    defineMethod({
      name: 'conversation.threads',
      requires: 'user',
      summary: "A conversation's topic threads (detected or branched) and which is current.",
      params: z.object({ conversation_id: conversationIdParam.optional() }),
      result: z.object({ conversation_id: z.string(), threads: z.array(threadWire), current_thread_id: z.number().int().nullable() }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ conversation_id }, context) => {
        const conversation = await targetConversation(context.session, conversation_id);
        await threads.settled(conversation.id);
        const [list, current] = await Promise.all([threads.list(conversation.id), threads.current(conversation.id)]);
        return {
          conversation_id: conversation.id,
          current_thread_id: current,
          threads: list.map((thread) => ({
            thread_id: thread.id,
            label: thread.label,
            is_branch: thread.isBranch,
            is_current: thread.id === current,
            message_count: thread.messageCount,
            created_at: toIso(thread.createdAt),
            last_active_at: toIso(thread.lastActiveAt),
          })),
        };
      },
    }),

    defineMethod({
      name: 'conversation.branch',
      requires: 'user',
      summary:
        'Start a new topic thread explicitly — it takes the next messages until the user returns — or go back to an earlier thread (back, thread_id).',
      description:
        'A branch stays the current thread however far its messages wander; only a clear return to an earlier thread (or this method with back/thread_id) leaves it. See docs/social.md, "Topic threads".',
      params: z.object({
        conversation_id: conversationIdParam.optional(),
        label: z.string().max(200).optional().describe('A name for the new thread.'),
        back: z.boolean().optional().describe('Go back to the thread that was current before (the one the branch was opened from) instead of opening one.'),
        thread_id: z.number().int().positive().optional().describe('Go back to this thread of the conversation instead of opening one.'),
      }),
      result: z.object({
        conversation_id: z.string(),
        thread_id: z.number().int(),
        label: z.string(),
        created_at: isoTime,
        is_branch: z.boolean(),
        returned: z.boolean().describe('true when an earlier thread became current again (back, thread_id); false for a new branch.'),
      }),
      handler: async ({ conversation_id, label, back, thread_id }, context) => {
        const conversation = await targetConversation(context.session, conversation_id);
        if (conversation.status !== 'active')
          throw new AppError('conversation_not_found', `Conversation "${conversation.id}" has ended; it cannot branch.`);
        if (back === true && thread_id !== undefined)
          throw new AppError('conflict', 'Give either back: true or thread_id, not both.');
        const returning = back === true || thread_id !== undefined;
        if (returning && label !== undefined)
          throw new AppError('conflict', 'label names a new branch; going back (back, thread_id) keeps the thread\'s own label.');
        const thread = returning
          ? await threads.returnTo(conversation.id, thread_id ?? 'previous')
          : await threads.branch(conversation.id, label ?? null);
        return {
          conversation_id: conversation.id,
          thread_id: thread.id,
          label: thread.label,
          created_at: toIso(thread.createdAt),
          is_branch: thread.isBranch,
          returned: returning,
        };
      },
    }),

    defineMethod({
      name: 'conversation.analytics',
      requires: { ownData: 'conversation_id' },
      summary:
        'Turns, tokens, response times, who spoke how much, topics, and mood and relationship changes — per conversation, per persona, or overall.',
      params: z.object({
        conversation_id: conversationIdParam.optional(),
        persona_id: personaIdParam
          .optional()
          .describe('Figures over every conversation of this persona (when conversation_id is omitted).'),
      }),
      result: z.object({
        scope: z.enum(['conversation', 'persona', 'overall']),
        conversation_id: z.string().nullable(),
        persona_id: z.string().nullable(),
        conversations: z.object({ total: z.number().int(), active: z.number().int(), groups: z.number().int() }),
        totals: totalsWire,
        duration: z.number().nullable().describe('Seconds from start to end (or now), per conversation.'),
        tokens_used: z.number().int().nullable().describe('Per conversation: reply + prompt tokens, as conversation.end reports.'),
        speakers: z.array(speakerWire),
        topics: z.array(threadWire),
        mood_changes: z.array(moodChangeWire),
        relationship_changes: z.array(relationshipChangeWire),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ conversation_id, persona_id }, context) => {
        const moodsToWire = (events: Awaited<ReturnType<typeof analytics.persona>>['moodChanges']): z.infer<typeof moodChangeWire>[] =>
          events.map((event) => ({
            persona_id: event.personaId,
            at: toIso(event.at),
            mood: event.mood,
            valence: event.valence,
            arousal: event.arousal,
            stress: event.stress,
            cause: event.cause,
          }));
        if (conversation_id !== undefined) {
          const conversation = await conversations.accessible(context.session, conversation_id);
          await threads.settled(conversation.id);
          const result = await analytics.conversation(conversation);
          return {
            scope: 'conversation' as const,
            conversation_id: conversation.id,
            persona_id: null,
            conversations: { total: 1, active: conversation.status === 'active' ? 1 : 0, groups: conversation.kind === 'personas' ? 1 : 0 },
            totals: totalsToWire(result.totals),
            duration: seconds(conversations.durationMs(conversation)),
            tokens_used: result.stats.tokensUsed,
            speakers: result.speakers.map(speakerToWire),
            topics: result.topics.map((thread) => ({
              thread_id: thread.id,
              label: thread.label,
              is_branch: thread.isBranch,
              is_current: thread.isCurrent,
              message_count: thread.messageCount,
              created_at: toIso(thread.createdAt),
              last_active_at: toIso(thread.lastActiveAt),
            })),
            mood_changes: moodsToWire(result.moodChanges),
            relationship_changes: result.relationshipChanges.map((event) => ({
              persona_id: event.subjectId,
              other_kind: event.otherKind,
              other_id: event.otherId,
              at: toIso(event.at),
              quality: event.quality,
              affinity: event.affinity,
              trust: event.trust,
              familiarity: event.familiarity,
            })),
          };
        }
        if (persona_id !== undefined) {
          const persona = personas.resolve(persona_id);
          const result = await analytics.persona(persona.id);
          return {
            scope: 'persona' as const,
            conversation_id: null,
            persona_id: persona.id,
            conversations: result.conversations,
            totals: totalsToWire(result.totals),
            duration: null,
            tokens_used: null,
            speakers: result.speakers.map(speakerToWire),
            topics: [],
            mood_changes: moodsToWire(result.moodChanges),
            relationship_changes: [],
          };
        }
        const result = await analytics.overall();
        return {
          scope: 'overall' as const,
          conversation_id: null,
          persona_id: null,
          conversations: result.conversations,
          totals: totalsToWire(result.totals),
          duration: null,
          tokens_used: null,
          speakers: result.speakers.map(speakerToWire),
          topics: [],
          mood_changes: [],
          relationship_changes: [],
        };
      },
    }),
  ];
}
