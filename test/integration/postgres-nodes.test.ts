/**
 * The whole server on PostgreSQL (database.url): two nodes on one database serve one session, a restart
 * loses nothing, and a memory stored on one node is recalled on the other. Skipped, with a message, when
 * no PostgreSQL is available (test/global-postgres.ts starts one from Debian's binaries).
 */
import { rmSync } from 'node:fs';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, startTestServer, type TestServer } from '../helpers/server.js';
import { dropFreshPostgres, freshPostgres, postgresAvailable } from '../helpers/store-backend.js';

const available = await postgresAvailable();

describe.skipIf(!available.ok)('two nodes on one PostgreSQL', () => {
  let ollama: FakeOllama;
  const servers: TestServer[] = [];
  const dirs: string[] = [];

  beforeAll(async () => {
    ollama = await startFakeOllama();
  });
  afterAll(async () => {
    await ollama.close();
  });
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.stop()));
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
    await dropFreshPostgres();
  });

  async function node(schema: string): Promise<TestServer> {
    const dataDir = makeDataDir();
    dirs.push(dataDir);
    const url = available.ok ? available.url : '';
    const server = await startTestServer({ ollamaUrl: ollama.url, dataDir, flags: { 'database.url': url, 'database.schema': schema } });
    servers.push(server);
    return server;
  }

  it('continues on node B the conversation begun on node A (session.resume), and keeps it across a restart', async () => {
    const { schema } = await freshPostgres();
    const [a, b] = [await node(schema), await node(schema)];
    const onA = await a.connect();
    const { session_id } = await onA.result('session.info');
    await onA.result('persona.switch', { persona_id: 'kira' });
    const first = await onA.result('persona.chat', { message: 'Remember the comet.' });

    const onB = await b.connect();
    const resumed = await onB.result('session.resume', { session_id });
    expect(resumed).toMatchObject({ session_id, active_persona: { id: 'kira' } });
    expect(resumed.conversations).toHaveLength(1);
    await onB.result('persona.chat', { message: 'What did I say?' });
    const sent = ollama.chatAbout('What did I say?').body.messages!.map((message) => message.content);
    expect(sent).toContain('Remember the comet.');

    await a.stop();
    const again = await node(schema);
    const client = await again.connect(`?session_id=${session_id}`);
    const history = await client.result('conversation.history', { conversation_id: first.conversation_id });
    expect(history.messages.map((message: { content: string }) => message.content)).toContain('What did I say?');
    expect(history.messages).toHaveLength(4);
  });

  it('finds on node B a memory stored through node A, by words and by meaning', async () => {
    const { schema } = await freshPostgres();
    const [a, b] = [await node(schema), await node(schema)];
    const onA = await a.connect();
    await onA.result('memory.store', { persona_id: 'aria', content: 'The user keeps bees on the roof of the library', importance: 0.8 });
    const onB = await b.connect();
    const found = await onB.result('memory.search', { persona_id: 'aria', query: 'beekeeping library roof' });
    expect(found.memories.map((memory: { content: string }) => memory.content)).toContain('The user keeps bees on the roof of the library');
  });
});

describe.skipIf(available.ok)('two nodes on one PostgreSQL', () => {
  it.skip(`skipped: ${available.ok ? '' : available.reason}`, () => {});
});
