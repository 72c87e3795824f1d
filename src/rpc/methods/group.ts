/**
 * Group conversations and what builds on conversations: subscriptions (each new turn as a
 * notification, only to connections that asked), interjecting, joining and leaving, topic threads and
 * branches, and analytics. `conversation.start` (conversation.ts) launches groups.
 */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import type { EventBus } from '../../ports/events.js';
import type { ConversationRecord, MessageRecord } from '../../ports/store.js';
import type { GroupView } from '../../services/group/group-conversation-service.js';
import type { Services } from '../../services/index.js';
import type { SpeakerShare, Totals } from '../../services/social/analytics-service.js';
import { defineMethod, type MethodDefinition, type SessionBinding } from '../registry.js';
import { conversationIdParam, isoTime, messageToWire, messageWire, personaIdParam, seconds, toIso } from './wire.js';
import { sceneToWire } from './media.js';
import { explainSpeakerChoice } from '../../domain/social/speaker-explanation.js';

/** The notification topic of a conversation. */
export function conversationTopic(conversationId: string): string {
  return `conversation:${conversationId}`;
}

/** Notification methods sent to subscribers of a conversation. */
export const CONVERSATION_NOTIFICATIONS = {
  turn: 'conversation.turn',
  ended: 'conversation.ended',
  statusChanged: 'conversation.group_status',
  scene: 'conversation.scene',
  speaker: 'conversation.speaker',
} as const;

export function turnNotification(conversationId: string, message: MessageRecord, speakerName: string | null): Record<string, unknown> {
  return { conversation_id: conversationId, message: messageToWire(message), speaker_name: speakerName };
}

/**
 * Forwards conversation events to subscribers through `publish` (the WebSocket transport's): each
 * stored message as `conversation.turn`, the end as `conversation.ended`, group pauses and resumptions
 * as `conversation.group_status`. Returns the function that stops forwarding.
 */
export function forwardConversationEvents(
  services: Services,
  events: EventBus,
  publish: (topic: string, method: string, params: Record<string, unknown>) => void,
): () => void {
  const nameOf = (personaId: string | null): string | null =>
    personaId === null ? null : (services.personas.list().find((persona) => persona.id === personaId)?.name ?? personaId);
  const stopEvents = events.subscribe((event) => {
    if (event.type === 'messageStored') {
      publish(
        conversationTopic(event.conversationId),
        CONVERSATION_NOTIFICATIONS.turn,
        turnNotification(event.conversationId, event.message, nameOf(event.message.personaId)),
      );
    } else if (event.type === 'conversationEnded') {
      publish(conversationTopic(event.conversationId), CONVERSATION_NOTIFICATIONS.ended, {
        conversation_id: event.conversationId,
        reason: event.reason,
      });
    }
  });
  const stopStatus = services.groups.onStatusChange((change) => {
    if (change.status === 'finished') return; // conversation.ended says it
    publish(conversationTopic(change.conversationId), CONVERSATION_NOTIFICATIONS.statusChanged, {
      conversation_id: change.conversationId,
      status: change.status,
      reason: change.reason,
    });
  });
  const stopScenes = services.media.scenes.onChange((scene) => {
    publish(conversationTopic(scene.conversationId), CONVERSATION_NOTIFICATIONS.scene, { conversation_id: scene.conversationId, scene: sceneToWire(scene) });
  });
  const stopSpeakers = services.groups.onSpeakerChosen((choice) => {
    publish(conversationTopic(choice.conversationId), CONVERSATION_NOTIFICATIONS.speaker, {
      conversation_id: choice.conversationId,
      persona_id: choice.personaId,
      persona_name: nameOf(choice.personaId),
      mode: choice.mode,
      desire: choice.desire,
      desires: choice.desires,
      reason: explainSpeakerChoice({ ...choice, nameOf: (id) => nameOf(id) ?? id }),
    });
  });
  return () => {
    stopEvents();
    stopStatus();
    stopScenes();
    stopSpeakers();
  };
}

