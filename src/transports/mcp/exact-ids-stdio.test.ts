import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { markingExactIdLines, restoringExactIds } from './exact-ids-stdio.js';

async function through(chunks: string[], maxLineBytes?: number): Promise<string> {
  const marked = Readable.from(chunks.map((chunk) => Buffer.from(chunk))).pipe(markingExactIdLines(maxLineBytes));
  const restored = marked.pipe(restoringExactIds());
  let out = '';
  for await (const chunk of restored) out += String(chunk);
  return out;
}

describe('exact ids over stdio', () => {
  it('marks lines with inexact ids however the chunks cut them, and restores them on the way out', async () => {
    const lines = '{"jsonrpc":"2.0","id":9007199254740993,"method":"a"}\n{"jsonrpc":"2.0","id":7,"method":"b"}\n';
    for (const cut of [1, 10, 30, 60]) {
      const marked = Readable.from([Buffer.from(lines.slice(0, cut)), Buffer.from(lines.slice(cut))]).pipe(markingExactIdLines());
      let inner = '';
      for await (const chunk of marked) inner += String(chunk);
      const [first, second] = inner.trimEnd().split('\n').map((line) => JSON.parse(line) as { id: unknown });
      expect(typeof first?.id).toBe('string'); // what the SDK sees: a marker it echoes as it is
      expect(second?.id).toBe(7);
      // Echoed by code that knows nothing of markers, it leaves as the client wrote it.
      expect(await through([`${JSON.stringify({ id: first?.id, result: {} })}\n`])).toBe('{"id":9007199254740993,"result":{}}\n');
    }
  });

  it('passes lines without such ids, non-JSON lines and over-long lines through byte for byte', async () => {
    const text = '{"id": 1, "x":"é"}\nnot json\n' + `{"id":9007199254740993,"pad":"${'x'.repeat(100)}"}\n` + 'tail';
    expect(await through([text.slice(0, 5), text.slice(5, 60), text.slice(60)], 50)).toBe(text);
  });
});
