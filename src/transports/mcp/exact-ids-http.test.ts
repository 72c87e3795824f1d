/** Exact ids over MCP HTTP: the request handed to the SDK and the response it sends back. */
import { describe, expect, it } from 'vitest';
import { withExactIds } from './exact-ids-http.js';

const post = (body: string | ReadableStream<Uint8Array>, headers: Record<string, string> = {}): Request =>
  new Request('http://127.0.0.1/mcp', { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers }, duplex: 'half' } as RequestInit);

describe('exact ids over MCP HTTP', () => {
  it('hands the SDK a string id and writes the number back into JSON and SSE answers', async () => {
    const prepared = await withExactIds(post('{"jsonrpc":"2.0","id":9007199254740993,"method":"ping"}'), 1024);
    if (prepared.kind !== 'request') throw new Error('expected a request');
    const seen = (await prepared.request.json()) as { id: unknown };
    expect(typeof seen.id).toBe('string');
    const sse = new Response(`event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: seen.id, result: {} })}\n\n`, { headers: { 'content-type': 'text/event-stream' } });
    expect(await prepared.restore(sse).text()).toBe('event: message\ndata: {"jsonrpc":"2.0","id":9007199254740993,"result":{}}\n\n');
  });

  it('passes ordinary requests on byte for byte', async () => {
    const text = '{"jsonrpc":"2.0", "id": 7, "method":"ping"}';
    const prepared = await withExactIds(post(text), 1024);
    if (prepared.kind !== 'request') throw new Error('expected a request');
    expect(await prepared.request.text()).toBe(text);
    const response = new Response('{"id":7}');
    expect(prepared.restore(response)).toBe(response);
  });

  it('answers 413 with -32020 for a body over the limit, declared or streamed, and closes the connection', async () => {
    const declared = await withExactIds(post('x'.repeat(2000), { 'content-length': '2000' }), 1024);
    const streamed = await withExactIds(
      post(new ReadableStream({ start: (controller) => { controller.enqueue(new Uint8Array(800)); controller.enqueue(new Uint8Array(800)); controller.close(); } })),
      1024,
    );
    for (const prepared of [declared, streamed]) {
      expect(prepared.kind).toBe('answered');
      if (prepared.kind !== 'answered') continue;
      expect(prepared.response.status).toBe(413);
      expect(prepared.response.headers.get('connection')).toBe('close');
      expect(await prepared.response.json()).toMatchObject({ id: null, error: { code: -32020, data: { kind: 'request_too_large', limit: 1024 } } });
    }
  });

  it('answers a message nested too deeply to write out again itself, with the exact id', async () => {
    const deep = `${'['.repeat(20_000)}${']'.repeat(20_000)}`;
    const prepared = await withExactIds(post(`{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"x":${deep}}}`), 1 << 20);
    if (prepared.kind !== 'answered') throw new Error('expected an answer');
    expect(prepared.response.status).toBe(400);
    expect(await prepared.response.text()).toContain('"id":9007199254740993');
  });
});
