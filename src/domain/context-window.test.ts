import { describe, expect, it } from 'vitest';

import { buildContextWindow, SUMMARY_PREFIX, type HistoryMessage } from './context-window.js';
import { estimateMessageTokens, estimateTokens } from './tokens.js';

// "You are Aria." — 13 chars → 4 tokens, + 4 overhead = 8.
const systemPrompt = 'You are Aria.';
// "Message 0" … "Message 49" — 9–10 chars → 3 tokens, + 4 overhead = 7 each. The last one is the visitor's.
const history: HistoryMessage[] = Array.from({ length: 50 }, (_, i) => ({
  role: i % 2 === 1 ? 'user' : 'assistant',
  content: `Message ${i}`,
}));
const REPLY = 100;

describe('buildContextWindow', () => {
  it('costs what the arithmetic in this file assumes', () => {
    expect(estimateMessageTokens(systemPrompt)).toBe(8);
    expect(history.map((m) => estimateMessageTokens(m.content)).every((cost) => cost === 7)).toBe(true);
  });

  it('fits exactly 10 of 50 messages into 8 + 10 × 7 = 78 tokens, newest ones, in order', () => {
    const window = buildContextWindow({ systemPrompt, history, contextTokens: 78 + REPLY, replyTokens: REPLY });
    expect(window.includedTurns).toBe(10);
    expect(window.droppedTurns).toBe(40);
    expect(window.promptTokens).toBe(78);
    expect(window.messages).toHaveLength(11);
    expect(window.messages[0]).toEqual({ role: 'system', content: 'You are Aria.' });
    expect(window.messages.slice(1).map((m) => m.content)).toEqual(Array.from({ length: 10 }, (_, i) => `Message ${40 + i}`));
    expect(window.messages.at(-1)).toEqual({ role: 'user', content: 'Message 49' });
  });

  it('fits one message fewer with one token less', () => {
    const window = buildContextWindow({ systemPrompt, history, contextTokens: 77 + REPLY, replyTokens: REPLY });
    expect(window.includedTurns).toBe(9);
    expect(window.promptTokens).toBe(71);
  });

  it('includes the whole history when it fits', () => {
    const window = buildContextWindow({ systemPrompt, history, contextTokens: 8192, replyTokens: 500 });
    expect(window.includedTurns).toBe(50);
    expect(window.droppedTurns).toBe(0);
    expect(window.promptTokens).toBe(8 + 50 * 7);
  });

  it('puts the summary right after the system prompt, before the recent turns', () => {
    const summary = 'They talked about lutes.';
    // "Summary of the earlier conversation: They talked about lutes." — 61 chars → 18, + 4 = 22.
    expect(estimateMessageTokens(SUMMARY_PREFIX + summary)).toBe(22);
    const window = buildContextWindow({ systemPrompt, history, summary, contextTokens: 8 + 22 + 3 * 7 + REPLY, replyTokens: REPLY });
    expect(window.messages[1]).toEqual({ role: 'system', content: 'Summary of the earlier conversation: They talked about lutes.' });
    expect(window.includedTurns).toBe(3);
    expect(window.messages.slice(2).map((m) => m.content)).toEqual(['Message 47', 'Message 48', 'Message 49']);
    expect(window.promptTokens).toBe(51);
  });

  it('leaves the summary out when it does not fit, and still fills the rest with turns', () => {
    const window = buildContextWindow({
      systemPrompt,
      history,
      summary: 'They talked about lutes.',
      contextTokens: 25 + REPLY,
      replyTokens: REPLY,
    });
    expect(window.messages.some((m) => m.content.startsWith(SUMMARY_PREFIX))).toBe(false);
    expect(window.includedTurns).toBe(2); // 8 + 7 + 7 = 22 ≤ 25; a third turn would make 29
    expect(window.promptTokens).toBe(22);
  });

  it('stops at the first message that does not fit instead of leaving a gap', () => {
    const withLong: HistoryMessage[] = [
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'word '.repeat(100) },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Hello' },
      { role: 'user', content: 'Hi' },
    ];
    const window = buildContextWindow({ systemPrompt, history: withLong, contextTokens: 60 + REPLY, replyTokens: REPLY });
    expect(window.messages.map((m) => m.content)).toEqual(['You are Aria.', 'Hi', 'Hello', 'Hi']);
    expect(window.includedTurns).toBe(3);
    expect(window.droppedTurns).toBe(2);
  });

  it('writes the speaker in front of the content in group conversations', () => {
    const group: HistoryMessage[] = [
      { role: 'assistant', content: 'The evidence says otherwise.', speaker: 'Kira' },
      { role: 'user', content: 'Who is right?', speaker: 'Visitor' },
    ];
    const window = buildContextWindow({ systemPrompt, history: group, contextTokens: 4096, replyTokens: 500 });
    expect(window.messages.slice(1)).toEqual([
      { role: 'assistant', content: 'Kira: The evidence says otherwise.' },
      { role: 'user', content: 'Visitor: Who is right?' },
    ]);
  });

  it('keeps only the system prompt when there is no history', () => {
    const window = buildContextWindow({ systemPrompt, history: [], contextTokens: 4096, replyTokens: 500 });
    expect(window).toEqual({
      messages: [{ role: 'system', content: 'You are Aria.' }],
      includedTurns: 0,
      droppedTurns: 0,
      promptTokens: 8,
    });
  });

  it('cuts an oversized newest message from the start, keeping its end (the question)', () => {
    const long = `${'blah '.repeat(200)}so what is the question?`;
    const window = buildContextWindow({
      systemPrompt,
      history: [
        { role: 'assistant', content: 'Hello' },
        { role: 'user', content: long },
      ],
      contextTokens: 50 + REPLY,
      replyTokens: REPLY,
    });
    const newest = window.messages.at(-1)!;
    expect(window.messages).toHaveLength(2); // the older turn no longer fits
    expect(newest.content.startsWith('…')).toBe(true);
    expect(newest.content.endsWith('so what is the question?')).toBe(true);
    // The newest message gets what the system prompt leaves: 50 − 8 = 42 tokens.
    expect(estimateMessageTokens(newest.content)).toBeLessThanOrEqual(42);
    expect(window.promptTokens).toBe(50);
    expect(window.includedTurns).toBe(1);
  });

  it('cuts an oversized system prompt from the end to leave room for the newest message', () => {
    const rules = 'Stay in character. '.repeat(100);
    const window = buildContextWindow({
      systemPrompt: rules,
      history: [{ role: 'user', content: 'Hi' }],
      contextTokens: 50 + REPLY,
      replyTokens: REPLY,
    });
    const system = window.messages[0]!.content;
    expect(system.startsWith('Stay in character. Stay')).toBe(true);
    expect(system.endsWith('…')).toBe(true);
    // "Hi" costs 2 + 4 = 6, leaving 44 for the system message (40 of content).
    expect(estimateTokens(system)).toBeLessThanOrEqual(40);
    expect(window.messages[1]).toEqual({ role: 'user', content: 'Hi' });
    expect(window.promptTokens).toBeLessThanOrEqual(50);
    expect(window.promptTokens).toBeGreaterThanOrEqual(48);
  });

  it('gives the newest message at most half the budget when both it and the system prompt are huge', () => {
    const window = buildContextWindow({
      systemPrompt: 'Rule. '.repeat(500),
      history: [{ role: 'user', content: 'Question? '.repeat(500) }],
      contextTokens: 100 + REPLY,
      replyTokens: REPLY,
    });
    const newestCost = estimateMessageTokens(window.messages[1]!.content);
    expect(newestCost).toBeLessThanOrEqual(50);
    // The system prompt gets the rest (the cut of the newest message may leave it a token or two more).
    expect(estimateMessageTokens(window.messages[0]!.content)).toBeLessThanOrEqual(100 - newestCost);
    expect(estimateMessageTokens(window.messages[0]!.content)).toBeGreaterThanOrEqual(46);
    expect(window.promptTokens).toBeLessThanOrEqual(100);
    expect(window.promptTokens).toBeGreaterThanOrEqual(96);
  });
});
