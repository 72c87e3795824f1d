/**
 * MCP Streamable HTTP at /mcp, driven by the SDK's own clients: v2 (`@modelcontextprotocol/client`,
 * revision 2026-07-28, stateless) and v1 (`@modelcontextprotocol/sdk`, 2025-11-25, with sessions).
 * Real server, real SQLite, the fake Ollama.
 */
import { request as httpRequest } from 'node:http';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/client/validators/cf-worker';
import { Client as V1Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as V1HttpTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

/**
 * The v2 client checks every structured result against the tool's output schema; the interpreting
 * validator does that without compiling each schema first (AJV's compile dominates a short test).
 */
const jsonSchemaValidator = new CfWorkerJsonSchemaValidator();
let ollama: FakeOllama;
let server: TestServer;
let mcpUrl: URL;
const clients: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  ollama = await startFakeOllama();
  // Every tool: these tests cover the whole registry as tools (tool profiles: mcp-tool-profiles.test.ts).
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'llm.provider': 'auto', 'mcp.tools': ['all'], 'mcp.outputSchemas': true } });
  mcpUrl = new URL(server.server.mcpUrl!);
});
afterAll(async () => {
  await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
  await server.cleanup();
  await ollama.close();
});
afterEach(() => {
  ollama.setMode('normal');
  ollama.setReply(
    (body) => `${/You are (\w+)/.exec(body.messages?.[0]?.content ?? '')?.[1] ?? 'Someone'} hears you: ${body.messages?.at(-1)?.content}`,
  );
});

/** A 2026-07-28 client (stateless HTTP), optionally offering its model through sampling. */
async function modernClient(sampling?: (text: string) => string): Promise<Client> {
  const client = new Client(
    { name: 'test-v2', version: '1.0.0' },
    { versionNegotiation: { mode: { pin: '2026-07-28' } }, jsonSchemaValidator, ...(sampling ? { capabilities: { sampling: {} } } : {}) },
  );
  if (sampling) {
    client.setRequestHandler('sampling/createMessage', async (request) => {
      const last = request.params.messages.at(-1)?.content;
      const text = last !== undefined && !Array.isArray(last) && last.type === 'text' ? last.text : '';
      return { model: 'host-model', role: 'assistant', content: { type: 'text', text: sampling(text) } };
    });
  }
  await client.connect(new StreamableHTTPClientTransport(mcpUrl));
  clients.push(client);
  return client;
}

/** A 2025-11-25 client (initialize handshake, Mcp-Session-Id). */
async function legacyClient(sampling?: (text: string) => string): Promise<{ client: V1Client; transport: V1HttpTransport }> {
  const client = new V1Client({ name: 'test-v1', version: '1.0.0' }, sampling ? { capabilities: { sampling: {} } } : {});
  if (sampling) {
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      const last = request.params.messages.at(-1)?.content;
      const text = last !== undefined && !Array.isArray(last) && last.type === 'text' ? last.text : '';
      return { model: 'host-model', role: 'assistant', content: { type: 'text', text: sampling(text) } };
    });
  }
  const transport = new V1HttpTransport(mcpUrl);
  await client.connect(transport);
  clients.push(client);
  return { client, transport };
}

const structured = (result: unknown): Record<string, any> => (result as { structuredContent: Record<string, any> }).structuredContent;
const text = (result: unknown): string => (result as { content: Array<{ text: string }> }).content[0]?.text ?? '';

