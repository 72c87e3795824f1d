import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { markingExactIdLines, restoringExactIds } from './exact-ids-stdio.js';

const refusals: string[] = [];
const refuse = (response: string): void => void refusals.push(response);

async function through(chunks: string[], maxLineBytes = 1_048_576): Promise<string> {
  const marked = Readable.from(chunks.map((chunk) => Buffer.from(chunk))).pipe(markingExactIdLines(refuse, maxLineBytes));
  const restored = marked.pipe(restoringExactIds());
  let out = '';
  for await (const chunk of restored) out += String(chunk);
  return out;
}

describe('exact ids over stdio', () => {
  it('marks lines with inexact ids however the chunks cut them, and restores them on the way out', async () => {
    const lines = '{"jsonrpc":"2.0","id":9007199254740993,"method":"a"}\n{"jsonrpc":"2.0","id":7,"method":"b"}\n';
    for (const cut of [1, 10, 30, 60]) {
      const marked = Readable.from([Buffer.from(lines.slice(0, cut)), Buffer.from(lines.slice(cut))]).pipe(markingExactIdLines(refuse, 1_048_576));
      let inner = '';
      for await (const chunk of marked) inner += String(chunk);
      const [first, second] = inner.trimEnd().split('\n').map((line) => JSON.parse(line) as { id: unknown });
      expect(typeof first?.id).toBe('string'); // what the SDK sees: a marker it echoes as it is
      expect(second?.id).toBe(7);
      // Echoed by code that knows nothing of markers, it leaves as the client wrote it.
      expect(await through([`${JSON.stringify({ jsonrpc: '2.0', id: first?.id, result: {} })}\n`])).toBe('{"jsonrpc":"2.0","id":9007199254740993,"result":{}}\n');
    }
  });

  it('passes lines without such ids through byte for byte', async () => {
    const text = '{"jsonrpc":"2.0", "id": 1, "method":"é"}\n{"jsonrpc":"2.0","id":"b","method":"ping"}\n';
    expect(await through([text.slice(0, 5), text.slice(5)])).toBe(text);
  });

  it('answers a line over the limit with -32020 and its leading id, however the chunks cut it, and passes on the next line', async () => {
    const next = '{"jsonrpc":"2.0","id":3,"method":"ping"}\n';
    const long = (id: string): string => `{"jsonrpc":"2.0","id":${id},"method":"tools/call","params":{"pad":"${'x'.repeat(100)}"}}`;
    for (const [id, expected] of [['9007199254740993', '9007199254740993'], ['"req-7"', '"req-7"'], ['[1]', 'null']] as const) {
      const line = long(id);
      for (const cut of [10, 60, line.length + 1]) {
        refusals.length = 0;
        const text = `${line}\n${next}`;
        expect(await through([text.slice(0, cut), text.slice(cut)], 80)).toBe(next);
        expect(refusals).toHaveLength(1);
        expect(refusals[0]).toContain(`"id":${expected},`); // as the client wrote it: a big number stays exact
        expect(JSON.parse(refusals[0]!)).toMatchObject({
          jsonrpc: '2.0',
          error: { code: -32020, message: expect.stringContaining('Request too large'), data: { kind: 'request_too_large', limit: 80, actual: line.length } },
        });
      }
    }
  });

  it('reads no id that is not at the head of the message', async () => {
    refusals.length = 0;
    await through([`{"jsonrpc":"2.0","method":"ping","params":{"id":5,"pad":"${'x'.repeat(100)}"},"id":4}\n`], 80);
    expect(JSON.parse(refusals[0]!)).toMatchObject({ id: null, error: { code: -32020 } });
  });

  it('answers a line that is not JSON with -32700 and JSON that is no JSON-RPC message with -32600, and passes neither on', async () => {
    refusals.length = 0;
    const valid = '{"jsonrpc":"2.0","id":2,"method":"ping"}\n';
    const passed = await through([`not json\n\n{"foo":1}\n[1,2]\n{"jsonrpc":"2.0","id":9007199254740993,"method":7}\n${valid}`]);
    expect(passed).toBe(valid); // the blank line is skipped, as the SDK does
    expect(refusals.map((line) => JSON.parse(line) as unknown)).toEqual([
      { jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.stringContaining('Parse error') } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringContaining('Invalid Request') } },
      { jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringContaining('Invalid Request') } },
      { jsonrpc: '2.0', id: expect.any(String), error: { code: -32600, message: expect.stringContaining('Invalid Request') } },
    ]);
    // the refusal's id, written out through the restoring stage, is the client's exact number
    expect(await through([refusals[3]!])).toContain('"id":9007199254740993,');
  });
});
