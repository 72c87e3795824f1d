/**
 * Chat methods: `persona.chat` (with optional streaming as `persona.chat.chunk` notifications) and the
 * old server's multi-frame `persona.chat_stream`, kept for its clients (legacy; see docs/API.md).
 */
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { isAppError } from '../../domain/errors.js';
import type { ChatTurnResult } from '../../services/chat-service.js';
import type { Services } from '../../services/index.js';
import { APPLICATION_ERRORS, INTERNAL_ERROR } from '../error-codes.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { conversationIdParam, personaIdParam, personaStateWire, round, seconds } from './wire.js';
import { attachmentWire, mediaToWire, toUpload, uploadParam } from './media.js';
import { MAX_ATTACHMENTS_PER_MESSAGE } from '../../services/media/media-service.js';

const chatParams = z.object({
  message: z.string().describe('What the user says to the persona.'),
  token_budget: z.number().int().positive().optional().describe('Reply length cap in tokens (default 500).'),
  persona_id: personaIdParam.optional().describe("Talk to this persona instead of the session's active one (id or name)."),
  conversation_id: conversationIdParam.optional().describe('Continue this conversation (the MCP way to keep a thread).'),
  stream: z.boolean().optional().describe('Send persona.chat.chunk notifications while the reply is generated.'),
  images: z
    .array(uploadParam)
    .max(MAX_ATTACHMENTS_PER_MESSAGE)
    .optional()
    .describe('Pictures for the persona to look at (PNG, JPEG, WebP, GIF as base64). Its model needs vision, else error model_cannot_see.'),
  audio: z
    .array(uploadParam)
    .max(MAX_ATTACHMENTS_PER_MESSAGE)
    .optional()
    .describe('Audio clips (MP3, Ogg, WAV, WebM, M4A, FLAC as base64): stored with the message and playable; the model is told it cannot hear them.'),
  model: z
    .string()
    .min(1)
    .max(300)
    .optional()
    .describe('Pin this turn to exactly this model (`ollama:llama3.1:8b`, `openai:qwen2.5-7b-instruct`, a named backend, or a bare name): no automatic selection, no fall-back.'),
  latency_budget_ms: z.number().int().positive().optional().describe('Longest acceptable expected reply time; models expected to be slower are passed over.'),
});

const modelChoiceWire = z
  .object({
    model: z.string().describe('The model that answered.'),
    backend: z.string().describe('The backend it runs on (a name from llm.backends, or ollama, openai, host).'),
    ref: z.string().describe('`backend:model`.'),
    source: z.enum(['pin', 'task', 'persona', 'default', 'fallback']).describe('Where the model came from.'),
    rule: z.enum(['pinned', 'first-choice', 'fallback', 'latency-budget', 'largest-window']).describe('The selection rule that decided (docs/backends.md).'),
    reason: z.string().describe('Why this model answered, in words.'),
    skipped: z.array(z.object({ model: z.string(), reason: z.string() })).describe('Models passed over first, with why.'),
  })
  .nullable()
  .describe('Which model answered and why (automatic selection, docs/backends.md).');

const chatResult = z.object({
  response: z.string(),
  response_type: z.literal('chat'),
  continue_score: z.number().int().min(0).max(100).describe('How keen the persona is to keep talking, 0..100.'),
  continue_decision: z.enum(['continue', 'wind_down', 'end']),
  tokens_used: z.number().int().describe('Prompt plus reply tokens of this turn.'),
  processing_time: z.number().describe('Seconds the turn took.'),
  persona_state: personaStateWire,
  persona_id: z.string(),
  persona_name: z.string(),
  conversation_id: z.string(),
  message_id: z.number().int().describe("The stored reply's id."),
  model: z.string(),
  attachments: z.array(attachmentWire).optional().describe("The files stored with the user's message, when any were sent."),
  model_choice: modelChoiceWire,
  memory: z
    .object({
      profile_lines: z.number().int().describe('Lines of the "what I know about you" block.'),
      recalled_lines: z.number().int().describe('Memories recalled for this message (above the relevance floor).'),
      tokens: z.number().int().describe('Tokens of both (at most memory.promptMaxTokens).'),
      summary_tokens: z.number().int().describe("Tokens of the conversation's summary, when one was used."),
    })
    .optional()
    .describe('What long-term memory added to the prompt (absent when memory took no part).'),
});

function chatResultToWire(turn: ChatTurnResult): z.infer<typeof chatResult> {
  return {
    response: turn.reply,
    response_type: 'chat',
    continue_score: turn.continueScore.score,
    continue_decision: turn.continueScore.decision,
    tokens_used: turn.promptTokens + turn.completionTokens,
    processing_time: seconds(turn.processingMs),
    persona_state: {
      social_energy: round(turn.state.energy, 1),
      available_time: turn.availability.availableTime,
      interaction_fatigue: round(turn.state.fatigue, 3),
    },
    persona_id: turn.persona.id,
    persona_name: turn.persona.name,
    conversation_id: turn.conversation.id,
    message_id: turn.replyMessage.id,
    model: turn.model,
    model_choice:
      turn.modelChoice === null
        ? null
        : {
            model: turn.modelChoice.model,
            backend: turn.modelChoice.backend,
            ref: turn.modelChoice.ref,
            source: turn.modelChoice.source,
            rule: turn.modelChoice.rule,
            reason: turn.modelChoice.reason,
            skipped: turn.modelChoice.skipped.map((skip) => ({ model: skip.ref, reason: skip.reason })),
          },
    ...(turn.contextUsage.memoryTokens !== undefined
      ? {
          memory: {
            profile_lines: turn.contextUsage.memoryProfileLines ?? 0,
            recalled_lines: turn.contextUsage.memoryRecalledLines ?? 0,
            tokens: turn.contextUsage.memoryTokens,
            summary_tokens: turn.contextUsage.memorySummaryTokens ?? 0,
          },
        }
      : {}),
  };
}