describe('discovery', () => {
  it('negotiates 2026-07-28 with the v2 client and 2025-11-25 (with a session) with the v1 client', async () => {
    const modern = await modernClient();
    expect(modern.getNegotiatedProtocolVersion()).toBe('2026-07-28');
    expect(modern.getServerVersion()).toMatchObject({ name: 'persona-mcp' });
    const { client, transport } = await legacyClient();
    expect(transport.protocolVersion).toBe('2025-11-25');
    expect(transport.sessionId).toMatch(/^ses_/);
    expect(client.getServerCapabilities()).toMatchObject({
      tools: {},
      resources: { subscribe: true, listChanged: true },
      prompts: { listChanged: true },
    });
    expect(client.getInstructions()).toContain('conversation_id');
  });

  it('lists one tool per exposed registry method, with its schemas and hints', async () => {
    const client = await modernClient();
    const { tools } = await client.listTools();
    const methods = server.server.registry.list().filter((method) => method.exposeAsTool !== false);
    expect(tools.map((tool) => tool.name).sort()).toEqual(methods.map((method) => method.name.replace(/\./g, '_')).sort());
    for (const method of methods) {
      const tool = tools.find((candidate) => candidate.name === method.name.replace(/\./g, '_'))!;
      expect(Object.keys(tool.inputSchema.properties ?? {}).sort()).toEqual(Object.keys(method.params.shape).sort());
      expect(tool.outputSchema).toMatchObject(z.toJSONSchema(method.result, { io: 'output' }) as object);
      expect(tool.annotations?.readOnlyHint).toBe(method.hints?.readOnly === true);
      expect(tool.description).toContain(method.summary);
    }
    expect(tools.find((tool) => tool.name === 'persona_delete')!.annotations).toMatchObject({
      destructiveHint: true,
      idempotentHint: false,
    });
    expect(tools.find((tool) => tool.name === 'persona_chat')!.annotations).toMatchObject({ destructiveHint: false, openWorldHint: true });
  });
});

describe('tools', () => {
  it('chats against the fake Ollama and continues through the conversation handle (stateless)', async () => {
    const client = await modernClient();
    const first = await client.callTool({ name: 'persona_chat', arguments: { persona_id: 'Kira', message: 'What are you reading?' } });
    expect(structured(first)).toMatchObject({
      response: 'Kira hears you: What are you reading?',
      persona_id: 'kira',
      response_type: 'chat',
    });
    expect(JSON.parse(text(first))).toEqual(structured(first));
    const conversationId = structured(first).conversation_id as string;
    const second = await client.callTool({
      name: 'persona_chat',
      arguments: { conversation_id: conversationId, message: 'Tell me more.' },
    });
    expect(structured(second)).toMatchObject({ conversation_id: conversationId, persona_id: 'kira' });
    const sent = ollama.chatAbout('Tell me more.').body.messages!.map((message) => message.content);
    expect(sent.slice(1)).toEqual(['What are you reading?', 'Kira hears you: What are you reading?', 'Tell me more.']);
  });

  it('keeps the session of a 2025-11-25 connection: persona_switch then persona_chat without ids', async () => {
    const { client } = await legacyClient();
    await client.callTool({ name: 'persona_switch', arguments: { persona_id: 'aria' } });
    const result = await client.callTool({ name: 'persona_chat', arguments: { message: 'hello, bard' } });
    expect(structured(result)).toMatchObject({ persona_id: 'aria', response: 'Aria hears you: hello, bard' });
  });

  it('sends progress notifications with the text so far when a progress token is given', async () => {
    const client = await modernClient();
    const progress: Array<{ progress: number; message?: string }> = [];
    const result = await client.callTool(
      { name: 'persona_chat', arguments: { persona_id: 'aria', message: 'one two three' } },
      { onprogress: (update) => progress.push(update) },
    );
    // one update per delta; the fake's lines arrive together, and the lines of one read are one delta
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.at(-1)!.message).toBe(structured(result).response);
    expect(progress.map((update) => update.progress)).toEqual([...progress.map((update) => update.progress)].sort((a, b) => a - b));
  });

  it('answers bad arguments and application errors with isError results that say what to do', async () => {
    const client = await modernClient();
    const bad = await client.callTool({ name: 'persona_chat', arguments: { message: 42 } });
    expect(bad.isError).toBe(true);
    expect(text(bad)).toContain('message');
    const unknown = await client.callTool({ name: 'persona_chat', arguments: { persona_id: 'nobody', message: 'hi' } });
    expect(unknown.isError).toBe(true);
    expect(text(unknown)).toMatch(/nobody/);
    expect(text(unknown)).toContain('persona_not_found');
    const noPersona = await client.callTool({ name: 'persona_chat', arguments: { message: 'hi' } });
    expect(text(noPersona)).toContain('persona_id');
  });

  it.each(['2025-11-25', '2026-07-28'])('aborts the generation when a %s client cancels the call', async (revision) => {
    const client = revision === '2026-07-28' ? await modernClient() : (await legacyClient()).client;
    ollama.setMode('slow');
    ollama.chunkDelayMs = 50;
    ollama.setReply('a very long reply that takes a while to stream word by word');
    const aborted = ollama.abortedStreams;
    const requests = ollama.requests.length;
    const controller = new AbortController();
    const params = { name: 'persona_chat', arguments: { persona_id: 'aria', message: 'talk slowly' } };
    const call =
      client instanceof Client
        ? client.callTool(params, { signal: controller.signal })
        : client.callTool(params, undefined, { signal: controller.signal });
    await ollama.waitForTurn('talk slowly', requests);
    controller.abort();
    await expect(call).rejects.toThrow();
    await ollama.waitForDisconnect(aborted + 1);
    expect(ollama.abortedStreams).toBe(aborted + 1);
  });
});

