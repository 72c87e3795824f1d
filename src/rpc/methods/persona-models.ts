/**
 * A persona's models: `persona.export_dataset` (the caller's own conversations with a persona as a
 * fine-tuning dataset, chat JSONL). `persona-mcp model create` (a persona's own Ollama model) is a CLI
 * command; see docs/backends.md.
 */
import { z } from 'zod';
import { SUMMARY_PREFIX } from '../../domain/context-window.js';
import { checkTemplateMacros, SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH } from '../../domain/persona-schema.js';
import { TEMPLATE_MACROS, TEMPLATE_TASKS } from '../../domain/prompt-template.js';
import { estimateMessageTokens } from '../../domain/tokens.js';
import type { PromptPreview } from '../../services/chat-service.js';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { conversationIdParam, personaIdParam, toIso } from './wire.js';

const promptPart = z.enum(['system', 'summary', 'history', 'message', 'post_history']);

const templateVersionWire = z.object({ version: z.number().int(), template: z.string(), created_at: z.string(), created_by: z.string().nullable() });

/** Each message of a preview with the part of the prompt it is and its token count. */
function previewToWire(preview: PromptPreview) {
  const messages = preview.window.messages;
  const lastUser = messages.map((message) => message.role).lastIndexOf('user');
  const hasPostHistory = preview.postHistory.length > 0;
  const wire = messages.map((message, index) => {
    const part: z.infer<typeof promptPart> =
      index === 0
        ? 'system'
        : hasPostHistory && index === messages.length - 1
          ? 'post_history'
          : index === 1 && message.role === 'system' && message.content.startsWith(SUMMARY_PREFIX)
            ? 'summary'
            : index === lastUser
              ? 'message'
              : 'history';
    return { role: message.role, content: message.content, part, tokens: estimateMessageTokens(message.content) };
  });
  const parts = { system: 0, summary: 0, history: 0, message: 0, post_history: 0 };
  for (const message of wire) parts[message.part] += message.tokens;
  return {
    persona_id: preview.persona.id,
    conversation_id: preview.conversationId,
    model: preview.model,
    context_tokens: preview.contextTokens,
    reply_tokens: preview.replyTokens,
    messages: wire,
    parts,
    total_tokens: wire.reduce((sum, message) => sum + message.tokens, 0),
    included_turns: preview.window.includedTurns,
    dropped_turns: preview.window.droppedTurns,
  };
}

export function personaModelMethods(services: Services): MethodDefinition[] {
  const { datasets, chat, templates } = services;
  return [
    defineMethod({
      name: 'persona.preview_prompt',
      requires: 'user',
      summary: 'The exact messages a chat turn would send to the model now, with the token count of each part; nothing is stored and no model is called.',
      description:
        "Takes persona.chat's params. Each message is tagged with its part: `system` (the persona's template with memories, mood and " +
        'scene), `summary` (the running summary of older turns), `history`, `message` (yours), `post_history` (a Character Card\'s ' +
        'post_history_instructions). Token counts are the server\'s conservative estimates, the same it budgets the window with.',
      params: z.object({
        message: z.string().describe('What the user would say.'),
        persona_id: personaIdParam.optional(),
        conversation_id: conversationIdParam.optional(),
        token_budget: z.number().int().positive().optional(),
        model: z.string().min(1).max(300).optional(),
      }),
      result: z.object({
        persona_id: z.string(),
        conversation_id: z.string().nullable().describe('The conversation the turn would continue; null: a new one.'),
        model: z.string(),
        context_tokens: z.number().int(),
        reply_tokens: z.number().int(),
        messages: z.array(z.object({ role: z.enum(['system', 'user', 'assistant']), content: z.string(), part: promptPart, tokens: z.number().int() })),
        parts: z.object({ system: z.number().int(), summary: z.number().int(), history: z.number().int(), message: z.number().int(), post_history: z.number().int() }),
        total_tokens: z.number().int(),
        included_turns: z.number().int(),
        dropped_turns: z.number().int(),
      }),
      hints: { readOnly: true },
      handler: async (params, context) =>
        previewToWire(
          await chat.previewTurn(context.session, {
            message: params.message,
            personaId: params.persona_id,
            conversationId: params.conversation_id,
            tokenBudget: params.token_budget,
            model: params.model,
          }),
        ),
    }),
    defineMethod({
      name: 'persona.template.get',
      requires: 'user',
      summary: "A persona's prompt template for a task (`chat`: the system prompt; `post_history`: sent after the conversation), with every saved version.",
      params: z.object({ persona_id: personaIdParam, task: z.enum(TEMPLATE_TASKS as [string, ...string[]]).default('chat') }),
      result: z.object({
        persona_id: z.string(),
        task: z.string(),
        template: z.string().describe('The template in effect; "" = the server default (chat) or none (post_history).'),
        source: z.enum(['saved', 'persona', 'card', 'default']),
        versions: z.array(templateVersionWire).describe('Saved versions, newest first.'),
        macros: z.record(z.string(), z.string()).describe('Every macro a template may use, with what it becomes.'),
        greetings: z.array(z.string()).describe("The persona's Character Card greetings (first_mes, then alternate_greetings), for conversation.start's `greeting`."),
      }),
      hints: { readOnly: true, idempotent: true },
      handler: async ({ persona_id, task }) => {
        const view = await templates.get(persona_id, task as (typeof TEMPLATE_TASKS)[number]);
        const greetings = await templates.greetings(services.personas.resolve(view.personaId));
        return {
          persona_id: view.personaId,
          task: view.task,
          template: view.current,
          source: view.source,
          versions: view.versions.map((version) => ({ version: version.version, template: version.template, created_at: toIso(version.createdAt), created_by: version.createdBy })),
          macros: { ...TEMPLATE_MACROS },
          greetings,
        };
      },
    }),
    defineMethod({
      name: 'persona.template.set',
      requires: { owner: 'persona', param: 'persona_id' },
      summary: "Saves a new version of a persona's prompt template for a task; an unknown macro is refused with the list of known ones.",
      description: 'To go back to an earlier version, set its text again (persona.template.get lists them). An empty chat template means the server default.',
      params: z.object({
        persona_id: personaIdParam,
        task: z.enum(TEMPLATE_TASKS as [string, ...string[]]).default('chat'),
        template: z.string().max(SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH).superRefine(checkTemplateMacros),
      }),
      result: z.object({ persona_id: z.string(), task: z.string(), version: z.number().int() }),
      handler: async ({ persona_id, task, template }, context) => {
        const saved = await templates.set(persona_id, task as (typeof TEMPLATE_TASKS)[number], template, context.session.userId ?? context.session.id);
        return { persona_id: saved.personaId, task: saved.task, version: saved.version };
      },
    }),
    defineMethod({
      name: 'persona.export_dataset',
      requires: 'user',
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
