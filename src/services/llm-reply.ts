/**
 * The one stream collector: reads an LLM chat stream (`LlmProvider.chat`) into the whole reply, passing
 * each delta on as it arrives. Chat turns, group turns, memory formation and the relationship judge all
 * read their replies through it.
 */
import type { ModelChoice } from '../domain/model-selection.js';
import type { Clock } from '../ports/clock.js';
import type { LlmChatEvent } from '../ports/llm.js';

export interface CollectedReply {
  text: string;
  /** Token counts the backend reported (null when it reports none). */
  promptTokens: number | null;
  completionTokens: number | null;
  /** The model the backend says answered; null when the stream broke off before `done`. */
  model: string | null;
  /** When the first delta arrived (`clock.now()`), or null for an empty reply or without a clock. */
  firstTokenAt: number | null;
  /** Which backend and model answered and why (the model router's choice), when the backend says. */
  choice: ModelChoice | null;
  /** Whether the stream ended with its `done` event (a reply that broke off is not complete). */
  isComplete: boolean;
}

export async function collectReply(
  stream: AsyncIterable<LlmChatEvent>,
  options: { clock?: Clock; onDelta?: (delta: string) => void } = {},
): Promise<CollectedReply> {
  let text = '';
  let firstTokenAt: number | null = null;
  for await (const event of stream) {
    if (event.type === 'delta') {
      if (firstTokenAt === null && options.clock !== undefined) firstTokenAt = options.clock.now();
      text += event.text;
      options.onDelta?.(event.text);
    } else {
      return { text, promptTokens: event.promptTokens, completionTokens: event.completionTokens, model: event.model, choice: event.choice ?? null, firstTokenAt, isComplete: true };
    }
  }
  return { text, promptTokens: null, completionTokens: null, model: null, choice: null, firstTokenAt, isComplete: false };
}