describe("the host's model", () => {
  it('2026-07-28: answers input_required with a sampling request and completes the turn with the answer', async () => {
    ollama.setMode('fail');
    const down = await startTestServer({ ollamaUrl: 'http://127.0.0.1:1', flags: { 'llm.provider': 'auto' } });
    try {
      const client = new Client(
        { name: 'host', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } }, jsonSchemaValidator, capabilities: { sampling: {} } },
      );
      const asked: string[] = [];
      client.setRequestHandler('sampling/createMessage', async (request) => {
        asked.push(request.params.systemPrompt ?? '');
        return { model: 'host-model', role: 'assistant', content: { type: 'text', text: 'Greetings from your own model.' } };
      });
      await client.connect(new StreamableHTTPClientTransport(new URL(down.server.mcpUrl!)));
      const result = await client.callTool({ name: 'persona_chat', arguments: { persona_id: 'aria', message: 'Who answers?' } });
      expect(structured(result)).toMatchObject({ response: 'Greetings from your own model.', persona_id: 'aria' });
      expect(asked).toHaveLength(1);
      expect(asked[0]).toContain('You are Aria');
      const history = await client.callTool({
        name: 'conversation_history',
        arguments: { conversation_id: structured(result).conversation_id },
      });
      expect(structured(history).messages.map((message: { content: string }) => message.content)).toEqual([
        'Who answers?',
        'Greetings from your own model.',
      ]);
      await client.close();
    } finally {
      await down.cleanup();
    }
  });

  it('2025-11-25: asks with sampling/createMessage and completes the turn', async () => {
    const down = await startTestServer({ ollamaUrl: 'http://127.0.0.1:1', flags: { 'llm.provider': 'host' } });
    try {
      const client = new V1Client({ name: 'host', version: '1.0.0' }, { capabilities: { sampling: {} } });
      client.setRequestHandler(CreateMessageRequestSchema, async () => ({
        model: 'host-model',
        role: 'assistant',
        content: { type: 'text', text: 'The host speaks for Kira.' },
      }));
      await client.connect(new V1HttpTransport(new URL(down.server.mcpUrl!)));
      const result = await client.callTool({ name: 'persona_chat', arguments: { persona_id: 'kira', message: 'Hello?' } });
      expect(structured(result)).toMatchObject({ response: 'The host speaks for Kira.', persona_id: 'kira' });
      await client.close();
    } finally {
      await down.cleanup();
    }
  });
});