const groupWire = z.object({
  conversation_id: z.string(),
  status: z.enum(['running', 'paused', 'finished']),
  status_reason: z.string().nullable(),
  max_turns: z.number().int(),
  is_running: z.boolean().describe('A turn is being prepared or generated right now, or the group waits for its next turn.'),
  members: z.array(
    z.object({
      persona_id: z.string(),
      present: z.boolean(),
      joined_at: isoTime,
      left_at: isoTime.nullable(),
      heard_from_message_id: z.number().int().describe('Witnessed messages have ids above this.'),
    }),
  ),
});

function groupToWire(view: GroupView): z.infer<typeof groupWire> {
  return {
    conversation_id: view.conversation.id,
    status: view.group.status,
    status_reason: view.group.statusReason,
    max_turns: view.group.maxTurns,
    is_running: view.isRunning,
    members: view.members.map((member) => ({
      persona_id: member.personaId,
      present: member.leftAfter === null,
      joined_at: toIso(member.joinedAt),
      left_at: member.leftAt === null ? null : toIso(member.leftAt),
      heard_from_message_id: member.joinedAfter,
    })),
  };
}

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

export function groupMethods(services: Services): MethodDefinition[] {
  const { personas, sessions, conversations, groups } = services;
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
      name: 'conversation.subscribe',
      summary: 'Receive each new message of a conversation as a `conversation.turn` notification (WebSocket only).',
      description:
        'Notifications: `conversation.turn` {conversation_id, message, speaker_name} for every stored message (persona turns and user ' +
        'messages), `conversation.ended` {conversation_id, reason}, `conversation.scene` {conversation_id, scene} when scene.set changes it, and for ' +
        'groups `conversation.group_status` {conversation_id, status, reason} and `conversation.speaker` {conversation_id, persona_id, persona_name, ' +
        'mode, desire, desires, reason} (who speaks next and why) before each turn. ' +
        'Messages up to `last_message_id` are already stored: read them with conversation.history; everything after arrives exactly once.',
      params: z.object({ conversation_id: conversationIdParam }),
      result: z.object({
        conversation_id: z.string(),
        subscribed: z.literal(true),
        already_subscribed: z.boolean(),
        status: z.enum(['active', 'ended']),
        last_message_id: z.number().int(),
      }),
      hints: { idempotent: true },
      exposeAsTool: false,
      handler: async ({ conversation_id }, context) => {
        if (context.subscribe === undefined)
          throw new AppError('forbidden', 'Subscriptions need a WebSocket connection; poll conversation.history instead.');
        const conversation = await conversations.accessible(context.session, conversation_id);
        const added = context.subscribe(conversationTopic(conversation.id));
        const page = await conversations.historyPage(conversation.id, 1);
        return {
          conversation_id: conversation.id,
          subscribed: true as const,
          already_subscribed: !added,
          status: conversation.status,
          last_message_id: page.messages[0]?.id ?? 0,
        };
      },
    }),

    defineMethod({
      name: 'conversation.unsubscribe',
      summary: 'Stop receiving notifications of a conversation.',
      params: z.object({ conversation_id: conversationIdParam }),
      result: z.object({
        conversation_id: z.string(),
        unsubscribed: z.boolean().describe('False when this connection was not subscribed.'),
      }),
      hints: { idempotent: true },
      exposeAsTool: false,
      handler: async ({ conversation_id }, context) => {
        if (context.unsubscribe === undefined) throw new AppError('forbidden', 'Subscriptions need a WebSocket connection.');
        return { conversation_id, unsubscribed: context.unsubscribe(conversationTopic(conversation_id)) };
      },
    }),

    defineMethod({
      name: 'conversation.interject',
      summary: 'Say something in a group conversation; the next persona to speak hears it (a paused group runs again).',
      params: z.object({ conversation_id: conversationIdParam, message: z.string().describe('What you say to the group.') }),
      result: z.object({ conversation_id: z.string(), message: messageWire, group: groupWire }),
      handler: async ({ conversation_id, message }, context) => {
        const stored = await groups.interject(context.session, conversation_id, message);
        return {
          conversation_id: stored.conversationId,
          message: messageToWire(stored),
          group: groupToWire(await groups.view(context.session, conversation_id)),
        };
      },
    }),

    defineMethod({
      name: 'conversation.group_status',
      summary: 'A group conversation: running, paused or finished, and who is present.',
      params: z.object({ conversation_id: conversationIdParam }),
      result: groupWire,
      hints: { readOnly: true, idempotent: true },
      handler: async ({ conversation_id }, context) => groupToWire(await groups.view(context.session, conversation_id)),
    }),

    defineMethod({
      name: 'conversation.pause',
      summary: 'Pause a running group conversation: the turn in progress finishes, then nobody speaks until conversation.resume or an interjection.',
      params: z.object({ conversation_id: conversationIdParam }),
      result: groupWire,
      hints: { idempotent: true },
      handler: async ({ conversation_id }, context) => groupToWire(await groups.pauseRunning(context.session, conversation_id)),
    }),

    defineMethod({
      name: 'conversation.resume',
      summary: 'Run a paused group conversation again (after an LLM failure, or one started with auto_run false).',
      description:
        'With `turns`, the group takes that many persona turns and pauses again (status reason "stepped"); interjections then do not run it until the next resume. Without, it runs freely again.',
      params: z.object({
        conversation_id: conversationIdParam,
        turns: z.number().int().min(1).max(1000).optional().describe('Step: take this many persona turns, then pause.'),
      }),
      result: groupWire,
      handler: async ({ conversation_id, turns }, context) => groupToWire(await groups.resume(context.session, conversation_id, turns)),
    }),

    defineMethod({
      name: 'conversation.join',
      summary: 'A persona joins a group conversation; it hears only what is said from now on.',
      params: z.object({ conversation_id: conversationIdParam, persona_id: personaIdParam }),
      result: groupWire,
      handler: async ({ conversation_id, persona_id }, context) =>
        groupToWire(await groups.join(context.session, conversation_id, personas.resolve(persona_id))),
    }),

    defineMethod({
      name: 'conversation.leave',
      summary: 'A persona leaves a group conversation; it keeps what it heard and hears nothing more.',
      params: z.object({ conversation_id: conversationIdParam, persona_id: personaIdParam }),
      result: groupWire,
      handler: async ({ conversation_id, persona_id }, context) =>
        groupToWire(await groups.leave(context.session, conversation_id, personas.resolve(persona_id))),
    }),

    defineMethod({
      name: 'conversation.threads',
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
      summary: 'Start a new topic thread explicitly; the next messages belong to it and the others are summarised in the prompt.',
      params: z.object({
        conversation_id: conversationIdParam.optional(),
        label: z.string().max(200).optional().describe('A name for the new thread.'),
      }),
      result: z.object({ conversation_id: z.string(), thread_id: z.number().int(), label: z.string(), created_at: isoTime }),
      handler: async ({ conversation_id, label }, context) => {
        const conversation = await targetConversation(context.session, conversation_id);
        if (conversation.status !== 'active')
          throw new AppError('conversation_not_found', `Conversation "${conversation.id}" has ended; it cannot branch.`);
        const thread = await threads.branch(conversation.id, label ?? null);
        return { conversation_id: conversation.id, thread_id: thread.id, label: thread.label, created_at: toIso(thread.createdAt) };
      },
    }),

    defineMethod({
      name: 'conversation.analytics',
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
        if (conversation_id === undefined && context.session.role === 'user') {
          // Persona and overall figures add up every user's conversations; only an admin may see them.
          throw new AppError('forbidden', 'Analytics per persona or overall span every user and need an admin key; pass conversation_id for one of your conversations.');
        }
        if (conversation_id !== undefined) {
          const conversation = await conversations.accessible(context.session, conversation_id);
          await threads.settled(conversation.id);
          const result = await analytics.conversation(conversation);
          const end = conversation.endedAt ?? Date.now();
          return {
            scope: 'conversation' as const,
            conversation_id: conversation.id,
            persona_id: null,
            conversations: { total: 1, active: conversation.status === 'active' ? 1 : 0, groups: conversation.kind === 'personas' ? 1 : 0 },
            totals: totalsToWire(result.totals),
            duration: seconds(end - conversation.startedAt),
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
