import { describe, expect, it } from 'vitest';
import { ExactNumber, stringifyMessage } from './exact-ids.js';
import { encodeResponse, sameJson, SharedResults, stringifyResponse } from './shared-results.js';

describe('SharedResults', () => {
  it('returns the earlier object while the answer is unchanged, and the new one once it changes', () => {
    const answers = new SharedResults<{ energy: number; tags: string[] }>();
    const first = answers.reuse('aria', { energy: 1, tags: ['a'] });
    expect(answers.reuse('aria', { energy: 1, tags: ['a'] })).toBe(first);
    const changed = { energy: 2, tags: ['a'] };
    expect(answers.reuse('aria', changed)).toBe(changed);
    expect(answers.reuse('kira', { energy: 2, tags: ['a'] })).not.toBe(changed); // keys never share
  });

  it('freezes what it shares, so no caller can change an answer others get', () => {
    const answers = new SharedResults<{ list: Array<{ n: number }> }>();
    const shared = answers.reuse('k', { list: [{ n: 1 }] });
    expect(() => {
      (shared.list[0] as { n: number }).n = 2;
    }).toThrow(TypeError);
  });

  it('keeps at most maxKeys answers, dropping the oldest', () => {
    const answers = new SharedResults<{ v: number }>(2);
    const a = answers.reuse('a', { v: 1 });
    answers.reuse('b', { v: 1 });
    answers.reuse('c', { v: 1 });
    expect(answers.reuse('a', { v: 1 })).not.toBe(a);
  });
});

describe('SharedResults.lookup / keep', () => {
  it('gives back the kept result only for the same inputs, compared one by one (records by identity)', () => {
    const answers = new SharedResults<{ energy: number }>();
    const record = { id: 'aria' };
    const inputs: unknown[] = [record, 1.5, 'calm'];
    expect(answers.lookup('aria', inputs)).toBeUndefined();
    const kept = answers.keep('aria', inputs, { energy: 1.5 });
    inputs[1] = 1.5; // a scratch array filled again with the same values
    expect(answers.lookup('aria', inputs)).toBe(kept);
    expect(answers.lookup('aria', [{ id: 'aria' }, 1.5, 'calm'])).toBeUndefined(); // an equal but new record
    expect(answers.lookup('aria', [record, 1.6, 'calm'])).toBeUndefined();
    expect(answers.lookup('aria', [record, 1.5])).toBeUndefined();
    expect(answers.lookup('kira', inputs)).toBeUndefined();
  });

  it('keeps a copy of the inputs, so refilling the scratch array does not change what was kept', () => {
    const answers = new SharedResults<{ n: number }>();
    const scratch: unknown[] = [1];
    const kept = answers.keep('k', scratch, { n: 1 });
    scratch[0] = 2;
    expect(answers.lookup('k', scratch)).toBeUndefined();
    scratch[0] = 1;
    expect(answers.lookup('k', scratch)).toBe(kept);
  });

  it('still shares an equal result made from other inputs, and forgets the inputs of an evicted key', () => {
    const answers = new SharedResults<{ n: number }>(1);
    const first = answers.keep('a', [1], { n: 1 });
    expect(answers.keep('a', [2], { n: 1 })).toBe(first); // same JSON: the same object (and bytes)
    answers.keep('b', [1], { n: 3 });
    expect(answers.lookup('a', [2])).toBeUndefined();
  });
});

describe('stringifyResponse', () => {
  const answers = new SharedResults<Record<string, unknown>>();
  const shared = answers.reuse('x', { text: 'é "quoted"\n', n: 1.5, list: [null, true], nested: { deep: [] } });

  it.each([1, 0, -7, 'abc', 'with "quotes"', null, new ExactNumber('9007199254740993'), new ExactNumber('1.50')])(
    'writes the same text as stringifyMessage, around a shared result made once (id %s)',
    (id) => {
      const response = { jsonrpc: '2.0', id, result: shared };
      expect(stringifyResponse(response)).toBe(stringifyMessage(response));
      expect(stringifyResponse(response)).toBe(stringifyMessage(response)); // the cached text too
    },
  );

  it('serialises everything else as stringifyMessage does', () => {
    for (const message of [
      { jsonrpc: '2.0', id: 1, result: { fresh: true } },
      { jsonrpc: '2.0', id: 1, error: { code: -32600, message: 'no' } },
      [{ jsonrpc: '2.0', id: 1, result: shared }],
      { jsonrpc: '2.0', id: 2, result: shared, extra: 1 },
      { id: 2, jsonrpc: '2.0', result: shared },
      null,
    ]) {
      expect(stringifyResponse(message)).toBe(stringifyMessage(message));
    }
  });
});

describe('encodeResponse', () => {
  const answers = new SharedResults<Record<string, unknown>>();
  const shared = answers.reuse('y', { text: 'é ünïcode "quoted" ✓', list: [1, 2] });

  it.each([3, 'ïd "x"', null, new ExactNumber('9007199254740993')])('gives a shared result as the UTF-8 bytes of its text (id %s)', (id) => {
    const response = { jsonrpc: '2.0', id, result: shared };
    for (let round = 0; round < 2; round++) {
      const frame = encodeResponse(response);
      expect(Buffer.isBuffer(frame)).toBe(true);
      expect((frame as Buffer).toString('utf8')).toBe(stringifyMessage(response));
    }
  });

  it('gives everything else as text', () => {
    const error = { jsonrpc: '2.0', id: 1, error: { code: -32600, message: 'no' } };
    expect(encodeResponse(error)).toBe(stringifyMessage(error));
    expect(encodeResponse({ jsonrpc: '2.0', id: 1, result: { fresh: true } })).toBe('{"jsonrpc":"2.0","id":1,"result":{"fresh":true}}');
  });
});

describe('sameJson', () => {
  it('compares JSON values by content, ignoring key order', () => {
    expect(sameJson({ a: 1, b: [1, { c: 'x' }] }, { b: [1, { c: 'x' }], a: 1 })).toBe(true);
    expect(sameJson({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameJson({ a: 1, b: 2 }, { a: 1 })).toBe(false);
    expect(sameJson([1, 2], [2, 1])).toBe(false);
    expect(sameJson([], {})).toBe(false);
    expect(sameJson({ a: null }, { a: undefined })).toBe(false);
    expect(sameJson(0.1 + 0.2, 0.3)).toBe(false);
  });
});
