/**
 * `persona-mcp mcp` as an MCP host runs it: the real CLI spawned over stdio, driven by the SDK's own
 * clients — v2 negotiating 2026-07-28, v1 with the 2025-11-25 handshake — against the fake Ollama.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/client/validators/cf-worker';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport as V1StdioTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { CreateMessageRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { buildReferenceRegistry } from '../helpers/reference-registry.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

/**
 * The v2 client checks every structured result against the tool's output schema; the interpreting
 * validator does that without compiling each schema first (AJV's compile dominates a short test).
 */
const jsonSchemaValidator = new CfWorkerJsonSchemaValidator();
let ollama: FakeOllama;
let dataDir: string;
let toolNames: string[];
/** The v2 client (2026-07-28, Ollama through `auto`) and its server's stderr. */
let modern: Client;
let modernStderr = '';
/** The v1 client (2025-11-25) offering its model; its server runs with `--llm-provider host`. */
let legacy: V1Client;
const asked: string[] = [];

/** How an MCP host launches the server (the README's configuration, with a temp data dir). */
function serverParameters(provider: 'auto' | 'host'): { command: string; args: string[]; cwd: string; stderr: 'pipe' } {
  return {
    command: process.execPath,
    args: [
      '--import',
      'tsx',
      'src/cli/main.ts',
      'mcp',
      '--data-dir',
      dataDir,
      '--ollama-host',
      ollama.url,
      '--llm-provider',
      provider,
      '--tools',
      'all',
      '--log-level',
      'info',
    ],
    cwd: ROOT,
    stderr: 'pipe',
  };
}

/**
 * The SDK's stdio transport probes the revision on a throw-away sibling process (for servers that exit
 * on an unknown first request); a subclass probes in place. Ours answers the probe in place, so the test
 * spawns one process instead of two.
 */
class InPlaceProbeStdioTransport extends StdioClientTransport {}

const structured = (result: unknown): Record<string, any> => (result as { structuredContent: Record<string, any> }).structuredContent;

