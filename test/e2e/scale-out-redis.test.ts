/**
 * What nodes share through Redis beyond turns (issue 20), with the real things: redis-server from
 * Debian's package and the test PostgreSQL, two nodes in this process sharing both.
 * - Scene changes and next-speaker notices made on node A reach a watcher on node B.
 * Skipped with a message when Redis or PostgreSQL is not installed (.ci/run installs them).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { findRedisServer, startRedis, type LocalProcess } from '../helpers/local-services.js';
import { freshPostgres, postgresAvailable } from '../helpers/store-backend.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

const postgres = await postgresAvailable();
const missing = [
  ...(postgres.ok ? [] : [postgres.reason]),
  ...(findRedisServer() === null ? ['Redis is not installed (apt-get install redis-server)'] : []),
];
if (missing.length > 0) console.warn(`Redis scale-out test skipped: ${missing.join('; ')}`);

/** Reads frames until one satisfies `wanted` (or the time runs out). */
async function notification(client: TestClient, wanted: (frame: any) => boolean, timeoutMs = 10_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) throw new Error(`no matching notification within ${timeoutMs} ms`);
    const frame = await client.next(left).catch(() => null);
    if (frame !== null && frame.method !== undefined && wanted(frame)) return frame;
  }
}

describe.skipIf(missing.length > 0)('two nodes sharing PostgreSQL and Redis', () => {
  let ollama: FakeOllama;
  let redis: LocalProcess;
  let nodeA: TestServer;
  let nodeB: TestServer;

  beforeAll(async () => {
    ollama = await startFakeOllama({ mode: 'slow', chunkDelayMs: 5 });
    redis = await startRedis();
    const database = await freshPostgres();
    const schema = database.schema;
    const flags = {
      'database.url': postgres.ok ? postgres.url : '',
      'database.schema': schema,
      'redis.url': redis.url,
      'social.groupTurnDelayMs': 100,
    };
    nodeA = await startTestServer({ ollamaUrl: ollama.url, flags });
    nodeB = await startTestServer({ ollamaUrl: ollama.url, flags });
  }, 60_000);

  afterAll(async () => {
    await nodeA?.cleanup();
    await nodeB?.cleanup();
    await redis?.stop();
    await ollama?.close();
  });

  it('tells a watcher on node B the scene set on node A, and who speaks next in a group node A runs', async () => {
    const onA = await nodeA.connect();
    const started = await onA.result('conversation.start', { personas: ['aria', 'kira'], topic: 'the lighthouse', max_turns: 2 });
    const conversationId = started.conversation_id;
    const watcher = await nodeB.connect();
    await watcher.result('conversation.subscribe', { conversation_id: conversationId });

    const speaker = await notification(watcher, (frame) => frame.method === 'conversation.speaker' && frame.params.conversation_id === conversationId);
    expect(['aria', 'kira']).toContain(speaker.params.persona_id);
    expect(speaker.params.reason).toEqual(expect.any(String));

    await onA.result('scene.set', { conversation_id: conversationId, location: 'the lighthouse gallery', weather: 'fog' });
    const scene = await notification(watcher, (frame) => frame.method === 'conversation.scene');
    expect(scene.params).toMatchObject({ conversation_id: conversationId, scene: { location: 'the lighthouse gallery', weather: 'fog' } });
  }, 30_000);
});

describe.skipIf(missing.length === 0)('two nodes sharing PostgreSQL and Redis', () => {
  it.skip(`skipped: ${missing.join('; ')}`, () => {});
});
