/**
 * Property-based fuzzing of the live server (fast-check): random frames, ids, params and batches.
 * The server never crashes, always answers with well-formed JSON-RPC, and never mixes up ids.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

let server: TestServer;
let client: TestClient;

beforeAll(async () => {
  // A dead Ollama address: chat methods fail fast with llm_unavailable instead of waiting.
  server = await startTestServer({ ollamaUrl: 'http://127.0.0.1:1', flags: { 'limits.rateLimitPerSecond': 1e6, 'limits.rateLimitBurst': 1e6 } });
  client = await server.connect();
});
afterAll(async () => server.cleanup());

const METHODS = [
  'persona.list', 'persona.switch', 'persona.status', 'persona.get', 'persona.chat', 'persona.create', 'persona.update',
  'conversation.start', 'conversation.end', 'conversation.status', 'conversation.history', 'session.info', 'session.resume',
  'system.status', 'persona.memory', 'persona.relationship', 'rpc.discover', 'no.such.method', '', 'persona.',
];
const PARAM_NAMES = ['persona_id', 'message', 'token_budget', 'conversation_id', 'limit', 'before_id', 'session_id', 'name', 'description', 'query', 'stream', 'context', 'persona1_id', 'persona2_id', 'topic'];

const id = fc.oneof(fc.string(), fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.constant(null), fc.constant(undefined), fc.object(), fc.boolean());
const paramValue = fc.oneof(fc.string({ maxLength: 40 }), fc.integer(), fc.boolean(), fc.constant(null), fc.constantFrom('aria', 'Kira', 'ARIA', 'nobody'), fc.array(fc.string(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
const params = fc.oneof(fc.dictionary(fc.constantFrom(...PARAM_NAMES), paramValue, { maxKeys: 4 }), fc.array(paramValue, { maxLength: 3 }), fc.string(), fc.integer(), fc.constant(undefined));
const request = fc.record(
  {
    jsonrpc: fc.oneof(fc.constant('2.0'), fc.constant('2.0'), fc.constant('1.0'), fc.integer()),
    id,
    method: fc.oneof(fc.constantFrom(...METHODS), fc.string({ maxLength: 20 }), fc.integer()),
    params,
  },
  { requiredKeys: ['jsonrpc', 'method'] },
);
const message = fc.oneof(
  { weight: 5, arbitrary: request },
  { weight: 2, arbitrary: fc.array(fc.oneof(request, fc.anything({ maxDepth: 2 })), { maxLength: 6 }) },
  { weight: 1, arbitrary: fc.anything({ maxDepth: 3 }) },
);
const frame = fc.oneof(
  { weight: 8, arbitrary: message.map((value) => JSON.stringify(value) ?? 'undefined') },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((text) => `{"jsonrpc":"2.0","id":1,"method":"persona.list"${text}`) },
);

/** Ids of a valid type in a frame: each must be answered exactly once, with that very id. */
function answerableIds(text: string): string[] {
  try {
    const value: unknown = JSON.parse(text);
    const members = Array.isArray(value) ? value : [value];
    return members.flatMap((member) => {
      if (member === null || typeof member !== 'object' || Array.isArray(member) || !('id' in member)) return [];
      const memberId = (member as { id: unknown }).id;
      return typeof memberId === 'string' || typeof memberId === 'number' ? [JSON.stringify(memberId)] : [];
    });
  } catch {
    return [];
  }
}

/** Ids sent and not yet answered (a multiset: keys are the ids' JSON, so 1 and "1" stay apart). */
const pending = new Map<string, number>();

function expectPendingAndSettle(responseId: unknown): void {
  if (responseId === null) return;
  const key = JSON.stringify(responseId);
  const count = pending.get(key) ?? 0;
  expect(count, `response with id ${key} that was not pending`).toBeGreaterThan(0);
  if (count === 1) pending.delete(key);
  else pending.set(key, count - 1);
}

function assertWellFormed(response: unknown): void {
  expect(response).toBeTypeOf('object');
  const value = response as Record<string, unknown>;
  expect(value.jsonrpc).toBe('2.0');
  expect('id' in value).toBe(true);
  expect('result' in value !== 'error' in value).toBe(true);
  if ('error' in value) {
    const error = value.error as Record<string, unknown>;
    expect(Number.isInteger(error.code)).toBe(true);
    expect(typeof error.message).toBe('string');
    expect(JSON.stringify(error)).not.toMatch(/\n\s+at /); // no stack traces
  }
  expectPendingAndSettle(value.id);
}

async function readUntil(sentinelId: string): Promise<void> {
  for (;;) {
    const received = await client.next();
    if (!Array.isArray(received) && received.id === sentinelId) {
      expect(received.result.total_count).toBeGreaterThanOrEqual(0);
      return;
    }
    if (Array.isArray(received)) {
      expect(received.length).toBeGreaterThan(0);
      for (const member of received) assertWellFormed(member);
    } else {
      expect(received.method).toBeUndefined(); // only clients that ask for streaming get notifications
      assertWellFormed(received);
    }
  }
}

describe('fuzzing the live server', () => {
  it('answers any frame with well-formed JSON-RPC, keeps ids apart, and keeps serving', async () => {
    let sentinel = 0;
    await fc.assert(
      fc.asyncProperty(frame, async (text) => {
        sentinel += 1;
        const sentinelId = `sentinel-${sentinel}`;
        for (const key of answerableIds(text)) pending.set(key, (pending.get(key) ?? 0) + 1);
        client.sendRaw(text);
        client.send({ jsonrpc: '2.0', id: sentinelId, method: 'persona.list' });
        await readUntil(sentinelId);
      }),
      { numRuns: 300, seed: 20261125, endOnFailure: true },
    );
    // Answers that were slower than their sentinel (chat turns failing at the dead LLM) arrive now.
    for (let round = 0; pending.size > 0 && round < 50; round += 1) {
      sentinel += 1;
      client.send({ jsonrpc: '2.0', id: `sentinel-${sentinel}`, method: 'persona.list' });
      await readUntil(`sentinel-${sentinel}`);
    }
    expect([...pending.keys()]).toEqual([]);
    expect((await client.result('system.status')).status).toBeDefined();
  });
});
