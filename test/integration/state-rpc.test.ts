/**
 * State over the WebSocket API: state.save on one server and state.load on another (chat history and
 * memory search work there), refused bundles, dry runs, and runtime configuration that the next
 * request sees (and that survives a restart).
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let source: TestServer;
let client: TestClient;
let sessionId: string;
const extraDirs: string[] = [];

beforeAll(async () => {
  ollama = await startFakeOllama({ models: ['llama3.1:8b', 'tiny:1b', 'nomic-embed-text:latest'] });
  source = await startTestServer({ ollamaUrl: ollama.url });
  client = await source.connect();
  sessionId = (await client.result('session.info')).session_id;
  await client.result('persona.switch', { persona_id: 'aria' });
  await client.result('persona.chat', { message: 'I keep honey bees on my roof.' });
  await client.result('persona.chat', { message: 'They swarmed last spring.' });
  // Where the memory feature is present, a memory to find again after the move.
  await client.call('memory.store', { persona_id: 'aria', content: 'The user keeps honey bees on the roof', importance: 0.9 });
});
afterAll(async () => {
  await source.cleanup();
  await ollama.close();
  for (const dir of extraDirs) rmSync(dir, { recursive: true, force: true });
});

async function freshServer(dataDir?: string): Promise<TestServer> {
  const server = await startTestServer({ ollamaUrl: ollama.url, ...(dataDir === undefined ? {} : { dataDir }) });
  return server;
}

describe('state.save and state.load', () => {
  it('moves the whole state to another server, where history and search work', async () => {
    const saved = await client.result('state.save');
    expect(saved).toMatchObject({ state_saved: true, format: 'persona-mcp-bundle', encoding: 'base64', selection: 'all' });
    expect(saved.tables.messages).toBe(4);

    const target = await freshServer();
    try {
      const other = await target.connect();
      const dry = await other.result('state.load', { state: saved.state, dry_run: true });
      expect(dry).toMatchObject({ state_loaded: false, dry_run: true });
      expect(dry.tables.find((table: { table: string }) => table.table === 'messages').inserted).toBe(4);
      await other.result('session.resume', { session_id: sessionId }).catch(() => undefined);
      const nothingYet = await other.call('conversation.history', { persona_id: 'aria' });
      expect(nothingYet.error !== undefined || nothingYet.result.messages.length === 0).toBe(true);

      const loaded = await other.result('state.load', { state: saved.state, on_conflict: 'replace' });
      expect(loaded).toMatchObject({ state_loaded: true, dry_run: false, on_conflict: 'replace', upgraded_from: null });
      // The session comes along: re-attaching to it shows the same conversation.
      await other.result('session.resume', { session_id: sessionId });
      const history = await other.result('conversation.history', { persona_id: 'aria' });
      expect(history.messages.map((message: { content: string }) => message.content)).toContain('They swarmed last spring.');
      const methods = (await other.result('rpc.discover')).methods.map((method: { name: string }) => method.name);
      if (methods.includes('memory.search')) {
        const found = await other.result('memory.search', { query: 'honey bees', persona_id: 'aria' });
        expect(found.memories.map((memory: { content: string }) => memory.content)).toContain('The user keeps honey bees on the roof');
      }
    } finally {
      await target.cleanup();
    }
  });

  it('brings runtime settings along in a full bundle, applied at once', async () => {
    await client.result('config.set', { settings: { 'chat.historyMessages': 150 } });
    const saved = await client.result('state.save');
    await client.result('config.set', { settings: { 'chat.historyMessages': null } });
    const target = await freshServer();
    try {
      const other = await target.connect();
      await other.result('state.load', { state: saved.state });
      const { settings } = await other.result('config.get', { keys: ['chat.historyMessages'] });
      expect(settings[0]).toMatchObject({ value: 150, source: 'runtime' });
    } finally {
      await target.cleanup();
    }
  });

  it('exports one persona only when asked', async () => {
    const saved = await client.result('state.save', { persona_id: 'Aria' });
    expect(saved.selection).toBe('personas');
    expect(saved.tables.personas).toBe(1);
    expect(saved.tables.sessions).toBe(0);
  });

  it('refuses a tampered bundle with -32051 and changes nothing', async () => {
    const saved = await client.result('state.save');
    const bytes = Buffer.from(saved.state, 'base64');
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    // Definitions, not the live list: social energy recovers with wall-clock time between two calls.
    const definitions = async (): Promise<unknown[]> => {
      const { personas } = await client.result('persona.list');
      return Promise.all(personas.map((persona: { id: string }) => client.result('persona.get', { persona_id: persona.id })));
    };
    const before = await definitions();
    const refused = await client.call('state.load', { state: bytes.toString('base64'), on_conflict: 'replace' });
    expect(refused.error).toMatchObject({ code: -32051, data: { kind: 'invalid_bundle' } });
    expect(await definitions()).toEqual(before);
  });

  it('reloads personas after a load, so renamed ones are served at once', async () => {
    const saved = await client.result('state.save', { persona_id: 'kira' });
    await client.result('persona.update', { persona_id: 'kira', description: 'Changed locally.' });
    const loaded = await client.result('state.load', { state: saved.state, on_conflict: 'rename' });
    expect(loaded.conflicts).toContainEqual(expect.objectContaining({ table: 'personas', key: 'kira', action: 'renamed', to: 'kira-imported' }));
    const copy = await client.result('persona.get', { persona_id: 'kira-imported' });
    expect(copy.name).toBe('Kira (imported)');
    expect((await client.result('persona.get', { persona_id: 'kira' })).description).toBe('Changed locally.');
  });
});

describe('runtime configuration', () => {
  it('config.get lists the live settings with their source', async () => {
    const { settings } = await client.result('config.get');
    expect(settings).toContainEqual(expect.objectContaining({ key: 'llm.model', value: 'llama3.1:8b', source: 'startup' }));
    expect(settings).toContainEqual(expect.objectContaining({ key: 'personas.aria.model', value: null }));
  });

  it('a new default model is used by the very next chat request, and survives a restart', async () => {
    const dataDir = makeDataDir();
    extraDirs.push(dataDir);
    let server = await freshServer(dataDir);
    try {
      const admin = await server.connect();
      await admin.result('persona.switch', { persona_id: 'kira' });
      const updated = await admin.result('config.set', { settings: { 'llm.model': 'tiny:1b', 'chat.maxMessageChars': 20 } });
      expect(updated.updated).toContainEqual(expect.objectContaining({ key: 'llm.model', value: 'tiny:1b', source: 'runtime' }));
      const requestsBefore = ollama.requests.length;
      await admin.result('persona.chat', { message: 'short one' });
      expect(ollama.requests.slice(requestsBefore).find((request) => request.path === '/api/chat')?.body.model).toBe('tiny:1b');
      const tooLong = await admin.call('persona.chat', { message: 'this message is longer than twenty characters' });
      expect(tooLong.error?.code).toBe(-32022);
    } finally {
      await server.stop();
    }
    server = await freshServer(dataDir);
    try {
      const again = await server.connect();
      const { settings } = await again.result('config.get', { keys: ['llm.model'] });
      expect(settings).toEqual([expect.objectContaining({ key: 'llm.model', value: 'tiny:1b', source: 'runtime' })]);
      await again.result('config.set', { settings: { 'llm.model': null } });
      expect((await again.result('config.get', { keys: ['llm.model'] })).settings[0]).toMatchObject({ value: 'llama3.1:8b', source: 'startup' });
    } finally {
      await server.stop();
    }
  });

  it('refuses a config.set that would change nothing (the key/value shape of other servers), naming the right shape', async () => {
    const refused = await client.call('config.set', { key: 'chat.historyMessages', value: 150 });
    expect(refused.error.code).toBe(-32602);
    expect(refused.error.message).toContain('"settings":{');
    expect((await client.result('config.get', { keys: ['chat.historyMessages'] })).settings[0].source).toBe('startup');
  });

  it("a persona's own model applies to its next turn", async () => {
    await client.result('config.set', { personas: { kira: { model: 'tiny:1b', model_options: { temperature: 0.2 } } } });
    await client.result('persona.switch', { persona_id: 'kira' });
    const requestsBefore = ollama.requests.length;
    await client.result('persona.chat', { message: 'hello Kira' });
    const request = ollama.requests.slice(requestsBefore).find((entry) => entry.path === '/api/chat');
    expect(request?.body.model).toBe('tiny:1b');
    expect(request?.body.options).toMatchObject({ temperature: 0.2 });
  });

  it('rejects bad values with -32602 and contradicting ones with -32040, changing nothing', async () => {
    const bad = await client.call('config.set', { settings: { 'chat.maxTokenBudget': -5 } });
    expect(bad.error.code).toBe(-32602);
    expect(bad.error.message).toContain('chat.maxTokenBudget');
    const unknown = await client.call('config.set', { settings: { port: 9999 } });
    expect(unknown.error.code).toBe(-32602);
    const clash = await client.call('config.set', { settings: { 'chat.defaultTokenBudget': 100_000, 'llm.model': 'tiny:1b' } });
    expect(clash.error.code).toBe(-32040);
    expect((await client.result('config.get', { keys: ['llm.model'] })).settings[0].value).toBe('llama3.1:8b');
  });
});

describe('access', () => {
  it('lets only admin keys save, load and configure when keys are required', async () => {
    const secured = await startTestServer({ ollamaUrl: ollama.url, flags: { 'auth.mode': 'required' } });
    try {
      const user = (await secured.server.auth.createKey({ name: 'Alice' })).key;
      const admin = (await secured.server.auth.createKey({ name: 'Root', role: 'admin' })).key;
      const asUser = await TestClient.connect(secured.server.websocketUrl, { headers: { authorization: `Bearer ${user}` } });
      const asAdmin = await TestClient.connect(secured.server.websocketUrl, { headers: { authorization: `Bearer ${admin}` } });
      try {
        for (const [method, params] of [['state.save', {}], ['state.load', { state: 'AAAA' }], ['config.set', { settings: { logLevel: 'warn' } }], ['state.backup', {}]] as const) {
          expect((await asUser.call(method, params)).error, method).toMatchObject({ code: -32031 });
        }
        expect((await asAdmin.result('state.save')).state_saved).toBe(true);
      } finally {
        await asUser.close();
        await asAdmin.close();
      }
    } finally {
      await secured.cleanup();
    }
  });
});
