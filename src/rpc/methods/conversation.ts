/** Conversation methods: start, end, status, history. */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import type { ConversationRecord } from '../../ports/store.js';
import type { Services } from '../../services/index.js';
import { attachmentsToWire } from './media.js';
import type { SessionBinding } from '../registry.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { conversationTopic } from './conversation-feed.js';
import { conversationIdParam, messageToWire, messageWire, personaIdParam, seconds, toIso } from './wire.js';

const HISTORY_DEFAULT_LIMIT = 50;
const HISTORY_MAX_LIMIT = 500;

export function conversationMethods(services: Services): MethodDefinition[] {
  const { personas, sessions, conversations } = services;

  /** The conversation a request names, else the session's active one with its active persona. */
  async function targetConversation(session: SessionBinding, conversationId: string | undefined): Promise<ConversationRecord> {
    if (conversationId !== undefined) return conversations.accessible(session, conversationId);
    const activeId = await sessions.activePersonaId(session);
    if (activeId === null) {
      throw new AppError('no_active_persona', 'No persona is active in this session; pass conversation_id or call persona.switch first.');
    }
    const conversation = await conversations.activeWith(session, activeId);
    if (conversation === null) {
      throw new AppError('conversation_not_found', `There is no active conversation with "${activeId}" in this session; chatting starts one.`);
    }
    return conversation;
  }

  return [
    defineMethod({
      name: 'conversation.start',
      requires: 'user',
      summary: 'Start a conversation: with one persona (persona_id + context), or between personas (persona1_id + persona2_id + topic, or personas).',
      params: z.object({
        persona_id: personaIdParam.optional(),
        context: z.string().max(8000).optional().describe('Scene or purpose of the conversation (with one persona or a group); enters every participant\'s prompt.'),
        persona1_id: personaIdParam.optional(),
        persona2_id: personaIdParam.optional(),
        personas: z.array(personaIdParam).min(2).max(8).optional().describe('A group of personas.'),
        topic: z.string().max(500).optional().describe('What the conversation is about; enters every participant\'s prompt.'),
        token_budget: z.number().int().positive().optional().describe('Default reply cap for turns in this conversation.'),
        max_turns: z.number().int().min(1).max(200).optional().describe('Between personas: persona turns before the group ends by itself (default social.groupMaxTurns).'),
        auto_run: z.boolean().default(true).describe('Between personas: start taking turns in the background at once (false: wait for conversation.resume).'),
        subscribe: z.boolean().default(false).describe('Subscribe this connection to the conversation before its first turn (WebSocket; see conversation.subscribe).'),
        greeting: z
          .number()
          .int()
          .min(0)
          .optional()
          .describe("With one persona: open with its Character Card greeting (0 = first_mes, 1.. = alternate_greetings), stored as the persona's first message."),
      }),
      result: z.object({
        conversation_id: z.string(),
        participants: z.array(z.string()),
        topic: z.string().nullable().describe('The topic given at start (null when none; the context is not echoed here).'),
        context: z.string().nullable().describe('The scene or purpose given at start.'),
        started: z.literal(true),
        kind: z.enum(['user', 'personas']),
        started_at: z.string(),
        greeting: z.string().nullable().describe('The opening line stored, when `greeting` was asked for.'),
      }),
      handler: async (params, context) => {
        let greeting: string | null = null;
        const group = params.personas ?? (params.persona1_id !== undefined && params.persona2_id !== undefined ? [params.persona1_id, params.persona2_id] : null);
        let conversation: ConversationRecord;
        if (group !== null) {
          if (params.subscribe && context.subscribe === undefined) throw new AppError('forbidden', 'subscribe: true needs a WebSocket connection.');
          const started = await services.groups.start(context.session, group.map((id) => personas.resolve(id)), {
            topic: params.topic ?? null,
            context: params.context ?? null,
            tokenBudget: params.token_budget ?? null,
            maxTurns: params.max_turns,
            autoRun: params.auto_run,
            // Subscribed before the first turn can be stored, so the subscriber misses none.
            beforeRun: params.subscribe ? (id) => void context.subscribe?.(conversationTopic(id)) : undefined,
          });
          conversation = started.conversation;
        } else {
          const personaId = params.persona_id ?? params.persona1_id ?? (await sessions.activePersonaId(context.session));
          if (personaId === null || personaId === undefined) {
            throw new AppError('no_active_persona', 'Name who to talk to: persona_id (a user conversation) or persona1_id + persona2_id (two personas).');
          }
          const persona = personas.resolve(personaId);
          const greetings = params.greeting === undefined ? [] : await services.templates.greetings(persona);
          if (params.greeting !== undefined && params.greeting >= greetings.length) {
            const has = greetings.length === 0 ? 'no greeting from a Character Card' : `${greetings.length} greeting(s) from a Character Card; greeting must be 0..${greetings.length - 1}`;
            throw new AppError('conflict', `${persona.name} has ${has}.`, {
              data: { greetings: greetings.length },
            });
          }
          conversation = await conversations.startWithUser(context.session, persona, {
            context: params.context ?? null,
            topic: params.topic ?? null,
            tokenBudget: params.token_budget ?? null,
          });
          if (params.greeting !== undefined) {
            greeting = greetings[params.greeting] ?? null;
            if (greeting !== null) await conversations.addGreeting(conversation, persona, greeting);
          }
        }
        return {
          conversation_id: conversation.id,
          participants: conversation.personaIds,
          topic: conversation.topic,
          context: conversation.context,
          started: true as const,
          kind: conversation.kind,
          started_at: toIso(conversation.startedAt),
          greeting,
        };
      },
    }),

    defineMethod({
      name: 'conversation.end',
      requires: 'user',
      summary: "End a conversation (default: the active one with the session's active persona).",
      params: z.object({ conversation_id: conversationIdParam.optional(), reason: z.string().max(500).optional() }),
      result: z.object({
        conversation_id: z.string(),
        ended: z.literal(true),
        reason: z.string(),
        final_stats: z.object({ duration: z.number().describe('Seconds from start to end.'), turns: z.number().int(), tokens_used: z.number().int() }),
      }),
      hints: { destructive: false, idempotent: false },
      handler: async (params, context) => {
        const conversation = await targetConversation(context.session, params.conversation_id);
        const reason = params.reason ?? 'ended_by_user';
        const { conversation: ended, stats } = await conversations.end(conversation, reason);
        return {
          conversation_id: ended.id,
          ended: true as const,
          reason,
          final_stats: { duration: seconds((ended.endedAt ?? ended.startedAt) - ended.startedAt), turns: stats.turns, tokens_used: stats.tokensUsed },
        };
      },
    }),

    defineMethod({
      name: 'conversation.status',
      requires: 'user',
      summary: "The session's conversations and the current one with the active persona (or the one named by conversation_id).",
      params: z.object({
        conversation_id: conversationIdParam
          .optional()
          .describe("Report this conversation instead of the active persona's; another user's id answers -32003 (no such conversation)."),
      }),
      result: z.object({
        active_conversations: z.number().int(),
        current_persona: z.string().nullable(),
        conversation_id: z.string().nullable(),
        turn_count: z.number().int(),
        total_tokens: z.number().int(),
        conversation_duration: z.number().describe('Seconds since the current conversation started.'),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async (params, context) => {
        const activeId = await sessions.activePersonaId(context.session);
        const all = await conversations.list(context.session, 1000);
        const current =
          params.conversation_id !== undefined
            ? await conversations.accessible(context.session, params.conversation_id)
            : activeId === null
              ? null
              : await conversations.activeWith(context.session, activeId);
        const stats = current === null ? null : await conversations.stats(current.id);
        return {
          active_conversations: all.filter((conversation) => conversation.status === 'active').length,
          current_persona: activeId,
          conversation_id: current?.id ?? null,
          turn_count: stats?.turns ?? 0,
          total_tokens: stats?.tokensUsed ?? 0,
          conversation_duration: current === null ? 0 : seconds(conversations.durationMs(current), 1),
        };
      },
    }),

    defineMethod({
      name: 'conversation.history',
      requires: 'user',
      summary: 'Messages of a conversation, newest page first (chronological within a page).',
      params: z.object({
        conversation_id: conversationIdParam.optional(),
        persona_id: personaIdParam.optional().describe("The session's conversation with this persona (the active one, else the latest)."),
        limit: z.number().int().min(1).max(HISTORY_MAX_LIMIT).default(HISTORY_DEFAULT_LIMIT),
        before_id: z.number().int().positive().optional().describe('Page to messages older than this id (next_before_id of the previous page).'),
      }),
      result: z.object({
        conversation_id: z.string().nullable(),
        persona_id: z.string().nullable(),
        messages: z.array(messageWire),
        next_before_id: z.number().int().nullable(),
        has_more: z.boolean(),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async (params, context) => {
        let conversation: ConversationRecord | null;
        let personaId: string | null = null;
        if (params.conversation_id !== undefined) {
          conversation = await conversations.accessible(context.session, params.conversation_id);
        } else {
          const wanted = params.persona_id ?? (await sessions.activePersonaId(context.session));
          if (wanted === null) throw new AppError('no_active_persona', 'Pass persona_id or conversation_id, or call persona.switch first.');
          personaId = personas.resolve(wanted).id;
          conversation = await conversations.latestWith(context.session, personaId);
        }
        if (conversation === null) return { conversation_id: null, persona_id: personaId, messages: [], next_before_id: null, has_more: false };
        const page = await conversations.historyPage(conversation.id, params.limit, params.before_id);
        const attachments = await services.media.media.attachmentsOf(page.messages.map((message) => message.id));
        return {
          conversation_id: conversation.id,
          persona_id: personaId ?? conversation.personaIds[0] ?? null,
          messages: [...page.messages].reverse().map((message) => {
            const files = attachments.get(message.id);
            return files === undefined ? messageToWire(message) : { ...messageToWire(message), attachments: attachmentsToWire(files) };
          }),
          next_before_id: page.nextBeforeId,
          has_more: page.nextBeforeId !== null,
        };
      },
    }),

  ];
}
