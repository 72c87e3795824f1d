/**
 * A persona's models: `persona.export_dataset` (the caller's own conversations with a persona as a
 * fine-tuning dataset, chat JSONL). `persona-mcp model create` (a persona's own Ollama model) is a CLI
 * command; see docs/backends.md.
 */
import { z } from 'zod';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { personaIdParam } from './wire.js';

export function personaModelMethods(services: Services): MethodDefinition[] {
  const { datasets } = services;
  return [
    defineMethod({
      name: 'persona.export_dataset',
      summary: "Your own one-to-one conversations with a persona as a fine-tuning dataset (chat JSONL: one {\"messages\": [...]} per line).",
      description:
        'Consent filters: only conversations of sessions that belong to you (your API key, or the local user), never group ' +
        "conversations, never recalled memories; the system prompt is the persona's own. Conversations with fewer than " +
        '`min_replies` persona replies are left out.',
      params: z.object({
        persona_id: personaIdParam,
        min_replies: z.number().int().min(1).max(1000).default(1).describe('Persona replies a conversation needs to be included.'),
      }),
      result: z.object({
        persona_id: z.string(),
        format: z.literal('chat-jsonl'),
        examples: z.number().int().describe('Lines in `jsonl`, one per conversation.'),
        skipped: z.number().int().describe('Conversations left out (too few replies).'),
        jsonl: z.string(),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona_id, min_replies }, context) => {
        const result = await datasets.export(persona_id, context.session.userId, { minReplies: min_replies });
        return { persona_id: result.personaId, format: 'chat-jsonl' as const, examples: result.examples, skipped: result.skipped, jsonl: result.jsonl };
      },
    }),
  ];
}
