/**
 * One live settings source: every live-safe setting changed with `config.set` reaches every entry point
 * at once — `persona.chat`, `persona.chat_stream`, group turns, `conversation.interject` and the MCP
 * `persona_chat` tool — because all of them run through the one turn pipeline and read the one object
 * `config.set` changes.
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/client/validators/cf-worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeChatBody, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;
let client: TestClient;
let mcp: Client;

const FIFTY_CHARS = 'x'.repeat(50);

beforeAll(async () => {
  ollama = await startFakeOllama();
  ollama.models.push('live-model:latest');
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'social.groupTurnDelayMs': 0 } });
  client = await server.connect();
  mcp = new Client({ name: 'live-settings-test', version: '1.0.0' }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
  await mcp.connect(new StreamableHTTPClientTransport(new URL(server.server.mcpUrl!)));
});
afterAll(async () => {
  await mcp.close().catch(() => undefined);
  await server.cleanup();
  await ollama.close();
});

/** The persona chat requests the fake received since `from` (memory jobs and the like also reach it). */
function personaRequestsSince(from: number): FakeChatBody[] {
  return ollama.requests
    .slice(from)
    .filter((request) => request.path === '/api/chat')
    .map((request) => request.body)
    .filter((body) => body.messages?.[0]?.content.includes('Stay in character'));
}

async function set(settings: Record<string, unknown>): Promise<void> {
  await client.result('config.set', { settings });
}

let streams = 0;

/** The legacy streaming chat: frames until `stream_complete` or `stream_error`; returns the last one's result. */
async function streamedChat(params: Record<string, unknown>): Promise<any> {
  const id = `stream-${++streams}`;
  client.send({ jsonrpc: '2.0', id, method: 'persona.chat_stream', params });
  for (;;) {
    const frame = await client.next(10_000);
    if (frame.id !== id) continue;
    if (frame.error) return { event_type: 'jsonrpc_error', error: frame.error };
    if (frame.result.event_type === 'stream_complete' || frame.result.event_type === 'stream_error') return frame.result;
  }
}

async function mcpChat(args: Record<string, unknown>): Promise<{ isError: boolean; text: string }> {
  const result = await mcp.callTool({ name: 'persona_chat', arguments: args });
  const text = (result.content as Array<{ type: string; text?: string }>).map((block) => block.text ?? '').join('');
  return { isError: result.isError === true, text };
}

/** Runs a group of two to its end (one turn) and returns its persona requests. */
async function groupTurnRequests(): Promise<FakeChatBody[]> {
  const from = ollama.requests.length;
  const started = await client.result('conversation.start', { personas: ['aria', 'kira'], max_turns: 1 });
  const conversationId = started.conversation_id as string;
  for (let attempt = 0; attempt < 200; attempt++) {
    const status = await client.result('conversation.group_status', { conversation_id: conversationId });
    if (status.status !== 'running') break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return personaRequestsSince(from);
}

describe('config.set reaches every entry point', () => {
  it('chat.maxMessageChars: chat, stream, interject and the MCP tool all refuse a longer message', async () => {
    await set({ 'chat.maxMessageChars': 20 });
    try {
      const chat = await client.call('persona.chat', { persona_id: 'aria', message: FIFTY_CHARS });
      expect(chat.error?.data?.limit).toBe('chat.maxMessageChars');

      const stream = await streamedChat({ persona_id: 'aria', message: FIFTY_CHARS });
      expect(stream.event_type).toBe('stream_error');
      expect(stream.error.message).toContain('chat.maxMessageChars');

      // The repro: a group conversation used to keep its own copy of the limit.
      const group = await client.result('conversation.start', { personas: ['aria', 'kira'], auto_run: false });
      const interject = await client.call('conversation.interject', { conversation_id: group.conversation_id, message: FIFTY_CHARS });
      expect(interject.error?.data?.limit).toBe('chat.maxMessageChars');
      expect(interject.error?.message).toContain('at most 20');

      const tool = await mcpChat({ persona_id: 'aria', message: FIFTY_CHARS });
      expect(tool.isError).toBe(true);
      expect(tool.text).toContain('chat.maxMessageChars');

      // Within the limit, the same entry points accept it.
      const accepted = await client.call('conversation.interject', { conversation_id: group.conversation_id, message: 'short words' });
      expect(accepted.error).toBeUndefined();
      await client.result('conversation.end', { conversation_id: group.conversation_id });
    } finally {
      await set({ 'chat.maxMessageChars': null });
    }
  });

  it('chat.maxTokenBudget: chat, stream and the MCP tool refuse a larger token_budget', async () => {
    await set({ 'chat.maxTokenBudget': 100, 'chat.defaultTokenBudget': 50 });
    try {
      const chat = await client.call('persona.chat', { persona_id: 'aria', message: 'hello', token_budget: 150 });
      expect(chat.error?.data?.limit).toBe('chat.maxTokenBudget');
      const stream = await streamedChat({ persona_id: 'aria', message: 'hello', token_budget: 150 });
      expect(stream.event_type).toBe('stream_error');
      expect(stream.error.message).toContain('chat.maxTokenBudget');
      const tool = await mcpChat({ persona_id: 'aria', message: 'hello', token_budget: 150 });
      expect(tool.isError).toBe(true);
      expect(tool.text).toContain('chat.maxTokenBudget');
    } finally {
      await set({ 'chat.maxTokenBudget': null, 'chat.defaultTokenBudget': null });
    }
  });

  it('llm.model, llm.contextTokens, chat.defaultTokenBudget and chat.historyMessages reach chat, stream, the MCP tool and group turns', async () => {
    await set({ 'llm.model': 'live-model', 'llm.contextTokens': 3000, 'chat.defaultTokenBudget': 77, 'chat.historyMessages': 2 });
    try {
      let from = ollama.requests.length;
      const chat = await client.result('persona.chat', { persona_id: 'kira', message: 'first words' });
      await client.result('persona.chat', { persona_id: 'kira', message: 'second words', conversation_id: chat.conversation_id });
      const [first, second] = personaRequestsSince(from);
      for (const body of [first, second]) {
        expect(body?.model).toBe('live-model');
        expect(body?.options).toMatchObject({ num_ctx: 3000, num_predict: 77 });
      }
      // Two history messages at most: the system prompt, then the previous reply and the new message.
      expect(second?.messages?.filter((message) => message.role !== 'system')).toHaveLength(2);

      from = ollama.requests.length;
      const stream = await streamedChat({ persona_id: 'kira', message: 'streamed words' });
      expect(stream.event_type).toBe('stream_complete');
      expect(personaRequestsSince(from)[0]).toMatchObject({ model: 'live-model', options: { num_ctx: 3000, num_predict: 77 } });

      from = ollama.requests.length;
      const tool = await mcpChat({ persona_id: 'kira', message: 'words over MCP' });
      expect(tool.isError).toBe(false);
      expect(personaRequestsSince(from)[0]).toMatchObject({ model: 'live-model', options: { num_ctx: 3000, num_predict: 77 } });

      const group = await groupTurnRequests();
      expect(group.length).toBeGreaterThan(0);
      // Group turns keep their own reply cap (social.groupTokenBudget); model and window are the live ones.
      for (const body of group) expect(body).toMatchObject({ model: 'live-model', options: { num_ctx: 3000 } });
    } finally {
      await set({ 'llm.model': null, 'llm.contextTokens': null, 'chat.defaultTokenBudget': null, 'chat.historyMessages': null });
    }
  });
});
