/**
 * A persona's own model (`persona-mcp model create`) against the fake Ollama, and fine-tuning datasets
 * with their consent filters (`persona.export_dataset`, `persona-mcp model dataset`).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { datasetCommand, modelCreateCommand } from '../../src/cli/model-commands.js';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { makeDataDir, startTestServer, type TestServer } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

describe('persona-mcp model create', () => {
  let ollama: FakeOllama;
  let dataDir: string;
  let scratch: string;

  beforeAll(async () => {
    ollama = await startFakeOllama();
    dataDir = makeDataDir();
    scratch = mkdtempSync(path.join(os.tmpdir(), 'persona-models-'));
    // A server seeds the shipped personas into the data directory, then stops.
    const seeding = await startTestServer({ dataDir, ollamaUrl: ollama.url });
    await seeding.stop();
  });
  afterAll(async () => {
    await ollama.close();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(scratch, { recursive: true, force: true });
  });

  it('writes a Modelfile from the persona, creates the model with its adapter, and switches the persona to it', async () => {
    const adapter = path.join(scratch, 'aria-lora.gguf');
    writeFileSync(adapter, 'not really a gguf, but bytes to upload');
    const lines: string[] = [];
    const name = await modelCreateCommand('aria', { dataDir, ollamaHost: ollama.url, adapter }, (line) => lines.push(line));

    expect(name).toBe('aria-persona');
    const modelfile = readFileSync(path.join(dataDir, 'modelfiles', 'aria-persona.Modelfile'), 'utf8');
    expect(modelfile).toMatch(/^FROM llama3\.1:8b\nADAPTER .*aria-lora\.gguf\n(PARAMETER \w+ [\d.]+\n)*SYSTEM """You are Aria\./);

    const digest = `sha256:${createHash('sha256').update(readFileSync(adapter)).digest('hex')}`;
    expect(ollama.blobs.get(digest)).toBe(readFileSync(adapter).length);
    const body = ollama.createRequests[0]?.body as Record<string, unknown>;
    expect(body).toMatchObject({ model: 'aria-persona', from: 'llama3.1:8b', adapters: { 'aria-lora.gguf': digest }, stream: true });
    expect(String(body['system'])).toContain('You are Aria.');
    expect(ollama.models).toContain('aria-persona:latest');
    expect(lines).toContain('  success');
    expect(lines.at(-1)).toBe('Aria now uses aria-persona');

    // The server now answers Aria from her own model.
    const server = await startTestServer({ dataDir, ollamaUrl: ollama.url });
    try {
      const client = await server.connect();
      const reply = await client.result('persona.chat', { persona_id: 'aria', message: 'who are you' });
      expect(reply.model).toBe('aria-persona');
      expect(ollama.turnFor('who are you').body.model).toBe('aria-persona');

      // While a server uses the data directory, the persona is switched through it (--url) or not at all.
      const kiraLines: string[] = [];
      await modelCreateCommand('kira', { dataDir, ollamaHost: ollama.url }, (line) => kiraLines.push(line));
      expect(kiraLines.at(-1)).toContain('was not switched here; run again with --url');
      await modelCreateCommand('kira', { dataDir, ollamaHost: ollama.url, url: server.server.websocketUrl }, () => undefined);
      expect((await client.result('persona.get', { persona_id: 'kira' })).model).toBe('kira-persona');
    } finally {
      await server.stop();
    }
  });

  it('writes only the Modelfile on a dry run, and refuses a name Ollama would not accept', async () => {
    const out = path.join(scratch, 'dry.Modelfile');
    const before = ollama.createRequests.length;
    await modelCreateCommand('kira', { dataDir, ollamaHost: ollama.url, dryRun: true, modelfile: out, base: 'llama3.1:8b', name: 'kira-dry' }, () => undefined);

    expect(readFileSync(out, 'utf8')).toContain('FROM llama3.1:8b');
    expect(ollama.createRequests.length).toBe(before);
    await expect(modelCreateCommand('kira', { dataDir, ollamaHost: ollama.url, name: 'no spaces please' }, () => undefined)).rejects.toThrow('not a model name Ollama accepts');
  });

  it('names the pull command when the base model is missing, and a missing adapter file', async () => {
    await expect(modelCreateCommand('kira', { dataDir, ollamaHost: ollama.url, base: 'mistral:7b', name: 'k2' }, () => undefined)).rejects.toThrow('ollama pull mistral:7b');
    await expect(
      modelCreateCommand('kira', { dataDir, ollamaHost: ollama.url, base: 'llama3.1:8b', name: 'k3', adapter: path.join(scratch, 'nope.gguf') }, () => undefined),
    ).rejects.toThrow('does not exist');
    expect(existsSync(path.join(dataDir, 'modelfiles', 'k3.Modelfile'))).toBe(true);
  });
});

describe('fine-tuning datasets', () => {
  let ollama: FakeOllama;
  let server: TestServer;
  let aliceKey: string;
  let bobKey: string;
  let aliceId: string;

  beforeAll(async () => {
    ollama = await startFakeOllama();
    server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'auth.mode': 'required', 'social.llmJudgement': false, 'memory.llmImportance': false } });
    const alice = await server.server.auth.createKey({ name: 'Alice' });
    aliceKey = alice.key;
    aliceId = alice.record.userId;
    bobKey = (await server.server.auth.createKey({ name: 'Bob' })).key;
  });
  const clients: TestClient[] = [];
  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await server.cleanup();
    await ollama.close();
  });

  const as = async (key: string): Promise<TestClient> => {
    const client = await TestClient.connect(server.server.websocketUrl, { headers: { authorization: `Bearer ${key}` } });
    clients.push(client);
    return client;
  };

  it("exports only the caller's own one-to-one conversations, as chat JSONL without memories", async () => {
    const alice = await as(aliceKey);
    const bob = await as(bobKey);
    await alice.result('persona.chat', { persona_id: 'kira', message: 'Alice asks about engines' });
    await alice.result('persona.chat', { persona_id: 'kira', message: 'and about gears' });
    await bob.result('persona.chat', { persona_id: 'kira', message: 'Bob has a secret' });

    const mine = await alice.result('persona.export_dataset', { persona_id: 'kira' });
    expect(mine).toMatchObject({ persona_id: 'kira', format: 'chat-jsonl', examples: 1, skipped: 0 });
    const lines = mine.jsonl.trim().split('\n').map((line: string) => JSON.parse(line));
    expect(lines[0].messages.map((message: { role: string }) => message.role)).toEqual(['system', 'user', 'assistant', 'user', 'assistant']);
    expect(lines[0].messages[0].content).toContain('You are Kira.');
    expect(mine.jsonl).toContain('Alice asks about engines');
    expect(mine.jsonl).not.toContain('Bob has a secret');

    const bobs = await bob.result('persona.export_dataset', { persona_id: 'kira', min_replies: 2 });
    expect(bobs).toMatchObject({ examples: 0, skipped: 1, jsonl: '' });
  });

  it('writes the same dataset from the data directory for a named user', async () => {
    const out = path.join(server.dataDir, 'kira.jsonl');
    const count = await datasetCommand('kira', { out, dataDir: server.dataDir, user: aliceId }, () => undefined);

    expect(count).toBe(1);
    expect(readFileSync(out, 'utf8')).toContain('Alice asks about engines');
    expect(readFileSync(out, 'utf8')).not.toContain('Bob');
  });
});
