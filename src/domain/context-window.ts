/**
 * The context window: which messages of a conversation go to the model on this turn. A model sees only
 * `contextTokens`, and part of that must stay free for its reply, so the prompt gets
 * `contextTokens − replyTokens`, counted with the conservative {@link estimateTokens} plus
 * {@link MESSAGE_OVERHEAD_TOKENS} per message.
 *
 * What goes in, by priority:
 * 1. the system prompt (the persona) — always;
 * 2. the newest message (the visitor's, which the reply answers) — always;
 * 3. the running summary of older turns, if given and it fits, right after the system prompt;
 * 4. as many earlier messages as fit, newest first; the first one that does not fit ends the walk (older,
 *    shorter ones are not squeezed in after a gap: a hole in the middle of a dialogue confuses models more
 *    than a shorter memory).
 * The output keeps chronological order.
 */
import { estimateMessageTokens, MESSAGE_OVERHEAD_TOKENS, truncateToTokens } from './tokens.js';

export type ContextRole = 'system' | 'user' | 'assistant';

export interface HistoryMessage {
  role: ContextRole;
  content: string;
  /** Who said it, in conversations with several speakers; written in front of the content ("Kira: ..."). */
  speaker?: string;
}

export interface ContextMessage {
  role: ContextRole;
  content: string;
}

export interface ContextWindowInput {
  systemPrompt: string;
  /** The conversation, oldest first; the last entry is the newest user message (the one being answered). */
  history: HistoryMessage[];
  /** The model's context window, in tokens. */
  contextTokens: number;
  /** Tokens reserved for the reply. */
  replyTokens: number;
  /** Running summary of turns older than `history` (or than what fits). */
  summary?: string | null;
}

export interface ContextWindow {
  messages: ContextMessage[];
  /** History messages included (the newest counts). */
  includedTurns: number;
  /** History messages left out (always the oldest ones). */
  droppedTurns: number;
  /** Estimated tokens of `messages`, overhead included. */
  promptTokens: number;
}

/** Introduces the running summary to the model. */
export const SUMMARY_PREFIX = 'Summary of the earlier conversation: ';

function render(message: HistoryMessage): string {
  return message.speaker ? `${message.speaker}: ${message.content}` : message.content;
}

/**
 * Selects the messages for one model call (see the module comment for the rules).
 *
 * Oversized inputs are cut rather than rejected, so that a turn always reaches the model:
 * - when the system prompt and the newest message together exceed the budget, the newest message keeps
 *   whatever the system prompt leaves, but never less than half the budget (or its own size); it is cut
 *   from the *start*, since the end of a long message is usually the question;
 * - the system prompt then gets the rest and, if it alone is too big, is cut from the *end* (which is why
 *   the default template states its rules first).
 * A budget too small for even two message envelopes (about 10 tokens) gives a result over budget; configure
 * `contextTokens` comfortably above `replyTokens`.
 */
export function buildContextWindow(input: ContextWindowInput): ContextWindow {
  const budget = Math.max(0, input.contextTokens - input.replyTokens);
  const { history } = input;
  const newest = history.at(-1);

  let systemContent = input.systemPrompt;
  let systemCost = estimateMessageTokens(systemContent);
  let newestContent = newest === undefined ? '' : render(newest);
  let newestCost = newest === undefined ? 0 : estimateMessageTokens(newestContent);

  if (systemCost + newestCost > budget) {
    if (newest !== undefined) {
      const newestAllowance = Math.max(budget - systemCost, Math.min(newestCost, Math.floor(budget / 2)));
      if (newestCost > newestAllowance) {
        newestContent = truncateToTokens(newest.content, newestAllowance - MESSAGE_OVERHEAD_TOKENS, {
          keep: 'end',
          prefix: newest.speaker ? `${newest.speaker}: ` : '',
        });
        newestCost = estimateMessageTokens(newestContent);
      }
    }
    const systemAllowance = budget - newestCost;
    if (systemCost > systemAllowance) {
      systemContent = truncateToTokens(systemContent, systemAllowance - MESSAGE_OVERHEAD_TOKENS, { keep: 'start' });
      systemCost = estimateMessageTokens(systemContent);
    }
  }

  let used = systemCost + newestCost;
  let summaryMessage: ContextMessage | null = null;
  const summary = input.summary?.trim();
  if (summary) {
    const content = SUMMARY_PREFIX + summary;
    const cost = estimateMessageTokens(content);
    if (used + cost <= budget) {
      summaryMessage = { role: 'system', content };
      used += cost;
    }
  }

  const earlier: ContextMessage[] = [];
  for (let i = history.length - 2; i >= 0; i--) {
    const message = history[i]!;
    const content = render(message);
    const cost = estimateMessageTokens(content);
    if (used + cost > budget) break;
    earlier.push({ role: message.role, content });
    used += cost;
  }
  earlier.reverse();

  const messages: ContextMessage[] = [{ role: 'system', content: systemContent }];
  if (summaryMessage) messages.push(summaryMessage);
  messages.push(...earlier);
  if (newest !== undefined) messages.push({ role: newest.role, content: newestContent });

  const includedTurns = earlier.length + (newest === undefined ? 0 : 1);
  return { messages, includedTurns, droppedTurns: history.length - includedTurns, promptTokens: used };
}
