import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ExactNumber, fromMarker, keepExactIds, markExactIds, restoreExactIds, stringifyMessage, topLevelIdTexts } from './exact-ids.js';

describe('exact ids', () => {
  it('keeps an id beyond 2^53 as its text and writes it back verbatim', () => {
    const text = '{"jsonrpc":"2.0","id":9007199254740993,"method":"x","params":{"id":1}}';
    const message = keepExactIds(text, JSON.parse(text)) as { id: unknown };
    expect(message.id).toBeInstanceOf(ExactNumber);
    expect(stringifyMessage({ jsonrpc: '2.0', id: message.id, result: { id: 'inner' } })).toBe('{"jsonrpc":"2.0","id":9007199254740993,"result":{"id":"inner"}}');
  });

  it('leaves safe integers written plainly and strings alone', () => {
    expect((keepExactIds('{"id":7}', { id: 7 }) as { id: unknown }).id).toBe(7);
    expect((keepExactIds('{"id": 7, "x": 1}', { id: 7, x: 1 }) as { id: unknown }).id).toBe(7);
    expect((keepExactIds('{"id":"7"}', { id: '7' }) as { id: unknown }).id).toBe('7');
  });

  it('keeps the spelling of ids a double holds but prints otherwise (3.0000, 1e3)', () => {
    for (const spelled of ['3.0000', '1e3', '-0', '1.50', '1e400', '-1e400']) {
      const text = `{"jsonrpc":"2.0","params":{"id":33},"id":${spelled}}`;
      const message = keepExactIds(text, JSON.parse(text)) as { id: unknown };
      expect(stringifyMessage({ id: message.id })).toBe(`{"id":${spelled}}`);
    }
  });

  it('finds the top-level id of each batch member, ignoring ids nested in params and keys in strings', () => {
    const text = ' [ {"params":{"id":5},"note":"\\"id\\":3","id":1e400} , 4, {"id" : -0.10 }, {"method":"m"} ] ';
    expect(topLevelIdTexts(text)).toEqual(['1e400', undefined, '-0.10', undefined]);
  });

  it('cannot be forged by a client string that looks like the marker', () => {
    const sneaky = '\u0000exact:0000000000000000:123\u0000';
    expect(stringifyMessage({ result: sneaky })).toBe(JSON.stringify({ result: sneaky }));
  });

  it('echoes any big integer or decimal id exactly (property)', () => {
    const bigId = fc.oneof(
      fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map((value) => value.toString()),
      fc.tuple(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 0, max: 9999 })).map(([a, b]) => `${a}.${String(b).padStart(4, '0')}`),
    );
    fc.assert(
      fc.property(fc.array(bigId, { minLength: 1, maxLength: 5 }), fc.boolean(), (ids, asBatch) => {
        const members = ids.map((id) => `{"jsonrpc":"2.0","method":"m","params":{"id":0,"s":"}{]["},"id":${id}}`);
        const text = asBatch ? `[${members.join(',')}]` : (members[0] as string);
        const parsed = keepExactIds(text, JSON.parse(text));
        const list = (Array.isArray(parsed) ? parsed : [parsed]) as Array<{ id: unknown }>;
        const echoed = list.map((member) => stringifyMessage({ id: member.id }));
        const expected = (asBatch ? ids : ids.slice(0, 1)).map((id) => `{"id":${id}}`);
        expect(echoed).toEqual(expected);
      }),
    );
  });

  it('marks ids for code that echoes string ids (the MCP SDK), and writes them back as the client spelled them', () => {
    const text = '[{"jsonrpc":"2.0","id":9007199254740993,"method":"a"},{"jsonrpc":"2.0","id":7,"method":"b"},{"jsonrpc":"2.0","id":1.50,"method":"c"}]';
    const marked = JSON.parse(text) as Array<{ id: unknown }>;
    expect(markExactIds(text, marked)).toBe(true);
    expect(typeof marked[0]?.id).toBe('string');
    expect(marked[1]?.id).toBe(7);
    // What a library that knows nothing of markers writes: plain JSON, also inside an SSE event.
    const written = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: marked[0]?.id, result: {} })}\n\n` + JSON.stringify({ id: marked[2]?.id });
    expect(restoreExactIds(written)).toBe('event: message\ndata: {"jsonrpc":"2.0","id":9007199254740993,"result":{}}\n\n{"id":1.50}');
    expect(String(fromMarker(marked[0]?.id))).toBe('9007199254740993');
    expect(fromMarker('plain')).toBe('plain');
    const untouched = JSON.parse('{"id":3}') as { id: unknown };
    expect(markExactIds('{"id":3}', untouched)).toBe(false);
    expect(untouched.id).toBe(3);
  });
});

