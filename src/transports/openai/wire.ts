/**
 * The OpenAI Chat Completions wire format, as far as front-ends (SillyTavern, Open WebUI, LibreChat, the
 * official `openai` clients) use it: the request parsed with zod (unknown fields are ignored, as OpenAI
 * does), and builders for models, completions, stream chunks and errors.
 * Reference: https://platform.openai.com/docs/api-reference/chat
 */
import { z } from 'zod';

/** Message content: a string, or content parts of which the text parts are read. */
const contentSchema = z.union([
  z.string(),
  z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
  z.null(),
]);

export const chatCompletionRequest = z.looseObject({
  model: z.string().min(1, 'model is required: a persona id from GET /v1/models'),
  messages: z.array(z.looseObject({ role: z.string(), content: contentSchema.optional(), name: z.string().optional() })).min(1, 'messages must hold at least one message'),
  stream: z.boolean().nullish(),
  stream_options: z.looseObject({ include_usage: z.boolean().optional() }).nullish(),
  max_tokens: z.number().int().positive().nullish(),
  max_completion_tokens: z.number().int().positive().nullish(),
  /** An end-user id: each one gets a session of its own (docs/openai.md). */
  user: z.string().max(256).nullish(),
  n: z.number().int().nullish(),
});
export type ChatCompletionRequest = z.infer<typeof chatCompletionRequest>;
export type RequestMessage = ChatCompletionRequest['messages'][number];

/** The text of a message (text parts joined; images and other parts are not read). */
export function messageText(message: RequestMessage): string {
  const content = message.content;
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) return content.map((part) => (part.type === 'text' && typeof part.text === 'string' ? part.text : '')).join('');
  return '';
}

export interface ModelEntry {
  id: string;
  object: 'model';
  created: number;
  owned_by: string;
  /** Our extras: what a model picker can show. */
  name: string;
  description: string;
  llm_model: string;
}

export interface CompletionUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export function usage(promptTokens: number, completionTokens: number): CompletionUsage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

export function completion(id: string, created: number, model: string, text: string, usageFigures: CompletionUsage, extras: Record<string, unknown>) {
  return {
    id,
    object: 'chat.completion' as const,
    created,
    model,
    choices: [{ index: 0, message: { role: 'assistant' as const, content: text, refusal: null }, logprobs: null, finish_reason: 'stop' as const }],
    usage: usageFigures,
    ...extras,
  };
}

export function chunk(id: string, created: number, model: string, delta: Record<string, unknown>, finishReason: 'stop' | null) {
  return { id, object: 'chat.completion.chunk' as const, created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }] };
}

export function usageChunk(id: string, created: number, model: string, usageFigures: CompletionUsage) {
  return { id, object: 'chat.completion.chunk' as const, created, model, choices: [], usage: usageFigures };
}

/** OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`. */
export interface OpenAiError {
  status: number;
  body: { error: { message: string; type: string; param: string | null; code: string | null } };
}

export function openAiError(status: number, type: string, message: string, code: string | null = null, param: string | null = null, hint?: string): OpenAiError {
  return { status, body: { error: { message, type, param, code, ...(hint === undefined ? {} : { hint }) } } };
}
