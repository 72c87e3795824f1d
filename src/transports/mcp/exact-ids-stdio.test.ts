import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { markingExactIdLines, restoringExactIds } from './exact-ids-stdio.js';

const refusals: string[] = [];
const refuse = (response: string): void => void refusals.push(response);

async function through(chunks: string[], maxLineBytes?: number): Promise<string> {
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
      const marked = Readable.from([Buffer.from(lines.slice(0, cut)), Buffer.from(lines.slice(cut))]).pipe(markingExactIdLines(refuse));
      let inner = '';
      for await (const chunk of marked) inner += String(chunk);
      const [first, second] = inner.trimEnd().split('\n').map((line) => JSON.parse(line) as { id: unknown });
      expect(typeof first?.id).toBe('string'); // what the SDK sees: a marker it echoes as it is
      expect(second?.id).toBe(7);
      // Echoed by code that knows nothing of markers, it leaves as the client wrote it.
      expect(await through([`${JSON.stringify({ jsonrpc: '2.0', id: first?.id, result: {} })}\n`])).toBe('{"jsonrpc":"2.0","id":9007199254740993,"result":{}}\n');
    }
  });

  it('passes lines without such ids and over-long lines through byte for byte', async () => {
    const short = '{"jsonrpc":"2.0", "id": 1, "method":"é"}\n';
    // over 50 bytes before its newline arrives: passed on unread (the SDK's own limit then applies)
    const text = short + `{"id":9007199254740993,"pad":"${'x'.repeat(100)}"}\n` + 'tail';
    const cut = short.length + 60;
    expect(await through([text.slice(0, 5), text.slice(5, cut), text.slice(cut)], 50)).toBe(text);
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
