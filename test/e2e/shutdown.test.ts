/**
 * Issue #12 case 10, on the real CLI process: SIGTERM with clients connected (one of them mid-turn)
 * closes every WebSocket with 1001 and exits within seconds, keeping the user's message; a second
 * signal exits at once.
 */
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startChildServer } from '../helpers/child-server.js';
import { makeDataDir } from '../helpers/server.js';
import { TestClient } from '../helpers/ws-client.js';

let ollama: FakeOllama;
const dataDirs: string[] = [];

beforeAll(async () => {
  ollama = await startFakeOllama();
});
afterAll(async () => {
  await ollama.close();
  for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true });
});

function dataDir(): string {
  const dir = makeDataDir();
  dataDirs.push(dir);
  return dir;
}

// A child server compiles the CLI through tsx first: slow on a loaded machine.
describe('10. shutdown with clients connected', { timeout: 90_000 }, () => {
  // `worker`: a jobs thread still building its core (seconds from TypeScript sources) is not waited for.
  it.each(['main', 'worker'])(
    'closes WebSockets with 1001, aborts the turn in flight (its message kept) and exits within seconds (jobs.thread: %s)',
    async (thread) => {
      const dir = dataDir();
      const child = await startChildServer(['--data-dir', dir, '--ollama-host', ollama.url], { PERSONA_MCP_JOBS_THREAD: thread });
      const idle = await TestClient.connect(child.websocketUrl);
      const chatting = await TestClient.connect(child.websocketUrl);
      await chatting.result('persona.switch', { persona_id: 'aria' });
      ollama.setMode('slow');
      ollama.chunkDelayMs = 200;
      try {
        chatting.send({ jsonrpc: '2.0', id: 1, method: 'persona.chat', params: { message: 'a message that must survive shutdown' } });
        await ollama.waitForTurn('a message that must survive shutdown');
        const exited = once(child.process, 'exit');
        const started = Date.now();
        child.process.kill('SIGTERM');
        const [idleClose, chatClose] = await Promise.all([idle.closed, chatting.closed]);
        const [code] = (await exited) as [number | null];
        expect(Date.now() - started).toBeLessThan(5_000);
        expect(code).toBe(0);
        expect(idleClose.code).toBe(1001);
        expect(chatClose.code).toBe(1001);
        // The turn was answered (an error: the server is going away) before the close frame.
        expect(chatting.frames.some((frame) => (frame as { id?: number }).id === 1)).toBe(true);
      } finally {
        ollama.setMode('normal');
      }
      const db = new BetterSqlite3(path.join(dir, 'persona-mcp.db'), { readonly: true });
      const kept = db
        .prepare("SELECT count(*) AS n FROM messages WHERE role = 'user' AND content = 'a message that must survive shutdown'")
        .get() as { n: number };
      db.close();
      expect(kept.n).toBe(1);
    },
  );

  it('exits at once on a second signal', async () => {
    const child = await startChildServer(['--data-dir', dataDir(), '--ollama-host', ollama.url]);
    const client = await TestClient.connect(child.websocketUrl);
    // A client that never answers the close handshake keeps the first shutdown waiting for its grace period.
    client.socket.pause();
    (client.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const exited = once(child.process, 'exit');
    child.process.kill('SIGTERM');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();
    child.process.kill('SIGINT');
    const [code] = (await exited) as [number | null];
    // 130 is the second signal's exit (the first shutdown exits 0 once its 2 s close grace has passed,
    // ~2.3 s here); the time bound only says it did not wait for the 10 s deadline, on a loaded machine.
    expect(code).toBe(130);
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
