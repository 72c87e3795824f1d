/**
 * A persona's conversations as a fine-tuning dataset: one JSON object per line, `{"messages": [...]}` with
 * `system`, `user` and `assistant` turns — the chat format OpenAI's fine-tuning API, Axolotl
 * (`type: chat_template`), Unsloth, TRL's `SFTTrainer` and LLaMA-Factory (sharegpt/openai style) read.
 *
 * Consent is decided before this runs (only the requesting user's own conversations reach it); this part
 * keeps each example honest: the system prompt is the persona's own (no recalled memories, which may be
 * about other people), turns alternate, and a conversation without enough replies is left out.
 */

export interface DatasetTurn {
  role: 'user' | 'assistant';
  content: string;
}

export interface ChatExample {
  messages: Array<{ role: 'system' | 'user' | 'assistant'; content: string }>;
}

/** Replies an example needs at least, by default: one exchange teaches the voice little but is still useful. */
export const DEFAULT_MIN_REPLIES = 1;

/**
 * One training example from a conversation, or null when it has fewer than `minReplies` replies.
 * Consecutive turns of the same role are joined (a retried message, a persona that spoke twice), empty
 * turns dropped, and a trailing user message without a reply left off.
 */
export function chatExample(systemPrompt: string, turns: readonly DatasetTurn[], minReplies = DEFAULT_MIN_REPLIES): ChatExample | null {
  const merged: DatasetTurn[] = [];
  for (const turn of turns) {
    const content = turn.content.trim();
    if (content.length === 0) continue;
    const last = merged.at(-1);
    if (last !== undefined && last.role === turn.role) last.content = `${last.content}\n\n${content}`;
    else merged.push({ role: turn.role, content });
  }
  while (merged.at(-1)?.role === 'user') merged.pop();
  const replies = merged.filter((turn) => turn.role === 'assistant').length;
  if (replies < Math.max(1, minReplies)) return null;
  return { messages: [{ role: 'system', content: systemPrompt }, ...merged] };
}

/** The dataset as JSON Lines. */
export function toJsonl(examples: readonly ChatExample[]): string {
  return examples.map((example) => `${JSON.stringify(example)}\n`).join('');
}
