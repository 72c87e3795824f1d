/**
 * `persona-mcp mcp` answers a line that is no JSON-RPC message instead of dropping it (JSON-RPC 2.0 §5.1,
 * as the HTTP transports do): the real CLI spawned over stdio, written to line by line. Not JSON: -32700;
 * JSON that is not a JSON-RPC message: -32600, with the message's id when it has one; and the connection
 * goes on serving. A line over `limits.maxFrameBytes` (1 MiB by default) gets -32020, as a WebSocket frame
 * over it does, and the connection goes on too.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../..');

let dataDir: string;
let server: ChildProcessWithoutNullStreams;
/** The server's next line on stdout, as written. */
let nextLine: () => Promise<string>;
const nextMessage = async (): Promise<unknown> => JSON.parse(await nextLine()) as unknown;

beforeAll(() => {
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-stdio-lines-'));
  // No model is asked: nothing here reaches a chat.
  server = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'mcp', '--data-dir', dataDir, '--ollama-host', 'http://127.0.0.1:9', '--log-level', 'warn'], {
    cwd: ROOT,
  });
  const lines = createInterface({ input: server.stdout })[Symbol.asyncIterator]();
  nextLine = async () => ((await lines.next()) as IteratorResult<string>).value;
});
afterAll(() => {
  server.kill('SIGTERM');
  rmSync(dataDir, { recursive: true, force: true });
});

describe('persona-mcp mcp over stdio', { timeout: 60_000 }, () => {
  it('answers -32700 to a line that is not JSON and -32600 to JSON that is not a JSON-RPC message, and serves on', async () => {
    server.stdin.write('this is not json\n');
    expect(await nextMessage()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.stringContaining('Parse error') } });
    server.stdin.write('{"hello":"world"}\n');
    expect(await nextMessage()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: expect.stringContaining('Invalid Request') } });
    server.stdin.write('{"jsonrpc":"2.0","id":9007199254740993,"method":42}\n');
    const withId = await nextLine();
    expect(JSON.parse(withId)).toMatchObject({ error: { code: -32600 } });
    expect(withId).toContain('"id":9007199254740993,'); // the client's id as written, not as a double holds it
    server.stdin.write('{"jsonrpc":"2.0","id":"open","method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"lines","version":"1"}}}\n');
    expect(await nextMessage()).toMatchObject({ jsonrpc: '2.0', id: 'open', result: { protocolVersion: '2025-11-25', serverInfo: { name: 'persona-mcp' } } });
  });

  it('answers -32020 with the limit and the id to a line over limits.maxFrameBytes, and serves the next line', async () => {
    const pad = 'x'.repeat(1_048_576);
    server.stdin.write(`{"jsonrpc":"2.0","id":"big","method":"tools/call","params":{"name":"persona_list","arguments":{"pad":"${pad}"}}}\n`);
    expect(await nextMessage()).toEqual({
      jsonrpc: '2.0',
      id: 'big',
      error: { code: -32020, message: expect.stringContaining('Request too large'), data: { kind: 'request_too_large', limit: 1_048_576, actual: expect.any(Number) } },
    });
    server.stdin.write('{"jsonrpc":"2.0","id":"after","method":"ping"}\n');
    expect(await nextMessage()).toEqual({ jsonrpc: '2.0', id: 'after', result: {} });
  });
});
