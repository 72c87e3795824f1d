import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import * as tar from 'tar-stream';
import { afterAll, describe, expect, it } from 'vitest';
import { readArchive } from './archive.js';
import { BundleError } from './errors.js';

const staging = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-archive-test-'));
afterAll(() => rmSync(staging, { recursive: true, force: true }));

async function tarGz(entries: Array<[string, Buffer]>): Promise<Buffer> {
  const pack = tar.pack();
  for (const [name, content] of entries) pack.entry({ name, size: content.length }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack as AsyncIterable<Buffer>) chunks.push(chunk);
  return gzipSync(Buffer.concat(chunks));
}

async function problem(bundle: Buffer, maxLineBytes: number): Promise<string> {
  const directory = mkdtempSync(path.join(staging, 'run-'));
  try {
    await readArchive(Readable.from([bundle]), directory, { maxLineBytes });
    return 'none';
  } catch (error) {
    if (!(error instanceof BundleError)) throw error;
    return error.reason;
  }
}

describe('bundle line limit', () => {
  it('refuses a line over the limit while unpacking, naming the file and row', async () => {
    const bundle = await tarGz([
      ['manifest.json', Buffer.from('{}')],
      ['tables/messages.jsonl', Buffer.from(`{"a":1}\n${'x'.repeat(2_000)}\n`)],
    ]);
    const directory = mkdtempSync(path.join(staging, 'run-'));
    await expect(readArchive(Readable.from([bundle]), directory, { maxLineBytes: 1_000 })).rejects.toThrow('tables/messages.jsonl: row 2 is longer than 1000 bytes');
    // Only what was unpacked so far is there, in the caller's directory (the importer removes it).
    expect(readdirSync(directory).every((name) => name === 'messages.jsonl')).toBe(true);
  });

  it('refuses exactly the bundles with a line over the limit, however chunks fall (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 1, maxLength: 12 }), fc.integer({ min: 1, max: 200 }), async (lengths, limit) => {
        const text = lengths.map((length) => 'y'.repeat(length)).join('\n');
        const bundle = await tarGz([
          ['manifest.json', Buffer.from('{}')],
          ['tables/t.jsonl', Buffer.from(text)],
        ]);
        const reason = await problem(bundle, limit);
        expect(reason === 'too_large').toBe(Math.max(...lengths) > limit);
      }),
      { numRuns: 60 },
    );
  });
});
