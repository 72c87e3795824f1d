import { describe, expect, it } from 'vitest';
import { chatExample, toJsonl } from './fine-tune-dataset.js';

describe('chatExample', () => {
  it('puts the system prompt first and keeps the turns in order', () => {
    const example = chatExample('You are Kira.', [
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: 'Hello.' },
    ]);
    expect(example).toEqual({
      messages: [
        { role: 'system', content: 'You are Kira.' },
        { role: 'user', content: 'hi' },
        { role: 'assistant', content: 'Hello.' },
      ],
    });
  });

  it('joins repeated roles, drops empty turns and an unanswered last message', () => {
    const example = chatExample('S', [
      { role: 'user', content: 'one' },
      { role: 'user', content: 'two' },
      { role: 'assistant', content: ' ' },
      { role: 'assistant', content: 'reply' },
      { role: 'user', content: 'no answer yet' },
    ]);
    expect(example?.messages.slice(1)).toEqual([
      { role: 'user', content: 'one\n\ntwo' },
      { role: 'assistant', content: 'reply' },
    ]);
  });

  it('leaves out a conversation with fewer replies than asked', () => {
    expect(chatExample('S', [{ role: 'user', content: 'hello?' }])).toBeNull();
    const turns = [
      { role: 'user' as const, content: 'a' },
      { role: 'assistant' as const, content: 'b' },
    ];
    expect(chatExample('S', turns, 2)).toBeNull();
    expect(chatExample('S', turns, 1)).not.toBeNull();
  });

  it('writes one JSON object per line', () => {
    const example = chatExample('S', [
      { role: 'user', content: 'a\nb' },
      { role: 'assistant', content: 'c' },
    ])!;
    const text = toJsonl([example, example]);
    expect(text.split('\n')).toHaveLength(3);
    expect(JSON.parse(text.split('\n')[0]!)).toEqual(example);
  });
});
