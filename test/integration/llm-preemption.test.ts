/**
 * A person's chat takes the LLM slot of a running background call (the turn appraisal), and the server
 * says how often that happened: `llm.queue.preempted` in system.status and a Prometheus counter. The real
 * server, real SQLite and the fake Ollama over HTTP; the appraisal is held at the fake so it holds the slot.
 * The same with the jobs in the jobs thread (`jobs.thread: 'worker'`): the appraisal is then called from
 * that thread, whose queue leases the main thread's slots (adapters/llm-queue/remote-slots.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeChatBody, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const isAppraisal = (body: FakeChatBody): boolean => body.messages?.[0]?.content.startsWith('You appraise exchanges') ?? false;

describe.each(['main', 'worker'])('LLM queue preemption, seen from outside (jobs.thread: %s)', (thread) => {
  let ollama: FakeOllama;
  let server: TestServer;

  beforeAll(async () => {
    ollama = await startFakeOllama();
    server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'memory.embedder': 'offline', 'memory.doc2query': false, 'jobs.thread': thread } });
  });
  afterAll(async () => {
    await server.cleanup();
    await ollama.close();
  });

  // With the jobs thread, the first turn's jobs wait for it to boot (tsx compiles its sources under vitest).
  it('counts a background call preempted by a chat in system.status and /metrics', { timeout: 60_000 }, async () => {
    const client = await server.connect();
    const before = (await client.result('system.status')).llm.queue;
    // The default backend's own queue (llm.concurrency 1, llm.maxQueued 32), not a sum over every backend.
    expect(before).toMatchObject({ running: 0, queued: 0, concurrency: 1, max_queued: 32, preempted: 0 });

    ollama.holdWhen = isAppraisal;
    await client.result('persona.chat', { persona_id: 'aria', message: 'My brother Tomas fixes boats in Bergen.' });
    // The turn's appraisal runs in the background and now holds the only slot at the fake.
    await waitUntil(() => ollama.requests.some((request) => isAppraisal(request.body)));

    const reply = await client.result('persona.chat', { persona_id: 'aria', message: 'Are you still there?' });
    expect(reply.response).toBe('Aria hears you: Are you still there?');
    await ollama.waitForDisconnect(1);

    const after = (await client.result('system.status')).llm.queue;
    expect(after.preempted).toBeGreaterThanOrEqual(1);
    const metrics = await (await fetch(`${server.server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^persona_mcp_llm_preemptions_total [1-9]\d*$/m);

    // The appraisal runs again and completes once the fake answers it.
    ollama.holdWhen = null;
    ollama.releaseHung();
    await server.server.services.memory.jobs.drain(10_000);
    const appraisals = ollama.requests.filter((request) => isAppraisal(request.body));
    expect(appraisals.length).toBeGreaterThanOrEqual(2);
  });
});

async function waitUntil(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}