beforeAll(async () => {
  ollama = await startFakeOllama();
  dataDir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-stdio-'));
  const reference = await buildReferenceRegistry();
  toolNames = reference.registry
    .list()
    .filter((method) => method.exposeAsTool !== false)
    .map((method) => method.name.replace(/\./g, '_'))
    .sort();
  await reference.close();

  modern = new Client({ name: 'stdio-v2', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } }, jsonSchemaValidator });
  const modernTransport = new InPlaceProbeStdioTransport(serverParameters('auto'));
  modernTransport.stderr?.on('data', (chunk: Buffer) => (modernStderr += chunk.toString('utf8')));

  legacy = new V1Client({ name: 'stdio-v1', version: '1.0.0' }, { capabilities: { sampling: {} } });
  legacy.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    asked.push(request.params.systemPrompt ?? '');
    const last = request.params.messages.at(-1)?.content;
    const said = last !== undefined && !Array.isArray(last) && last.type === 'text' ? last.text : '';
    return { model: 'host-model', role: 'assistant', content: { type: 'text', text: `(host) Aria replies to "${said}"` } };
  });
  // Both servers start at once: spawning is most of this file's time.
  await Promise.all([modern.connect(modernTransport), legacy.connect(new V1StdioTransport(serverParameters('host')))]);
}, 60_000);
afterAll(async () => {
  await Promise.all([modern?.close(), legacy?.close()]);
  await ollama.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('2026-07-28 client (v2 SDK)', () => {
  it('discovers the server, and its tools are the registry', async () => {
    expect(modern.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    const { tools } = await modern.listTools();
    expect(tools.map((tool) => tool.name).sort()).toEqual(toolNames);
    expect(modernStderr).toContain('persona-mcp speaks MCP on stdio');
  });

  it('chats with Kira through the fake Ollama and continues the conversation', async () => {
    const first = await modern.callTool({ name: 'persona_chat', arguments: { persona_id: 'kira', message: 'Hello, scholar.' } });
    expect(structured(first)).toMatchObject({ response: 'Kira hears you: Hello, scholar.', persona_id: 'kira' });
    const second = await modern.callTool({
      name: 'persona_chat',
      arguments: { conversation_id: structured(first).conversation_id, message: 'And again.' },
    });
    expect(structured(second).conversation_id).toBe(structured(first).conversation_id);
    const transcript = await modern.readResource({ uri: `persona://kira/conversations/${structured(first).conversation_id}` });
    expect((transcript.contents[0] as { text: string }).text).toContain('**Kira:** Kira hears you: And again.');
  });

  it('announces new personas on a listen stream', async () => {
    const changed = new Promise<void>((resolve) => modern.setNotificationHandler('notifications/prompts/list_changed', () => resolve()));
    const subscription = await modern.listen({ promptsListChanged: true, resourcesListChanged: true });
    await modern.callTool({ name: 'persona_create', arguments: { name: 'Stdio Tester', description: 'Exists for one test.' } });
    await changed;
    const { prompts } = await modern.listPrompts();
    expect(prompts.map((prompt) => prompt.name)).toContain('talk-with-stdio-tester');
    await subscription.close();
  });

  it('aborts the generation when the call is cancelled', async () => {
    ollama.setMode('slow');
    ollama.chunkDelayMs = 50;
    ollama.setReply('a very long reply that takes a while to stream word by word');
    try {
      const aborted = ollama.abortedStreams;
      const controller = new AbortController();
      const call = modern.callTool(
        { name: 'persona_chat', arguments: { persona_id: 'aria', message: 'talk slowly' } },
        { signal: controller.signal },
      );
      await ollama.waitForTurn('talk slowly');
      controller.abort();
      await expect(call).rejects.toThrow();
      await ollama.waitForDisconnect(aborted + 1);
      expect(ollama.abortedStreams).toBe(aborted + 1);
    } finally {
      ollama.setMode('normal');
      ollama.setReply(
        (body) =>
          `${/You are (\w+)/.exec(body.messages?.[0]?.content ?? '')?.[1] ?? 'Someone'} hears you: ${body.messages?.at(-1)?.content}`,
      );
    }
  });
});

describe('2025-11-25 client (v1 SDK) with llm.provider "host"', () => {
  it('initializes with the 2025-11-25 handshake', () => {
    expect(legacy.getServerVersion()).toMatchObject({ name: 'persona-mcp' });
    expect(legacy.getServerCapabilities()).toMatchObject({ tools: {}, resources: { subscribe: true }, prompts: {} });
  });

  it("answers through the host's model (sampling/createMessage) and stores the turn", async () => {
    const requests = ollama.requests.length;
    const updated = new Promise<string>((resolve) =>
      legacy.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => resolve(notification.params.uri)),
    );
    const result = await legacy.callTool({ name: 'persona_chat', arguments: { persona_id: 'aria', message: 'Sing for me' } });
    expect(structured(result)).toMatchObject({
      response: '(host) Aria replies to "Sing for me"',
      persona_id: 'aria',
      model: 'llama3.1:8b',
    });
    expect(asked.at(-1)).toContain('You are Aria');
    // Ollama never saw this turn (background jobs of the other client may still reach it, so count by content).
    expect(ollama.requests.slice(requests).filter((request) => JSON.stringify(request.body).includes('Sing for me'))).toEqual([]);

    const conversationId = structured(result).conversation_id as string;
    await legacy.subscribeResource({ uri: `persona://aria/conversations/${conversationId}` });
    await legacy.callTool({ name: 'persona_chat', arguments: { conversation_id: conversationId, message: 'Once more' } });
    expect(await updated).toBe(`persona://aria/conversations/${conversationId}`);
    const history = await legacy.callTool({ name: 'conversation_history', arguments: { conversation_id: conversationId } });
    expect(structured(history).messages.map((message: { content: string }) => message.content)).toEqual([
      'Sing for me',
      '(host) Aria replies to "Sing for me"',
      'Once more',
      '(host) Aria replies to "Once more"',
    ]);
  });

  it('gives the persona prompt and isError for bad arguments', async () => {
    const prompt = await legacy.getPrompt({ name: 'talk-with-aria', arguments: {} });
    expect((prompt.messages[0]!.content as { text: string }).text).toContain('You are Aria');
    const bad = await legacy.callTool({ name: 'persona_status', arguments: { persona_id: 12 } });
    expect(bad.isError).toBe(true);
    expect((bad.content as Array<{ text: string }>)[0]!.text).toContain('persona_id');
  });
});

describe('request ids', () => {
  it('echoes ids a double cannot hold exactly, as the client wrote them', async () => {
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'mcp', '--data-dir', dataDir, '--ollama-host', ollama.url], { cwd: ROOT });
    let out = '';
    const answered = new Promise<void>((resolve) => {
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8');
        if (out.includes('"id":1.50')) resolve();
      });
    });
    child.stdin.write('{"jsonrpc":"2.0","id":9007199254740993,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}\n');
    child.stdin.write('{"jsonrpc":"2.0","method":"notifications/initialized"}\n{"jsonrpc":"2.0","id":1.50,"method":"tools/call",');
    child.stdin.write('"params":{"name":"persona_list","arguments":{}}}\n');
    await answered;
    child.stdin.end();
    await new Promise((resolve) => child.once('exit', resolve));
    expect(out).toContain('"id":9007199254740993');
    expect(out).toMatch(/"id":1\.50[,}]/);
    expect(out).toContain('Aria');
  }, 60_000);
});
