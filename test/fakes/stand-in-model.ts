/**
 * A deterministic stand-in for a local model, served through the fake Ollama (`startStandInOllama`),
 * that the shipped scenario cassettes are recorded against (`npm run scenarios:record`). It is no
 * language model: it answers from what the server put into the prompt, so a recording shows what the
 * *server* did — which persona card, memories, mood and closing instructions reached the model —
 * while the words stay plausible enough for a transcript:
 *
 * - a persona turn: an acknowledgement of the last line, then a remembered line when the prompt's
 *   memory section shares a word with it ("I remember: …"), then one of the persona's own example lines
 *   (chosen by a hash of the conversation so far). A prompt that tells the persona to wind down or end
 *   gets a short goodbye instead.
 * - the relationship judge ("You rate the tone …"): a number from a tiny word list.
 * - the consistency judge ("You judge whether a line …"): 5 when the line carries one of the card's
 *   example lines, 1 when it speaks as an AI, else 3.
 * - the memory poignancy rating ("… rate the likely poignancy …"): 7 for personal facts, else 3.
 * - the turn appraisal ("You appraise exchanges …", domain/turn-appraisal.ts): the JSON object with the
 *   judge's tone of the exchange and the rating above for each numbered memory (an array of them when
 *   several exchanges are asked about together).
 * - a summary request: the first sentence of each line it was given.
 */
import { createHash } from 'node:crypto';
import { exchangesOf } from './appraisal-reply.js';
import { startFakeOllama, type FakeChatBody, type FakeOllama } from './fake-ollama.js';

const WARM = ['love', 'lovely', 'thank', 'thanks', 'wonderful', 'great', 'glad', 'happy', 'beautiful', 'kind', 'friend', 'laugh'];
const COLD = ['hate', 'stupid', 'boring', 'awful', 'angry', 'liar', 'annoying', 'terrible', 'rude', 'sad'];

function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}']+/gu) ?? [];
}

function hashIndex(text: string, modulo: number): number {
  return modulo === 0 ? 0 : createHash('sha256').update(text).digest().readUInt32BE(0) % modulo;
}

/** 7 for personal facts, else 3. */
function poignancy(text: string): number {
  return /\b(my|sister|brother|mother|father|remember|born|live|name)\b/i.test(text) ? 7 : 3;
}

function tone(text: string): number {
  let score = 0;
  for (const word of words(text)) {
    if (WARM.some((warm) => word.startsWith(warm))) score += 1;
    if (COLD.some((cold) => word.startsWith(cold))) score -= 1;
  }
  return Math.max(-1, Math.min(1, score / 3));
}

/** Lines of the memory section(s): after a heading that mentions remembering or knowing, up to a blank line. */
function memoryLines(system: string): string[] {
  const lines = system.split('\n');
  const found: string[] = [];
  let inSection = false;
  for (const line of lines) {
    if (/remember|know about/i.test(line) && !line.startsWith('- ')) {
      inSection = true;
      continue;
    }
    if (line.trim().length === 0) inSection = false;
    else if (inSection && line.startsWith('- ')) found.push(line.slice(2).trim());
  }
  return found;
}

function exampleLines(system: string): string[] {
  return [...system.matchAll(/^- "(.+)"$/gm)].map((match) => match[1]!);
}

/** The stand-in's answer to one `/api/chat` body. */
export function standInReply(body: FakeChatBody): string {
  const messages = body.messages ?? [];
  const system = messages
    .filter((message) => message.role === 'system')
    .map((message) => message.content)
    .join('\n');
  const last = [...messages].reverse().find((message) => message.role === 'user')?.content ?? '';
  if (system.includes('You rate the tone') || last.includes('You rate the tone')) return tone(last).toFixed(2);
  if (system.includes('You appraise exchanges')) {
    const appraise = (text: string, memoriesHeading: RegExp): object => {
      const [exchange = '', memories = ''] = text.split(memoriesHeading);
      const ratings = [...memories.matchAll(/^\d+\. (.*)$/gm)].map((match) => poignancy(match[1]!));
      return { tone: Number(tone(exchange).toFixed(2)), poignancy: ratings };
    };
    // Several exchanges in one call: one object per "Exchange N" block, in an array.
    if (system.includes('JSON array')) return JSON.stringify(exchangesOf(last).map((text) => appraise(text, /\nMemories [^\n]*:\n/)));
    return JSON.stringify(appraise(last, /\n\nMemories [^\n]*:\n/));
  }
  if (system.includes('You judge whether a line of dialogue fits a character')) {
    // The consistency judge: 5 when the line carries one of the card's example lines, 1 for breaking character.
    const judged = /Line to judge:\n"([\s\S]*)"$/.exec(last)?.[1] ?? '';
    if (/as an ai|language model|assistant/i.test(judged)) return '1';
    return exampleLines(last).some((example) => judged.includes(example)) ? '5' : '3';
  }
  if (last.includes('rate the likely poignancy')) return String(poignancy(last));
  if (messages.length === 1 && /summar/i.test(last)) {
    return last
      .split('\n')
      .slice(1)
      .map((line) => line.split(/(?<=[.!?])\s/)[0]!.trim())
      .filter((line) => line.length > 0)
      .slice(0, 6)
      .join(' ');
  }
  const name = /You are ([^.\n]+)\./.exec(system)?.[1] ?? 'Someone';
  const lastLine = last.split('\n').filter((line) => line.trim().length > 0).at(-1) ?? '';
  if (/say a warm, polite goodbye|end the conversation politely|want to end the conversation/i.test(system)) {
    return `${name} smiles. "It was good to talk, but I must rest now. Goodbye, friend."`;
  }
  const parts: string[] = [];
  const heard = words(lastLine).filter((word) => word.length >= 4);
  parts.push(heard.length > 0 ? `"${heard.slice(-3).join(' ')}" — yes, I heard you.` : 'I am listening.');
  const wanted = new Set(heard);
  const recalled = memoryLines(system)
    .map((line) => ({ line, shared: words(line).filter((word) => word.length >= 4 && wanted.has(word)).length }))
    .filter((candidate) => candidate.shared > 0)
    .sort((a, b) => b.shared - a.shared)[0];
  if (recalled !== undefined) parts.push(`I remember: ${recalled.line}`);
  if (/wind down|bring the conversation to a close|wrap up/i.test(system)) parts.push('But it is getting late for me.');
  else {
    const examples = exampleLines(system);
    if (examples.length > 0) parts.push(examples[hashIndex(messages.map((message) => message.content).join('\n'), examples.length)]!);
  }
  return parts.join(' ');
}

/** The fake Ollama answering with {@link standInReply}, on an ephemeral port. */
export function startStandInOllama(models: string[] = ['llama3.1:8b', 'nomic-embed-text:latest']): Promise<FakeOllama> {
  return startFakeOllama({ models, reply: standInReply });
}
