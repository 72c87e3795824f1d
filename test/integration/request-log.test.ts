/** The log an operator reads: one line per request at info, bad requests with their code, no stacks for expected conditions. */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/app/app.js';
import { createLogger } from '../../src/logger.js';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, testConfig } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

type LogLine = Record<string, unknown> & { msg: string; level: number; time: string };

let ollama: FakeOllama;
let dataDir: string;
let server: RunningServer;
const lines: LogLine[] = [];
const logger = createLogger('info', { write: (text: string) => void lines.push(JSON.parse(text) as LogLine) });

const requestLines = (method: string): LogLine[] => lines.filter((line) => line.msg === 'request' && line.method === method);

beforeAll(async () => {
  ollama = await startFakeOllama();
  dataDir = makeDataDir();
  server = await startServer(testConfig(dataDir, {}, ollama.url), { logger });
});
afterAll(async () => {
  await server.close();
  await ollama.close().catch(() => undefined); // already closed by the Ollama-down test
  rmSync(dataDir, { recursive: true, force: true });
});

describe('request log', () => {
  it('logs a chat turn at info with method, outcome, ms and user, but not the message text', async () => {
    const client = await TestClient.connect(server.websocketUrl);
    await client.result('persona.switch', { persona_id: 'aria' });
    await client.result('persona.chat', { message: 'my secret is swordfish' });
    await client.close();
    const [line] = requestLines('persona.chat');
    expect(line).toMatchObject({ level: 30, transport: 'websocket', outcome: 'ok', user: null });
    expect(typeof line?.ms).toBe('number');
    expect(typeof line?.session).toBe('string');
    expect(JSON.stringify(lines)).not.toContain('swordfish');
  });

  it('logs bad requests at info with their JSON-RPC code', async () => {
    const client = await TestClient.connect(server.websocketUrl);
    client.sendRaw('{not json');
    await client.next();
    await client.call('no.such.method');
    await client.call('persona.switch', { persona_id: 42 });
    await client.close();
    expect(requestLines('(unparsable)')[0]).toMatchObject({ level: 30, outcome: 'parse_error', code: -32700 });
    expect(requestLines('no.such.method')[0]).toMatchObject({ level: 30, outcome: 'method_not_found', code: -32601 });
    expect(requestLines('persona.switch').find((line) => line.code === -32602)).toMatchObject({ level: 30, outcome: 'invalid_params' });
  });

  it('logs an unreachable Ollama as one line without a stack trace', async () => {
    await ollama.close();
    const client = await TestClient.connect(server.websocketUrl);
    await client.result('persona.switch', { persona_id: 'kira' });
    const failed = await client.call('persona.chat', { message: 'are you there?' });
    await client.close();
    expect(failed.error.code).toBe(-32010);
    expect(requestLines('persona.chat').at(-1)).toMatchObject({ level: 30, outcome: 'llm_unavailable', code: -32010 });
    const warnings = lines.filter((line) => line.level >= 40);
    expect(warnings.length).toBeGreaterThan(0);
    expect(JSON.stringify(warnings)).not.toMatch(/"stack"|\\n\s+at /);
  });

  it('stamps every line with an ISO 8601 time', () => {
    for (const line of lines) expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('adds the params, message text included, only at debug', async () => {
    logger.level = 'debug';
    try {
      const client = await TestClient.connect(server.websocketUrl);
      await client.result('persona.list');
      await client.call('persona.switch', { persona_id: 'debug-visible' });
      await client.close();
    } finally {
      logger.level = 'info';
    }
    expect(requestLines('persona.switch').at(-1)).toMatchObject({ params: { persona_id: 'debug-visible' } });
  });
});
