/**
 * The jobs thread (`jobs.thread: 'worker'`, src/app/jobs-thread.ts): the job queue's jobs run in a worker
 * thread with a connection of its own, which follows the main thread's personas, live settings and imports.
 * Real server, real SQLite, the fake Ollama over HTTP.
 */
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOwner } from '../../src/adapters/sqlite/claim-owner.js';
import { DATABASE_FILE_NAME } from '../../src/config/paths.js';
import { appraisalReply } from '../fakes/appraisal-reply.js';
import { startFakeOllama, type FakeChatBody, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;

/** Rates every memory 8 in the turn's appraisal; otherwise echoes. */
function reply(body: FakeChatBody): string {
  const appraisal = appraisalReply(body, { rating: 8 });
  if (appraisal !== null) return appraisal;
  return `I hear you: ${body.messages?.at(-1)?.content ?? ''}`;
}

const workerMode = { 'jobs.thread': 'worker', 'memory.decayOnStart': false };

beforeAll(async () => {
  ollama = await startFakeOllama({ reply, models: ['llama3.1:8b', 'nomic-embed-text:latest', 'tiny:1b', 'kira-own:3b'] });
  server = await startTestServer({ ollamaUrl: ollama.url, flags: workerMode });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

/** Waits until the worker has run every due job (the main thread's queue reads the table). */
const drained = (on: TestServer = server) => on.server.services.memory.jobs.drain(30_000);

/** Chats `message` with `personaId` and waits for the turn's jobs. */
async function chatAndDrain(client: TestClient, personaId: string, message: string, on: TestServer = server): Promise<void> {
  await client.result('persona.switch', { persona_id: personaId });
  await client.result('persona.chat', { message });
  await drained(on);
}

async function userFacts(client: TestClient, personaId: string): Promise<string[]> {
  const listed = await client.result('memory.list', { persona_id: personaId, memory_type: 'user_fact' });
  return listed.memories.map((memory: { content: string }) => memory.content);
}

/** The models of the requests the fake Ollama received from `from` on that were not the chat turns themselves (the jobs' calls). */
function backgroundModels(from: number): string[] {
  return ollama.requests
    .slice(from)
    .filter((request) => isAppraisal(request.body))
    .map((request) => request.body.model ?? '');
}

/** The jobs table's rows by status (read on a connection of the test's own). */
function jobsByStatus(dataDir: string): Record<string, number> {
  const db = new Database(path.join(dataDir, DATABASE_FILE_NAME), { readonly: true });
  try {
    const rows = db.prepare('SELECT status, count(*) AS n FROM jobs GROUP BY status').all() as Array<{ status: string; n: number }>;
    return Object.fromEntries(rows.map((row) => [row.status, row.n]));
  } finally {
    db.close();
  }
}

const isAppraisal = (body: FakeChatBody): boolean => body.messages?.[0]?.content.startsWith('You appraise exchanges') === true;

describe('jobs.thread: worker', () => {
  // The first turn's jobs wait for the jobs thread to boot (tsx compiles its sources under vitest).
  it('runs the jobs in another thread, which forms the turn’s memories', { timeout: 60_000 }, async () => {
    const client = await server.connect();
    await chatAndDrain(client, 'aria', 'My daughter Lina was born on a stormy night in March.');
    expect((await userFacts(client, 'aria')).some((fact) => fact.includes('Lina'))).toBe(true);

    const db = new Database(path.join(server.dataDir, DATABASE_FILE_NAME), { readonly: true });
    try {
      const owners = db.prepare('SELECT DISTINCT lease_owner FROM jobs WHERE lease_owner IS NOT NULL').pluck().all() as string[];
      expect(owners.length).toBeGreaterThan(0);
      for (const owner of owners) expect(parseOwner(owner)?.threadId).not.toBe(threadId);
    } finally {
      db.close();
    }
  });

  it('follows personas created on the main thread', async () => {
    const client = await server.connect();
    const created = await client.result('persona.create', { name: 'Brother Ash', description: 'A monk who keeps the orchard.' });
    await chatAndDrain(client, created.persona_id, 'My brother Tomas restores old clocks for a living.');
    expect((await userFacts(client, created.persona_id)).some((fact) => fact.includes('Tomas'))).toBe(true);
  });

  it('follows config.set (the default model, and its reset) and persona.update (a persona’s model)', async () => {
    const client = await server.connect();
    let from = ollama.requests.length;
    await client.result('config.set', { settings: { 'llm.model': 'tiny:1b' } });
    await chatAndDrain(client, 'kira', 'I keep bees on the roof of my building.');
    expect(backgroundModels(from)).not.toHaveLength(0);
    expect(new Set(backgroundModels(from))).toEqual(new Set(['tiny:1b']));

    from = ollama.requests.length;
    await client.result('persona.update', { persona_id: 'kira', model: 'kira-own:3b' });
    await chatAndDrain(client, 'kira', 'My grandmother taught me to knit.');
    expect(new Set(backgroundModels(from))).toEqual(new Set(['kira-own:3b']));

    from = ollama.requests.length;
    await client.result('config.set', { settings: { 'llm.model': null } });
    await client.result('persona.update', { persona_id: 'kira', model: null });
    await chatAndDrain(client, 'kira', 'I once walked across the whole island.');
    expect(new Set(backgroundModels(from))).toEqual(new Set([server.server.config.llm.model]));
  });

  it('follows a bundle imported with state.load', async () => {
    // A bundle with a persona this server has never seen, saved by another server (its jobs on the main thread).
    const other = await startTestServer({ ollamaUrl: ollama.url });
    let bundle: string;
    try {
      const client = await other.connect();
      await client.result('persona.create', { name: 'Dame Vera', description: 'Keeps the lighthouse.' });
      bundle = (await client.result('state.save')).state;
    } finally {
      await other.cleanup();
    }
    const client = await server.connect();
    await client.result('state.load', { state: bundle, on_conflict: 'replace' });
    const vera = (await client.result('persona.list')).personas.find((persona: { name: string }) => persona.name === 'Dame Vera');
    await chatAndDrain(client, vera.id, 'My uncle Pieter sailed the northern route for thirty years.');
    expect((await userFacts(client, vera.id)).some((fact) => fact.includes('Pieter'))).toBe(true);
  });

  it('stops with the server: its running job goes back to the queue, and runs at the next start', { timeout: 60_000 }, async () => {
    const dataDir = makeDataDir();
    const first = await startTestServer({ ollamaUrl: ollama.url, dataDir, flags: workerMode });
    ollama.holdWhen = isAppraisal;
    try {
      const client = await first.connect();
      const from = ollama.requests.length;
      await client.result('persona.switch', { persona_id: 'aria' });
      await client.result('persona.chat', { message: 'My cousin Mireille grows saffron in the hills.' });
      // The jobs thread's appraisal call is held: its job is running when the server stops.
      await ollama.waitForRequest(from + 2);
      await first.stop();
    } finally {
      ollama.holdWhen = null;
      ollama.releaseHung();
    }
    expect(jobsByStatus(dataDir).running ?? 0).toBe(0);

    const second = await startTestServer({ ollamaUrl: ollama.url, dataDir, flags: workerMode });
    try {
      await second.server.services.memory.jobs.drain(30_000);
      const client = await second.connect();
      expect((await userFacts(client, 'aria')).some((fact) => fact.includes('Mireille'))).toBe(true);
    } finally {
      await second.cleanup();
    }
  });
});
