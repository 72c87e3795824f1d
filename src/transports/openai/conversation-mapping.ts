/**
 * How an OpenAI-style request maps onto our sessions and conversations. OpenAI's API is stateless: a
 * front-end resends the whole chat every time. Ours is stateful: the server keeps each conversation,
 * the persona's memory, mood and relationships. So:
 *
 * - the **session** is chosen by the `X-Session-Id` header, else derived from the caller (API key user)
 *   and the request's `user` field, else one session per API key user;
 * - only the request's **last message** is new: it must be the user's, and it is the one turn stored;
 *   every earlier message (and any system prompt) is already in our history or is the front-end's, and
 *   is not stored again;
 * - a request with **no assistant message** is a new chat: the persona's current conversation in that
 *   session ends and a new one starts (memories, mood and relationship carry over);
 * - a request that resends the last **answered** user message without our answer after it is a
 *   regenerate: it gets the stored reply again and stores nothing.
 */
import { createHash } from 'node:crypto';
import type { MessageRecord } from '../../ports/store.js';
import { messageText, type RequestMessage } from './wire.js';

/** The session of a caller's end user: stable, and apart from every other API key's sessions. */
export function derivedSessionId(userId: string | null, endUser: string | null): string {
  const digest = createHash('sha256').update(`${userId ?? ''}\u0000${endUser ?? ''}`).digest('base64url');
  return `oai-${digest.slice(0, 28)}`;
}

export type TurnPlan =
  | { kind: 'turn'; message: string; startsNewChat: boolean }
  | { kind: 'replay'; reply: MessageRecord }
  | { kind: 'invalid'; reason: string };

/**
 * Decides what a request asks for, given the last two stored messages of the persona's current
 * conversation in the session (oldest first; empty when there is none).
 */
export function planTurn(messages: readonly RequestMessage[], storedTail: readonly MessageRecord[]): TurnPlan {
  const last = messages.at(-1);
  if (last === undefined || last.role !== 'user') {
    return { kind: 'invalid', reason: 'The last message must be the user\'s (role "user"): it is what the persona answers.' };
  }
  const message = messageText(last).trim();
  if (message.length === 0) return { kind: 'invalid', reason: 'The last user message has no text.' };
  const hasAssistantTurn = messages.some((candidate) => candidate.role === 'assistant');
  if (!hasAssistantTurn) return { kind: 'turn', message, startsNewChat: true };

  const [storedUser, storedReply] = storedTail.length >= 2 ? storedTail.slice(-2) : [undefined, undefined];
  if (storedUser?.role === 'user' && storedReply?.role === 'assistant' && storedUser.content.trim() === message) {
    const previous = messages.at(-2);
    const resendsOurAnswer = previous?.role === 'assistant' && messageText(previous).trim() === storedReply.content.trim();
    // The user said the same thing twice on purpose: our answer sits between the two.
    if (!resendsOurAnswer) return { kind: 'replay', reply: storedReply };
  }
  return { kind: 'turn', message, startsNewChat: false };
}
