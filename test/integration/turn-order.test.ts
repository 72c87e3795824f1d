/**
 * Chat turns of one conversation take their turn: two `persona.chat` calls sent at once each answer their
 * own message, and the second's prompt holds the first turn, message and reply. Real server, real SQLite,
 * real WebSockets, MCP over HTTP and `/v1`, the fake Ollama streaming slowly (a turn takes a while, as a real model's does).
 */
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/client/validators/cf-worker';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
let server: TestServer;

beforeAll(async () => {
  ollama = await startFakeOllama({ chunkDelayMs: 20 });
  server = await startTestServer({
    ollamaUrl: ollama.url,
    flags: { 'limits.maxConcurrentChatsPerSession': 5, 'limits.maxQueuedChatsPerConversation': 1, 'llm.concurrency': 4 },
  });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});
afterEach(() => {
  ollama.setMode('normal');
  ollama.releaseHung();
});

/** The answer frame to `id`, skipping the stream's chunk notifications; `chunks` collects their text. */
async function answerTo(client: TestClient, id: number, chunks: string[] = []): Promise<any> {
  for (;;) {
    const frame = await client.next(10_000);
    if (frame.method === 'persona.chat.chunk') chunks.push(frame.params.delta);
    else if (frame.id === id) return frame;
    else throw new Error(`unexpected frame ${JSON.stringify(frame)}`);
  }
}

/** The prompt's conversation (user and assistant messages) the model was sent for the turn answering `text`. */
function promptFor(text: string): string[][] {
  return (ollama.turnFor(text).body.messages ?? []).filter((message) => message.role !== 'system').map((message) => [message.role, message.content]);
}

