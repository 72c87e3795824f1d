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
let dataDir: string;

beforeAll(async () => {
  ollama = await startFakeOllama({ mode: 'slow', chunkDelayMs: 2 });
  dataDir = makeDataDir();
});
afterAll(async () => {
  await ollama.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const CLIENTS = 4;

describe('crash safety', () => {
  it('keeps every acknowledged turn after kill -9 in the middle of a chat burst', { timeout: 60_000 }, async () => {
    const args = ['--data-dir', dataDir, '--ollama-host', ollama.url];
    const env = { PERSONA_MCP_AUTH: 'off' };
    const first = await startChildServer(args, env);
    const acknowledged: Array<{ sessionId: string; message: string; reply: string }> = [];
    const sessions: string[] = [];
    let killed = false;

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
        } catch {
          return; // the connection died with the server
        }
      }
    });
    while (acknowledged.length < 12) await new Promise((resolve) => setTimeout(resolve, 10));
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
