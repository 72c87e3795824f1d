/**
 * A fake model's answer to the turn appraisal (`domain/turn-appraisal.ts`, system prompt "You appraise
 * exchanges …"), for tests that script the model: the given tone and the same rating for every numbered
 * memory of the prompt; null when the request is not an appraisal.
 */
import type { FakeChatBody } from './fake-ollama.js';

export function appraisalReply(body: FakeChatBody, answer: { tone?: number; rating?: number }): string | null {
  if (body.messages?.[0]?.content.startsWith('You appraise exchanges') !== true) return null;
  const memories = (body.messages.at(-1)?.content.match(/^\d+\. /gm) ?? []).length;
  return JSON.stringify({
    ...(answer.tone === undefined ? {} : { tone: answer.tone }),
    poignancy: answer.rating === undefined ? [] : Array.from({ length: memories }, () => answer.rating),
  });
}
