/**
 * The clock port reaches the edges (issue #11): the legacy stream's frame times, /v1's `created`, a
 * relationship.stats stamp and the WebSocket rate limit all read the clock the server was given, not the
 * machine's. A clock that stands still proves it: nothing stamps another time, and no tokens refill.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const START = Date.parse('2001-02-03T04:05:06.000Z');
let now = START;
let ollama: FakeOllama;
let server: TestServer;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({
    ollamaUrl: ollama.url,
    clock: { now: () => now },
    flags: { 'limits.rateLimitPerSecond': 1, 'limits.rateLimitBurst': 5 },
  });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

describe('the clock port at the edges', () => {
  it('stamps every persona.chat_stream frame and relationship.stats with the injected time', async () => {
    const client = await server.connect();
    client.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat_stream', params: { persona_id: 'aria', message: 'Hello there' } });
    const frames = [];
    for (;;) {
      const frame = await client.next();
      frames.push(frame);
      if (['stream_complete', 'stream_error', 'stream_cancelled'].includes(frame.result?.event_type)) break;
    }
    expect(frames.at(-1).result.event_type).toBe('stream_complete');
    expect(new Set(frames.map((frame) => frame.result.timestamp))).toEqual(new Set(['2001-02-03T04:05:06.000Z']));
    expect((await client.result('relationship.stats', {})).timestamp).toBe('2001-02-03T04:05:06.000Z');
    await client.close();
  });

  it("gives /v1 completions the injected time as `created`", async () => {
    const response = await fetch(`${server.server.httpUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'kira', messages: [{ role: 'user', content: 'Hi' }] }),
    });
    expect(((await response.json()) as { created: number }).created).toBe(START / 1000);
  });

  it('refills the WebSocket rate limit only as the injected clock moves', async () => {
    const client = await server.connect();
    const codes = async (count: number): Promise<Array<number | 'ok'>> => {
      const answers = [];
      for (let index = 0; index < count; index += 1) answers.push(await client.call('persona.list'));
      return answers.map((answer) => answer.error?.code ?? 'ok');
    };
    expect(await codes(6)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', -32021]);
    // The refused connection is not read until the injected clock says a token is due (real time does
    // not count): the frame sent meanwhile is read then, and allowed.
    const held = client.call('persona.list');
    now += 1_000;
    expect((await held).error).toBeUndefined();
    now += 2_000;
    expect(await codes(3)).toEqual(['ok', 'ok', -32021]);
    now += 60_000;
    await client.close();
  });
});
