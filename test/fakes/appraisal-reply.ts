/**
 * A fake model's answer to the turn appraisal (`domain/turn-appraisal.ts`, system prompt "You appraise
 * exchanges …"), for tests that script the model: the given tone and the same rating for every numbered
 * memory of the prompt, and — when the prompt asks for "facts" and `facts` is not false — each memory
 * restated ("The user said: X" → fact "X", one question per word of 6+ letters); null when the request
 * is not an appraisal.
 */
import type { FakeChatBody } from './fake-ollama.js';

export function appraisalReply(body: FakeChatBody, answer: { tone?: number; rating?: number; facts?: boolean }): string | null {
  if (body.messages?.[0]?.content.startsWith('You appraise exchanges') !== true) return null;
  const memories = [...(body.messages.at(-1)?.content ?? '').matchAll(/^\d+\. (.*)$/gm)].map((match) => match[1]!);
  const asksFacts = body.messages[0].content.includes('"facts"') && answer.facts !== false;
  return JSON.stringify({
    ...(answer.tone === undefined ? {} : { tone: answer.tone }),
    poignancy: answer.rating === undefined ? [] : memories.map(() => answer.rating),
    ...(asksFacts ? { facts: memories.map(restated) } : {}),
  });
}

/** A memory as the fake restates it: the user's words as the fact, a question about each long word. */
export function restated(memory: string): { fact: string; questions: string[] } {
  const fact = memory.replace(/^The user said:\s*/, '');
  return { fact, questions: (fact.match(/\p{L}{6,}/gu) ?? []).slice(0, 3).map((word) => `What about ${word.toLowerCase()}?`) };
}