describe('turn order within a conversation', () => {
  it('answers two chats sent at once each with its own reply, the second with the first turn in its prompt', async () => {
    ollama.setMode('slow');
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'aria' });
    client.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { message: 'Tell me about lutes.' } });
    client.send({ jsonrpc: '2.0', id: 2, method: 'persona.chat', params: { message: 'And about drums?' } });

    const first = await answerTo(client, 1);
    const second = await answerTo(client, 2);

    expect(first.result.response).toBe('Aria hears you: Tell me about lutes.');
    expect(second.result.response).toBe('Aria hears you: And about drums?');
    expect(promptFor('Tell me about lutes.')).toEqual([['user', 'Tell me about lutes.']]);
    expect(promptFor('And about drums?')).toEqual([
      ['user', 'Tell me about lutes.'],
      ['assistant', 'Aria hears you: Tell me about lutes.'],
      ['user', 'And about drums?'],
    ]);
    const history = await client.result('conversation.history', { persona_id: 'aria' });
    expect(history.messages.map((message: { role: string; content: string }) => [message.role, message.content])).toEqual([
      ['user', 'Tell me about lutes.'],
      ['assistant', 'Aria hears you: Tell me about lutes.'],
      ['user', 'And about drums?'],
      ['assistant', 'Aria hears you: And about drums?'],
    ]);
    await client.close();
  });

  it('orders a streamed chat on a second connection naming the conversation behind the first connection\'s chat', async () => {
    ollama.setMode('slow');
    const owner = await server.connect();
    const { conversation_id: conversationId } = await owner.result('conversation.start', { persona_id: 'kira', context: 'a library' });
    const other = await server.connect();
    owner.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { message: 'What is a codex?', persona_id: 'kira' } });
    await ollama.waitForTurn('What is a codex?', 0);
    other.send({ jsonrpc: '2.0', id: 7, method: 'persona.chat', params: { message: 'Who wrote it?', conversation_id: conversationId, stream: true } });

    const chunks: string[] = [];
    const streamed = await answerTo(other, 7, chunks);
    const first = await answerTo(owner, 1);

    expect(first.result.response).toBe('Kira hears you: What is a codex?');
    expect(streamed.result.response).toBe('Kira hears you: Who wrote it?');
    expect(chunks.join('')).toBe('Kira hears you: Who wrote it?');
    expect(promptFor('Who wrote it?').slice(-3)).toEqual([
      ['user', 'What is a codex?'],
      ['assistant', 'Kira hears you: What is a codex?'],
      ['user', 'Who wrote it?'],
    ]);
    await Promise.all([owner.close(), other.close()]);
  });

  it('orders MCP tool calls naming the conversation the same way', async () => {
    ollama.setMode('slow');
    const owner = await server.connect();
    const { conversation_id: conversationId } = await owner.result('conversation.start', { persona_id: 'aria', context: 'a tavern' });
    const mcp = new Client({ name: 'turn-order', version: '1.0.0' }, { versionNegotiation: { mode: { pin: '2026-07-28' } }, jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(server.server.mcpUrl!)));
    try {
      const first = mcp.callTool({ name: 'persona_chat', arguments: { conversation_id: conversationId, message: 'Play a jig.' } });
      await ollama.waitForTurn('Play a jig.', 0);
      const second = mcp.callTool({ name: 'persona_chat', arguments: { conversation_id: conversationId, message: 'Now a reel.' } });

      const replies = (await Promise.all([first, second])).map((result) => (result.structuredContent as { response: string }).response);
      expect(replies).toEqual(['Aria hears you: Play a jig.', 'Aria hears you: Now a reel.']);
      expect(promptFor('Now a reel.').slice(-3)).toEqual([
        ['user', 'Play a jig.'],
        ['assistant', 'Aria hears you: Play a jig.'],
        ['user', 'Now a reel.'],
      ]);
    } finally {
      await mcp.close();
      await owner.close();
    }
  });

  it('decides a /v1 request\'s replay-or-new in the line: the same request sent while the first runs replays its reply', async () => {
    const complete = async (messages: Array<{ role: string; content: string }>): Promise<any> => {
      const response = await fetch(`${server.server.httpUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'kira', user: 'regenerate-in-line', messages }),
      });
      expect(response.status).toBe(200);
      return response.json();
    };
    const opening = [{ role: 'user', content: 'Name a good atlas.' }];
    const opened = await complete(opening);
    const resent = [...opening, { role: 'assistant', content: opened.choices[0].message.content }, { role: 'user', content: 'Which edition?' }];

    ollama.setMode('slow');
    const first = complete(resent);
    await ollama.waitForTurn('Which edition?', 0);
    // A front-end's retry of the request still running: planned against the history before the first
    // one's reply, it would store the message again and be answered twice.
    const retry = complete(resent);

    const answers = await Promise.all([first, retry]);
    expect(answers.map((answer) => [answer.choices[0].message.content, answer.replayed === true])).toEqual([
      ['Kira hears you: Which edition?', false],
      ['Kira hears you: Which edition?', true],
    ]);
    const stored = await server.server.store.recentMessages(opened.conversation_id, 100);
    expect(stored.map((message) => [message.role, message.content])).toEqual([
      ['user', 'Name a good atlas.'],
      ['assistant', 'Kira hears you: Name a good atlas.'],
      ['user', 'Which edition?'],
      ['assistant', 'Kira hears you: Which edition?'],
    ]);
  });

  it('refuses a chat with -32022 when the conversation\'s line is full, and runs the waiting one after the first', async () => {
    ollama.setMode('hang');
    const client = await server.connect();
    await client.result('persona.switch', { persona_id: 'aria' });
    client.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { message: 'one' } });
    await ollama.waitForTurn('one', 0);
    client.send({ jsonrpc: '2.0', id: 2, method: 'persona.chat', params: { message: 'two' } });
    client.send({ jsonrpc: '2.0', id: 3, method: 'persona.chat', params: { message: 'three' } });

    const refused = await client.next();
    expect(refused).toMatchObject({ id: 3, error: { code: -32022, data: { limit: 'limits.maxQueuedChatsPerConversation', max: 1 } } });
    ollama.setMode('normal');
    ollama.releaseHung();
    expect((await answerTo(client, 1)).result.response).toBe('Aria hears you: one');
    expect((await answerTo(client, 2)).result.response).toBe('Aria hears you: two');
    await client.close();
  });
});
