/** Session methods: `session.info` (id for reconnecting, active persona, conversations) and `session.resume`. */
import { z } from 'zod';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition, type SessionBinding } from '../registry.js';
import { conversationToWire, conversationWire, toIso } from './wire.js';

export function sessionMethods(services: Services): MethodDefinition[] {
  const { personas, sessions, conversations } = services;

  const sessionInfo = z.object({
    session_id: z.string(),
    active_persona: z.object({ id: z.string(), name: z.string() }).nullable(),
    conversations: z.array(conversationWire).describe('Newest first, at most 50.'),
    created_at: z.string().nullable().describe('Null while the session has not stored anything yet.'),
    last_seen_at: z.string().nullable(),
  });

  async function describeSession(session: SessionBinding): Promise<z.infer<typeof sessionInfo>> {
    const record = await sessions.find(session);
    const active = record?.activePersonaId ? personas.find(record.activePersonaId) : null;
    const list = record === null ? [] : await conversations.list(session);
    return {
      session_id: session.id,
      active_persona: active ? { id: active.id, name: active.name } : null,
      conversations: list.map(conversationToWire),
      created_at: record ? toIso(record.createdAt) : null,
      last_seen_at: record ? toIso(record.lastSeenAt) : null,
    };
  }

  return [
    defineMethod({
      name: 'session.info',
      requires: 'user',
      summary: "This connection's session: id (for reconnecting), active persona and conversations.",
      params: z.object({}),
      result: sessionInfo,
      hints: { readOnly: true, idempotent: true },
      exposeAsTool: false,
      handler: async (_params, context) => describeSession(context.session),
    }),

    defineMethod({
      name: 'session.resume',
      requires: 'user',
      summary: 'Re-attach this connection to an earlier session (also after a server restart).',
      params: z.object({ session_id: z.string().min(1).max(64) }),
      result: sessionInfo,
      hints: { idempotent: true },
      exposeAsTool: false,
      handler: async ({ session_id }, context) => {
        await sessions.resume(context.session, session_id);
        context.attachSession(session_id);
        return describeSession(context.session);
      },
    }),
  ];
}