describe('resources and prompts', () => {
  it('lists persona cards and reads a card and a transcript', async () => {
    const client = await modernClient();
    const { resources } = await client.listResources();
    expect(resources.map((resource) => resource.uri)).toEqual(expect.arrayContaining(['persona://aria', 'persona://kira']));
    const { resourceTemplates } = await client.listResourceTemplates();
    expect(resourceTemplates.map((template) => template.uriTemplate)).toEqual([
      'persona://{personaId}',
      'persona://{personaId}/conversations/{conversationId}',
    ]);
    const card = await client.readResource({ uri: 'persona://aria' });
    expect(card.contents[0]).toMatchObject({ mimeType: 'text/markdown' });
    expect((card.contents[0] as { text: string }).text).toContain('# Aria');
    expect(JSON.parse((card.contents[1] as { text: string }).text)).toMatchObject({ id: 'aria', name: 'Aria' });

    const chat = await client.callTool({ name: 'persona_chat', arguments: { persona_id: 'aria', message: 'Remember this line.' } });
    const transcript = await client.readResource({ uri: `persona://aria/conversations/${structured(chat).conversation_id}` });
    expect((transcript.contents[0] as { text: string }).text).toContain('**You:** Remember this line.');
    await expect(client.readResource({ uri: 'persona://nobody' })).rejects.toThrow(/nobody/);
  });

  it('notifies list changes and transcript updates on a 2026-07-28 listen stream', async () => {
    const client = await modernClient();
    const chat = await client.callTool({ name: 'persona_chat', arguments: { persona_id: 'kira', message: 'Start a thread.' } });
    const uri = `persona://kira/conversations/${structured(chat).conversation_id}`;
    const listChanged = new Promise<void>((resolve) =>
      client.setNotificationHandler('notifications/resources/list_changed', () => resolve()),
    );
    const updated = new Promise<string>((resolve) =>
      client.setNotificationHandler('notifications/resources/updated', (notification) => resolve(notification.params.uri)),
    );
    const subscription = await client.listen({ resourcesListChanged: true, promptsListChanged: true, resourceSubscriptions: [uri] });
    await client.callTool({ name: 'persona_create', arguments: { name: 'Listen Tester', description: 'Exists for one test.' } });
    await listChanged;
    await client.callTool({ name: 'persona_chat', arguments: { conversation_id: structured(chat).conversation_id, message: 'More.' } });
    expect(await updated).toBe(uri);
    await subscription.close();
    await client.callTool({ name: 'persona_delete', arguments: { persona_id: 'listen-tester' } });
  });

  it('puts no transcript notice on the bus while no listen stream is open, and one per stored message while one is', async () => {
    const notices = async (): Promise<number> => {
      const text = await (await fetch(`${server.server.httpUrl}/metrics`)).text();
      return Number(/^persona_mcp_transcript_notices_total (\d+)$/m.exec(text)?.[1]);
    };
    const client = await modernClient();
    const before = await notices();
    const chat = await client.callTool({ name: 'persona_chat', arguments: { persona_id: 'aria', message: 'Nobody listens.' } });
    expect(await notices()).toBe(before);

    const uri = `persona://aria/conversations/${structured(chat).conversation_id}`;
    const updated = new Promise<string>((resolve) =>
      client.setNotificationHandler('notifications/resources/updated', (notification) => resolve(notification.params.uri)),
    );
    const subscription = await client.listen({ resourceSubscriptions: [uri] });
    await client.callTool({ name: 'persona_chat', arguments: { conversation_id: structured(chat).conversation_id, message: 'Someone listens.' } });
    expect(await updated).toBe(uri);
    expect(await notices()).toBeGreaterThan(before);
    await subscription.close();
  });

  it('sends resources/updated to a subscribed 2025-11-25 session', async () => {
    const { client } = await legacyClient();
    const chat = await client.callTool({ name: 'persona_chat', arguments: { persona_id: 'aria', message: 'Subscribe to me.' } });
    const uri = `persona://aria/conversations/${structured(chat).conversation_id}`;
    const updated = new Promise<string>((resolve) =>
      client.setNotificationHandler(ResourceUpdatedNotificationSchema, (notification) => resolve(notification.params.uri)),
    );
    await client.subscribeResource({ uri });
    await client.callTool({
      name: 'persona_chat',
      arguments: { conversation_id: structured(chat).conversation_id, message: 'Did you hear?' },
    });
    expect(await updated).toBe(uri);
  });

  it('returns a persona prompt with its system prompt and the recent conversation', async () => {
    const { client } = await legacyClient();
    const { prompts } = await client.listPrompts();
    expect(prompts.map((prompt) => prompt.name)).toEqual(expect.arrayContaining(['talk-with-aria', 'talk-with-kira']));
    const chat = await client.callTool({ name: 'persona_chat', arguments: { persona_id: 'kira', message: 'What is knowledge?' } });
    const prompt = await client.getPrompt({
      name: 'talk-with-kira',
      arguments: { conversation_id: structured(chat).conversation_id, scene: 'a quiet library' },
    });
    const [brief, ...history] = prompt.messages;
    expect(brief!.role).toBe('user');
    expect((brief!.content as { text: string }).text).toContain('You are Kira');
    expect((brief!.content as { text: string }).text).toContain('a quiet library');
    expect(history.map((message) => [message.role, (message.content as { text: string }).text])).toEqual([
      ['user', 'What is knowledge?'],
      ['assistant', 'Kira hears you: What is knowledge?'],
    ]);
  });
});

