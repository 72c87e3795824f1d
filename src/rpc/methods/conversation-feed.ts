/**
 * The conversation feed over JSON-RPC: `conversation.subscribe` / `unsubscribe`, and the notifications
 * subscribers get (each stored message as `conversation.turn`, the end, group pauses and resumptions,
 * scene changes, and who speaks next in a group and why).
 */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import type { ConversationUpdate } from '../../services/conversation-feed.js';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { sceneToWire } from './media.js';
import { conversationIdParam, messageToWire } from './wire.js';

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

/**
 * A conversation update as the JSON-RPC notification its subscribers get: each stored message as
 * `conversation.turn`, the end as `conversation.ended`, group pauses and resumptions as
 * `conversation.group_status`, scene changes as `conversation.scene`, a group's next speaker as
 * `conversation.speaker`.
 */
export function conversationNotification(update: ConversationUpdate): { topic: string; method: string; params: Record<string, unknown> } {
  const topic = conversationTopic(update.conversationId);
  switch (update.kind) {
    case 'turn':
      return {
        topic,
        method: CONVERSATION_NOTIFICATIONS.turn,
        params: { conversation_id: update.conversationId, message: messageToWire(update.message), speaker_name: update.speakerName },
      };
    case 'ended':
      return { topic, method: CONVERSATION_NOTIFICATIONS.ended, params: { conversation_id: update.conversationId, reason: update.reason } };
    case 'status':
      return {
        topic,
        method: CONVERSATION_NOTIFICATIONS.statusChanged,
        params: { conversation_id: update.conversationId, status: update.status, reason: update.reason },
      };
    case 'scene':
      return { topic, method: CONVERSATION_NOTIFICATIONS.scene, params: { conversation_id: update.conversationId, scene: sceneToWire(update.scene) } };
    case 'speaker':
      return {
        topic,
        method: CONVERSATION_NOTIFICATIONS.speaker,
        params: {
          conversation_id: update.conversationId,
          persona_id: update.choice.personaId,
          persona_name: update.speakerName,
          mode: update.choice.mode,
          desire: update.choice.desire,
          desires: update.choice.desires,
          reason: update.reason,
        },
      };
  }
}

export function conversationFeedMethods(services: Services): MethodDefinition[] {
  const { conversations } = services;
  return [
    defineMethod({
      name: 'conversation.subscribe',
      requires: 'user',
      summary: 'Receive each new message of a conversation as a `conversation.turn` notification (WebSocket only).',
      description:
        'Notifications: `conversation.turn` {conversation_id, message, speaker_name} for every stored message (persona turns and user ' +
        'messages), `conversation.ended` {conversation_id, reason}, `conversation.scene` {conversation_id, scene} when scene.set changes it, and for ' +
        'groups `conversation.group_status` {conversation_id, status, reason} and `conversation.speaker` {conversation_id, persona_id, persona_name, ' +
        'mode, desire, desires, reason} (who speaks next and why) before each turn. ' +
        'Messages up to `last_message_id` are already stored: read them with conversation.history; everything after arrives exactly once, ' +
        'and only after this answer (notifications published meanwhile wait for it), so the next frame after the request is its answer.',
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
      requires: 'user',
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
  ];
}
