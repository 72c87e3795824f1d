/**
 * Group conversations between personas: interjecting, status, pausing, resuming, joining and leaving.
 * `conversation.start` (conversation.ts) launches groups.
 */
import { z } from 'zod';
import type { GroupView } from '../../services/group/group-conversation-service.js';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { conversationIdParam, isoTime, messageToWire, messageWire, personaIdParam, toIso } from './wire.js';

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

export function conversationGroupMethods(services: Services): MethodDefinition[] {
  const { personas, groups } = services;
  return [
    defineMethod({
      name: 'conversation.interject',
      requires: 'user',
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
      requires: 'user',
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
      requires: 'user',
      handler: async ({ conversation_id }, context) => groupToWire(await groups.pauseRunning(context.session, conversation_id)),
    }),

    defineMethod({
      name: 'conversation.resume',
      requires: 'user',
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
      requires: 'user',
      summary: 'A persona joins a group conversation; it hears only what is said from now on.',
      params: z.object({ conversation_id: conversationIdParam, persona_id: personaIdParam }),
      result: groupWire,
      handler: async ({ conversation_id, persona_id }, context) =>
        groupToWire(await groups.join(context.session, conversation_id, personas.resolve(persona_id))),
    }),

    defineMethod({
      name: 'conversation.leave',
      requires: 'user',
      summary: 'A persona leaves a group conversation; it keeps what it heard and hears nothing more.',
      params: z.object({ conversation_id: conversationIdParam, persona_id: personaIdParam }),
      result: groupWire,
      handler: async ({ conversation_id, persona_id }, context) =>
        groupToWire(await groups.leave(context.session, conversation_id, personas.resolve(persona_id))),
    }),
  ];
}
