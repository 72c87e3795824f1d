/**
 * A fake model's answer to the turn appraisal (`domain/turn-appraisal.ts`, system prompt "You appraise
 * exchanges …"), for tests that script the model: the given tone and the same rating for every numbered
 * memory of the prompt, and — when the prompt asks for "facts" and `facts` is not false — each memory
 * restated ("The user said: X" → fact "X", one question per word of 6+ letters); for several exchanges
 * in one call, an array of such objects; null when the request is not an appraisal.
 */
import type { FakeChatBody } from './fake-ollama.js';

export function appraisalReply(body: FakeChatBody, answer: { tone?: number; rating?: number; facts?: boolean }): string | null {
  if (body.messages?.[0]?.content.startsWith('You appraise exchanges') !== true) return null;
  const asksFacts = body.messages[0].content.includes('"facts"') && answer.facts !== false;
  const user = body.messages.at(-1)?.content ?? '';
  const appraise = (text: string): object => {
    const memories = [...text.matchAll(/^\d+\. (.*)$/gm)].map((match) => match[1]!);
    return {
      ...(answer.tone === undefined ? {} : { tone: answer.tone }),
      poignancy: answer.rating === undefined ? [] : memories.map(() => answer.rating),
      ...(asksFacts ? { facts: memories.map(restated) } : {}),
    };
  };
  // Several exchanges in one call (turn-appraisal.ts, appraisalsPrompt): an array, one object per exchange.
  if (body.messages[0].content.includes('JSON array')) return JSON.stringify(exchangesOf(user).map(appraise));
  return JSON.stringify(appraise(user));
}

/** The numbered exchanges of a several-exchange appraisal prompt ("Exchange 1\nVisitor: …"), each with its memories. */
export function exchangesOf(user: string): string[] {
  return user
    .replace(/\n\nJSON:$/, '')
    .split(/^Exchange \d+\n/m)
    .filter((part) => part.trim().length > 0);
}

/** A memory as the fake restates it: the user's words as the fact, a question about each long word. */
export function restated(memory: string): { fact: string; questions: string[] } {
  const fact = memory.replace(/^The user said:\s*/, '');
  return { fact, questions: (fact.match(/\p{L}{6,}/gu) ?? []).slice(0, 3).map((word) => `What about ${word.toLowerCase()}?`) };
}
