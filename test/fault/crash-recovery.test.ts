/**
 * kill -9 during a burst of chats: after a restart, every turn the server acknowledged is in the
 * store, and so is every user message it received before dying.
 */
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startChildServer } from '../helpers/child-server.js';
import { makeDataDir } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
const dataDirs: string[] = [];

beforeAll(async () => {
  ollama = await startFakeOllama({ mode: 'slow', chunkDelayMs: 2 });
});
afterAll(async () => {
  await ollama.close();
  for (const dataDir of dataDirs) rmSync(dataDir, { recursive: true, force: true });
});

const CLIENTS = 4;

// Two child servers, each compiled through tsx first: slow on a loaded machine (the burst itself takes seconds).
describe('crash safety', () => {
  it('keeps every acknowledged turn after kill -9 in the middle of a chat burst', { timeout: 150_000 }, async () => {
    // a fresh data dir per attempt: a retry must not start with personas a previous attempt wore out
    const dataDir = makeDataDir();
    dataDirs.push(dataDir);
    const args = ['--data-dir', dataDir, '--ollama-host', ollama.url];
    const env = { PERSONA_MCP_AUTH: 'off' };
    const first = await startChildServer(args, env);
    const acknowledged: Array<{ sessionId: string; message: string; reply: string }> = [];
    const sessions: string[] = [];
    let killed = false;
    let running = CLIENTS;
    const refusals: string[] = [];

    const clients = await Promise.all(Array.from({ length: CLIENTS }, () => TestClient.connect(first.websocketUrl)));
    await Promise.all(
      clients.map(async (client, index) => {
        const { session_id } = await client.result('session.info');
        sessions[index] = session_id; // by index: the clients answer in any order
        await client.result('persona.switch', { persona_id: index % 2 ? 'aria' : 'kira' });
      }),
    );
    const bursts = clients.map(async (client, index) => {
      for (let turn = 0; !killed; turn += 1) {
        const message = `client ${index} turn ${turn}`;
        try {
          const result = await client.result('persona.chat', { message });
          acknowledged.push({ sessionId: sessions[index]!, message, reply: result.response });
        } catch (error) {
          // the connection died with the server, or (before the kill) the server refused the chat
          if (!killed) refusals.push(String(error));
          running -= 1;
          return;
        }
      }
    });
    while (acknowledged.length < 12 && running > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(refusals, 'every chat before the kill is answered').toEqual([]);
    killed = true;
    await first.kill('SIGKILL');
    await Promise.all(bursts);

    const second = await startChildServer(args, env);
    try {
      for (const sessionId of new Set(acknowledged.map((turn) => turn.sessionId))) {
        const client = await TestClient.connect(`${second.websocketUrl}?session_id=${sessionId}`);
        const info = await client.result('session.info');
        const stored: string[] = [];
        for (const conversation of info.conversations) {
          const page = await client.result('conversation.history', { conversation_id: conversation.conversation_id, limit: 500 });
          stored.push(...page.messages.map((message: { content: string }) => message.content));
        }
        for (const turn of acknowledged.filter((item) => item.sessionId === sessionId)) {
          expect(stored).toContain(turn.message);
          expect(stored).toContain(turn.reply);
        }
        await client.close();
      }
    } finally {
      await second.kill('SIGTERM');
    }
  });
});
