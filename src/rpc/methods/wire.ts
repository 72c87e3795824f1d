/**
 * The edge between internal records (camelCase, milliseconds) and the wire (snake_case as the old
 * server had it, seconds and ISO times). Conversions live here and nowhere else.
 */
import { z } from 'zod';
import type { PersonaSnapshot } from '../../services/persona-service.js';
import type { ConversationRecord, MessageRecord } from '../../ports/store.js';

export const personaIdParam = z.string().trim().min(1).max(200).describe('Persona id or name, case-insensitive ("aria", "Aria").');
export const conversationIdParam = z.string().trim().min(1).max(200).describe('A conversation id from conversation.start or session.info.');
export const isoTime = z.string().describe('ISO 8601 time');

export function toIso(milliseconds: number): string {
  return new Date(milliseconds).toISOString();
}

export function seconds(milliseconds: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round((milliseconds / 1000) * factor) / factor;
}

export function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export const personaStateWire = z.object({
  social_energy: z.number().describe('Current social energy (0..max_social_energy).'),
  available_time: z.number().describe('Seconds of conversation left at the current energy.'),
  interaction_fatigue: z.number().describe('Tiredness from recent interactions, 0..1.'),
});

export function personaStateToWire(snapshot: PersonaSnapshot): z.infer<typeof personaStateWire> {
  return {
    social_energy: round(snapshot.state.energy, 1),
    available_time: snapshot.availability.availableTime,
    interaction_fatigue: round(snapshot.state.fatigue, 3),
  };
}

export const conversationWire = z.object({
  conversation_id: z.string(),
  kind: z.enum(['user', 'personas']),
  participants: z.array(z.string()).describe('Persona ids taking part.'),
  topic: z.string().nullable(),
  context: z.string().nullable(),
  status: z.enum(['active', 'ended']),
  started_at: isoTime,
  ended_at: isoTime.nullable(),
  end_reason: z.string().nullable(),
});

export function conversationToWire(conversation: ConversationRecord): z.infer<typeof conversationWire> {
  return {
    conversation_id: conversation.id,
    kind: conversation.kind,
    participants: conversation.personaIds,
    topic: conversation.topic,
    context: conversation.context,
    status: conversation.status,
    started_at: toIso(conversation.startedAt),
    ended_at: conversation.endedAt === null ? null : toIso(conversation.endedAt),
    end_reason: conversation.endReason,
  };
}

export const messageWire = z.object({
  id: z.number().int(),
  role: z.enum(['user', 'assistant', 'system']),
  persona_id: z.string().nullable().describe('The speaking persona; null for the user.'),
  content: z.string(),
  tokens: z.number().int(),
  created_at: isoTime,
  attachments: z
    .array(
      z.object({
        id: z.string(),
        kind: z.enum(['image', 'audio']),
        mime_type: z.string(),
        bytes: z.number().int(),
        width: z.number().int().nullable(),
        height: z.number().int().nullable(),
        url: z.string(),
        thumbnail_url: z.string().nullable(),
      }),
    )
    .optional()
    .describe('Pictures and audio sent with the message (conversation.history; absent when none).'),
});

export function messageToWire(message: MessageRecord): z.infer<typeof messageWire> {
  return {
    id: message.id,
    role: message.role,
    persona_id: message.personaId,
    content: message.content,
    tokens: message.tokens,
    created_at: toIso(message.createdAt),
  };
}