const streamEvent = z.object({
  event_type: z.enum(['stream_start', 'stream_chunk', 'stream_complete', 'stream_error', 'stream_cancelled']),
  stream_id: z.string(),
  timestamp: z.string(),
  data: z.record(z.string(), z.unknown()),
});

export function chatMethods(services: Services): MethodDefinition[] {
  const { chat, personas, sessions } = services;

  return [
    defineMethod({
      name: 'persona.chat',
      requires: 'user',
      summary: 'Say something to a persona and get its reply; the turn is stored in its conversation.',
      description:
        'The user message is stored before the model is called, so it is never lost. With `stream: true` the reply also arrives as ' +
        '`persona.chat.chunk` notifications `{request_id, delta}` before this response. Chats in one conversation (from any connection) ' +
        'run one at a time in arrival order, each answering its own message with the turns before it in its context; more than ' +
        '`limits.maxQueuedChatsPerConversation` (4) waiting behind the running one are refused with `-32022`.',
      params: chatParams,
      result: chatResult,
      hints: { openWorld: true },
      handler: async (params, context) => {
        const requestId = context.requestId;
        // Checked and stored before the turn: a refused file stops the request before anything is written.
        const attachments = await services.media.media.prepare((params.images ?? []).map(toUpload), (params.audio ?? []).map(toUpload));
        const turn = await chat.runTurn(
          context.session,
          {
            message: params.message,
            personaId: params.persona_id,
            conversationId: params.conversation_id,
            tokenBudget: params.token_budget,
            attachments: { images: attachments.images, notes: attachments.notes },
            onUserMessageStored: (message) => services.media.media.attach(message, attachments.stored),
            model: params.model,
            latencyBudgetMs: params.latency_budget_ms,
          },
          {
            signal: context.signal,
            ...(params.stream === true && requestId !== undefined
              ? { onDelta: (delta: string) => context.notify('persona.chat.chunk', { request_id: requestId, delta }) }
              : {}),
          },
        );
        return attachments.stored.length === 0 ? chatResultToWire(turn) : { ...chatResultToWire(turn), attachments: attachments.stored.map(mediaToWire) };
      },
    }),

    defineMethod({
      name: 'persona.chat_stream',
      requires: 'user',
      summary: 'Legacy streaming chat: several response frames with the same id (stream_start, stream_chunk..., stream_complete).',
      description:
        "Kept for the old server's clients; it breaks JSON-RPC's one-response rule on purpose. New clients use `persona.chat` " +
        'with `stream: true`. Failures arrive as a `stream_error` frame, not a JSON-RPC error.',
      params: chatParams.omit({ stream: true, images: true, audio: true }),
      result: streamEvent.passthrough(),
      legacyStreaming: true,
      exposeAsTool: false,
      deprecated: 'Use persona.chat with "stream": true.',
      hints: { openWorld: true },
      handler: async (params, context) => {
        const streamId = randomUUID();
        const frame = (eventType: z.infer<typeof streamEvent>['event_type'], data: Record<string, unknown>, topLevel: Record<string, unknown> = {}) => ({
          event_type: eventType,
          stream_id: streamId,
          timestamp: new Date(services.clock.now()).toISOString(),
          ...topLevel,
          data,
        });
        const personaId = params.persona_id ?? (await sessions.activePersonaId(context.session)) ?? undefined;
        // What the turn will use: the live default unless the request names one.
        const tokenBudget = params.token_budget ?? services.turns.settings.defaultTokenBudget;
        let chunkNumber = 0;
        let totalLength = 0;
        try {
          const persona = personaId === undefined ? null : personas.resolve(personaId);
          context.sendPartialResult(
            frame('stream_start', { persona_id: persona?.id ?? null, persona_name: persona?.name ?? null, message: params.message, token_budget: tokenBudget }),
          );
          const turn = await chat.runTurn(
            context.session,
            {
              message: params.message,
              personaId: persona?.id,
              conversationId: params.conversation_id,
              tokenBudget: params.token_budget,
              model: params.model,
              latencyBudgetMs: params.latency_budget_ms,
            },
            {
              signal: context.signal,
              onDelta: (chunk) => {
                chunkNumber += 1;
                totalLength += chunk.length;
                context.sendPartialResult(frame('stream_chunk', { chunk, chunk_number: chunkNumber, total_length: totalLength }, { chunk }));
              },
            },
          );
          const summary = {
            full_response: turn.reply,
            chunk_count: chunkNumber,
            processing_time: seconds(turn.processingMs),
            response_length: turn.reply.length,
            tokens_used: turn.promptTokens + turn.completionTokens,
            persona_name: turn.persona.name,
          };
          return frame('stream_complete', { ...summary, conversation_id: turn.conversation.id, continue_score: turn.continueScore.score }, summary);
        } catch (error) {
          if (isAppError(error) && error.kind === 'cancelled') return frame('stream_cancelled', { reason: error.message });
          if (!isAppError(error)) context.logger.error({ err: error }, 'persona.chat_stream failed');
          const errorObject = isAppError(error)
            ? { code: APPLICATION_ERRORS[error.kind].code, message: error.message, kind: error.kind }
            : { code: INTERNAL_ERROR, message: 'Internal error: the server failed to handle the request; it has been logged.' };
          return frame('stream_error', { error: errorObject }, { error: errorObject });
        }
      },
    }),
  ];
}
