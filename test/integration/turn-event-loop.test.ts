/**
 * How a chat turn and the work around it share the event loop.
 *
 * A chat reply's after-reply writes (its topic filing, the mood's reaction, the job enqueues and the
 * clearing of its pending record) are committed in the check phase right after the reply, before the
 * event loop reads new input: the next request, which a client sends as soon as it has the reply, never
 * finds them uncommitted (it used to, and ran before the commit, which then landed inside it).
 *
 * A turn counts as interactive work (background jobs give way to it: `JobQueue.yieldTo`) until its model's
 * first words, and again from the end of the reply until it is stored; while the rest of the reply
 * generates, background work runs.
 */
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let ollama: FakeOllama;
let server: TestServer;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

describe('the writes after a reply', () => {
  it('are committed before the event loop reads the input that follows the reply', async () => {
    const core = server.server;
    const binding = { id: 'after_reply_commit', userId: null };
    // A loopback connection stands for the client's next request: written the moment the reply is
    // returned, it is read in the event loop's next poll for I/O.
    const listener = net.createServer();
    listener.listen(0, '127.0.0.1');
    await once(listener, 'listening');
    const client = net.connect((listener.address() as AddressInfo).port, '127.0.0.1');
    const [accepted] = (await once(listener, 'connection')) as [net.Socket];
    try {
      for (let turn = 0; turn < 3; turn++) {
        // what the store holds when the next input is read (a synchronous read, at that moment)
        const seen = new Promise<unknown>((resolve) => accepted.once('data', () => resolve(core.store.pendingAfterReplies?.())));
        const replied = core.services.chat
          .runTurn(binding, { message: `Thank you, that was lovely (${turn})`, personaId: 'aria' }, { signal: new AbortController().signal })
          .then((result) => {
            client.write('next');
            return result;
          });
        const [pending, result] = await Promise.all([seen, replied]);
        expect(result.reply.length).toBeGreaterThan(0);
        expect(pending).toEqual([]);
      }
    } finally {
      client.destroy();
      accepted.destroy();
      listener.close();
    }
  });
});

describe('a turn waiting for its model', () => {
  it('counts as interactive until the first words arrive, and not while the rest generates', async () => {
    const core = server.server;
    const turns = core.services.turns;
    const binding = { id: 'first_words', userId: null };
    const message = 'Tell me about the harbour at dawn';
    ollama.setMode('hang');
    ollama.setReply('The harbour wakes slowly');
    const inFlightAtFirstWords: number[] = [];
    const replied = core.services.chat.runTurn(
      binding,
      { message, personaId: 'aria' },
      { signal: new AbortController().signal, onDelta: () => inFlightAtFirstWords.push(turns.turnsInFlight) },
    );
    try {
      await ollama.waitForTurn(message);
      // asked, no answer yet (a queue slot, a model evaluating the prompt): background work gives way
      expect(turns.turnsInFlight).toBe(1);
      ollama.chunkDelayMs = 20;
      ollama.setMode('slow');
      ollama.releaseHung();
      const result = await replied;
      expect(result.reply).toContain('harbour');
      // from the first words on, the turn does not hold background work back while the rest streams in
      expect(inFlightAtFirstWords.length).toBeGreaterThan(1);
      expect(inFlightAtFirstWords.every((count) => count === 0)).toBe(true);
      expect(turns.turnsInFlight).toBe(0);
    } finally {
      ollama.setMode('normal');
      ollama.releaseHung();
    }
  });
});