describe('HTTP edges', () => {
  it('refuses a foreign Origin and a rebound Host with 403, and ends a 2025-11-25 session on DELETE', async () => {
    const refused = await fetch(mcpUrl, {
      method: 'POST',
      headers: { origin: 'https://evil.example', 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: {} }),
    });
    expect(refused.status).toBe(403);
    expect(((await refused.json()) as { error: { message: string } }).error.message).toContain('origin');

    const rebound = await new Promise<number>((resolve, reject) => {
      const request = httpRequest(
        mcpUrl,
        { method: 'POST', headers: { host: 'attacker.example', 'content-type': 'application/json' } },
        (response) => {
          response.resume();
          resolve(response.statusCode ?? 0);
        },
      );
      request.on('error', reject);
      request.end('{}');
    });
    expect(rebound).toBe(403);

    const { transport } = await legacyClient();
    const sessionId = transport.sessionId!;
    await transport.terminateSession();
    const after = await fetch(mcpUrl, {
      method: 'POST',
      headers: { 'mcp-session-id': sessionId, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} }),
    });
    expect(after.status).toBe(404);
  });

  it('answers a body over limits.maxFrameBytes (1 MiB here, under the SDK\'s own 4 MiB) with HTTP 413 and -32020', async () => {
    const message = 'x'.repeat(1_100_000);
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = httpRequest(
        mcpUrl,
        { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' } },
        (response) => {
          let body = '';
          response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
        },
      );
      // The server answers before reading the rest and closes the connection: writing on may fail after the answer.
      request.on('error', reject);
      request.end(JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'persona_chat', arguments: { persona_id: 'aria', message } } }));
    });

    expect(answer.status).toBe(413);
    expect(JSON.parse(answer.body)).toEqual({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32020, message: 'Request too large: the body is over 1048576 bytes (limits.maxFrameBytes).', data: { kind: 'request_too_large', limit: 1_048_576 } },
    });
  });

  it('requires an API key when authentication is on, and keeps each user to their own conversations', async () => {
    const secured = await startTestServer({ ollamaUrl: ollama.url, flags: { 'auth.mode': 'required' } });
    try {
      const url = new URL(secured.server.mcpUrl!);
      const anonymous = new Client(
        { name: 'anon', version: '1.0.0' },
        { versionNegotiation: { mode: { pin: '2026-07-28' } }, jsonSchemaValidator },
      );
      await expect(anonymous.connect(new StreamableHTTPClientTransport(url))).rejects.toThrow();
      const keyed = async (name: string): Promise<Client> => {
        const { key } = await secured.server.auth.createKey({ name });
        const client = new Client({ name, version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } }, jsonSchemaValidator });
        await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
        clients.push(client);
        return client;
      };
      const alice = await keyed('Alice');
      const bob = await keyed('Bob');
      const chat = await alice.callTool({ name: 'persona_chat', arguments: { persona_id: 'aria', message: 'A secret for Aria.' } });
      const spy = await bob.callTool({ name: 'conversation_history', arguments: { conversation_id: structured(chat).conversation_id } });
      expect(spy.isError).toBe(true);
      expect(text(spy)).toContain('conversation_not_found');
    } finally {
      await secured.cleanup();
    }
  });

  it("tells no user of another's transcript: a listen stream gets only its own caller's, a 2025-11-25 subscription is refused", async () => {
    const secured = await startTestServer({ ollamaUrl: ollama.url, flags: { 'auth.mode': 'required' } });
    try {
      const url = new URL(secured.server.mcpUrl!);
      const keyOf = async (name: string): Promise<string> => (await secured.server.auth.createKey({ name })).key;
      const modern = async (key: string): Promise<Client> => {
        const client = new Client({ name: 'keyed', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } }, jsonSchemaValidator });
        await client.connect(new StreamableHTTPClientTransport(url, { requestInit: { headers: { authorization: `Bearer ${key}` } } }));
        clients.push(client);
        return client;
      };
      const aliceKey = await keyOf('Alice');
      const bobKey = await keyOf('Bob');
      const alice = await modern(aliceKey);
      const bob = await modern(bobKey);
      const aliceChat = structured(await alice.callTool({ name: 'persona_chat', arguments: { persona_id: 'aria', message: 'A secret for Aria.' } }));
      const bobChat = structured(await bob.callTool({ name: 'persona_chat', arguments: { persona_id: 'aria', message: 'Hello Aria.' } }));
      const aliceUri = `persona://aria/conversations/${aliceChat.conversation_id}`;
      const bobUri = `persona://aria/conversations/${bobChat.conversation_id}`;

      const seen: string[] = [];
      const ownSeen = new Promise<void>((resolve) =>
        bob.setNotificationHandler('notifications/resources/updated', (notification) => {
          seen.push(notification.params.uri);
          if (notification.params.uri === bobUri) resolve();
        }),
      );
      const subscription = await bob.listen({ resourceSubscriptions: [aliceUri, bobUri] });
      await alice.callTool({ name: 'persona_chat', arguments: { conversation_id: aliceChat.conversation_id, message: 'Another secret.' } });
      // Bob's own update comes after Alice's would have: he chats once her turn is stored.
      await bob.callTool({ name: 'persona_chat', arguments: { conversation_id: bobChat.conversation_id, message: 'Me again.' } });
      await ownSeen;
      expect(seen).not.toContain(aliceUri);
      await subscription.close();

      const legacyBob = new V1Client({ name: 'keyed-v1', version: '1.0.0' });
      await legacyBob.connect(new V1HttpTransport(url, { requestInit: { headers: { authorization: `Bearer ${bobKey}` } } }));
      clients.push(legacyBob);
      await expect(legacyBob.subscribeResource({ uri: aliceUri })).rejects.toThrow(/not found/i);
      await expect(legacyBob.subscribeResource({ uri: bobUri })).resolves.toEqual({});
    } finally {
      await secured.cleanup();
    }
  });

  it('keeps WebSocket JSON-RPC on /mcp working beside MCP HTTP', async () => {
    const client = await server.connect();
    const result = await client.result('persona.list');
    expect(result.total_count).toBeGreaterThanOrEqual(2);
  });
});
