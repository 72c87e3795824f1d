/** JSON-RPC 2.0 rules on the real WebSocket endpoint: errors, ids, notifications and batches. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

let server: TestServer;
let client: TestClient;

beforeAll(async () => {
  server = await startTestServer();
  client = await server.connect();
});
afterAll(async () => server.cleanup());

describe('JSON-RPC 2.0 over WebSocket', () => {
  it('answers malformed JSON with -32700 and id null', async () => {
    client.sendRaw('{"jsonrpc": "2.0", "method": "persona.list", "id": 1');
    expect(await client.next()).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32700, message: expect.stringContaining('Parse error') } });
  });

  it('answers a non-object request with -32600', async () => {
    client.sendRaw('42');
    const frame = await client.next();
    expect(frame.id).toBeNull();
    expect(frame.error.code).toBe(-32600);
  });

  it('answers a wrong jsonrpc version with -32600 and the request id', async () => {
    client.send({ jsonrpc: '1.0', id: 7, method: 'persona.list' });
    const frame = await client.next();
    expect(frame).toMatchObject({ id: 7, error: { code: -32600 } });
    expect(frame).not.toHaveProperty('result');
  });

  it('sends every answer as a text frame, a shared cached answer too', async () => {
    const socket = new WebSocket(server.server.websocketUrl);
    await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
    const frames: Array<{ isBinary: boolean; text: string }> = [];
    socket.on('message', (data, isBinary) => frames.push({ isBinary, text: data.toString() }));
    // The second and third persona.list get the first one's shared result, written from its bytes.
    for (const id of [1, 2, 3]) socket.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'persona.list' }));
    await expect.poll(() => frames.length).toBe(3);
    socket.close();
    expect(frames.map((frame) => frame.isBinary)).toEqual([false, false, false]);
    const answers = frames.map((frame) => JSON.parse(frame.text) as { id: number; result: unknown });
    expect(answers.map((answer) => answer.id)).toEqual([1, 2, 3]);
    expect(answers[2]!.result).toEqual(answers[0]!.result);
  });

  it('answers an unknown method with -32601', async () => {
    const frame = await client.call('persona.fly');
    expect(frame.error.code).toBe(-32601);
    expect(frame.error.message).toContain('persona.fly');
  });

  it('answers bad params with -32602 naming the field', async () => {
    const frame = await client.call('persona.switch', { persona_id: 42 });
    expect(frame.error.code).toBe(-32602);
    expect(frame.error.message).toContain('persona_id');
    const missing = await client.call('persona.chat', {});
    expect(missing.error.code).toBe(-32602);
    expect(missing.error.message).toContain('message');
  });

  it('refuses by-position params with -32602', async () => {
    const frame = await client.call('persona.switch', ['aria']);
    expect(frame.error.code).toBe(-32602);
  });

  it('sends result or error, never both', async () => {
    const ok = await client.call('persona.list');
    expect(ok).toHaveProperty('result');
    expect(ok).not.toHaveProperty('error');
    const failed = await client.call('persona.switch', { persona_id: 'nobody' });
    expect(failed).toHaveProperty('error');
    expect(failed).not.toHaveProperty('result');
  });

  it('echoes ids of every legal type exactly', async () => {
    for (const id of ['abc', 'ünï-côdé ✓', 0, -5, 3.25, 9007199254740991, null, '']) {
      client.send({ jsonrpc: '2.0', id, method: 'persona.list' });
      const frame = await client.next();
      expect(frame.id).toStrictEqual(id);
      expect(frame.result.total_count).toBe(2);
    }
  });

  it('refuses an object id with -32600 and id null', async () => {
    client.send({ jsonrpc: '2.0', id: { a: 1 }, method: 'persona.list' });
    expect(await client.next()).toMatchObject({ id: null, error: { code: -32600 } });
  });

  it('never answers a notification, not even an erroneous one', async () => {
    client.send({ jsonrpc: '2.0', method: 'persona.list' });
    client.send({ jsonrpc: '2.0', method: 'no.such.method' });
    client.send({ jsonrpc: '2.0', method: 'persona.switch', params: { persona_id: 5 } });
    expect(await client.quietFor(300)).toBe(true);
  });

  it('answers an empty batch with a single -32600', async () => {
    client.sendRaw('[]');
    const frame = await client.next();
    expect(Array.isArray(frame)).toBe(false);
    expect(frame).toMatchObject({ id: null, error: { code: -32600 } });
  });

  it('answers a mixed batch with one response per request, in an array', async () => {
    client.send([
      { jsonrpc: '2.0', id: 'a', method: 'persona.list' },
      { jsonrpc: '2.0', method: 'persona.list' },
      { jsonrpc: '2.0', id: 'b', method: 'nope' },
      1,
      { jsonrpc: '2.0', id: 'c', method: 'persona.status', params: { persona_id: 'kira' } },
    ]);
    const frame = await client.next();
    expect(Array.isArray(frame)).toBe(true);
    expect(frame).toHaveLength(4);
    const byId = new Map(frame.map((response: any) => [response.id, response]));
    expect((byId.get('a') as any).result.total_count).toBe(2);
    expect((byId.get('b') as any).error.code).toBe(-32601);
    expect((byId.get(null) as any).error.code).toBe(-32600);
    expect((byId.get('c') as any).result.persona_id).toBe('kira');
  });

  it('sends nothing for a batch of notifications', async () => {
    client.send([
      { jsonrpc: '2.0', method: 'persona.list' },
      { jsonrpc: '2.0', method: 'persona.status', params: { persona_id: 'aria' } },
    ]);
    expect(await client.quietFor(300)).toBe(true);
  });

  it('answers an oversized frame with request_too_large and keeps the connection', async () => {
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { message: 'x'.repeat(1_100_000) } });
    client.sendRaw(big);
    const frame = await client.next();
    expect(frame).toMatchObject({ id: null, error: { code: -32020, data: { kind: 'request_too_large' } } });
    expect((await client.call('persona.list')).result.total_count).toBe(2);
  });

  it('closes the socket with 1009 for frames far over the limit', async () => {
    const other = await server.connect();
    other.sendRaw('x'.repeat(5 * 1_048_576));
    expect((await other.closed).code).toBe(1009);
    expect((await client.call('persona.list')).result.total_count).toBe(2);
  });

  it('answers concurrent requests each with its own response', async () => {
    const ids = Array.from({ length: 50 }, (_, index) => index + 1000);
    for (const id of ids) client.send({ jsonrpc: '2.0', id, method: 'persona.status', params: { persona_id: id % 2 ? 'aria' : 'kira' } });
    const frames = await Promise.all(ids.map(() => client.next()));
    expect(frames.map((frame) => frame.id).sort()).toEqual(ids);
    for (const frame of frames) expect(frame.result.persona_id).toBe(frame.id % 2 ? 'aria' : 'kira');
  });

  it('describes every method in rpc.discover (OpenRPC)', async () => {
    const document = await client.result('rpc.discover');
    expect(document.openrpc).toMatch(/^1\./);
    const names = document.methods.map((method: { name: string }) => method.name);
    for (const name of ['persona.list', 'persona.switch', 'persona.chat', 'persona.chat_stream', 'conversation.history', 'session.resume', 'system.models']) {
      expect(names).toContain(name);
    }
    const chat = document.methods.find((method: { name: string }) => method.name === 'persona.chat');
    expect(chat.params.find((param: { name: string }) => param.name === 'message').required).toBe(true);
  });
});
