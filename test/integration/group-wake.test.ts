/**
 * A group's runner hears every wake, even one that comes while it is not waiting between turns: an
 * interjection or a pause and resume that arrive while the previous turn's observers still run must not
 * leave the group waiting out its whole turn delay (10 minutes here). And a server stopping while a wake
 * is remembered still ends at once, leaving the group `running` in the store for the next start.
 *
 * The previous turn's observers are held open by an observer of group turns that waits for the test to
 * let it go (the runner waits for a turn's observers before choosing the next speaker).
 */
import { afterEach, beforeAll, afterAll, describe, expect, it } from 'vitest';
import type { CompletedTurn, TurnObserver } from '../../src/services/turn-hooks.js';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import type { TestClient } from '../helpers/ws-client.js';

/** Longer than any test run: a group that waits it out fails the test by its timeout. */
const TURN_DELAY_MS = 600_000;

/** Holds every group turn's observers until `release`; `entered` resolves when the first turn is held. */
class HeldObserver implements TurnObserver {
  readonly name = 'held-for-test';
  readonly conversationKinds = ['personas'] as const;
  private releaseAll: () => void = () => {};
  private readonly released = new Promise<void>((resolve) => (this.releaseAll = resolve));
  private enter: (turn: CompletedTurn) => void = () => {};
  readonly entered = new Promise<CompletedTurn>((resolve) => (this.enter = resolve));

  async turnCompleted(turn: CompletedTurn): Promise<void> {
    this.enter(turn);
    await this.released;
  }

  release(): void {
    this.releaseAll();
  }
}

let ollama: FakeOllama;
let server: TestServer | null = null;
let held: HeldObserver | null = null;

beforeAll(async () => {
  ollama = await startFakeOllama();
});
afterAll(async () => {
  await ollama.close();
});
afterEach(async () => {
  held?.release();
  await server?.cleanup();
  server = null;
});

async function start(dataDir?: string): Promise<{ client: TestClient; observer: HeldObserver }> {
  server = await startTestServer({ ollamaUrl: ollama.url, ...(dataDir ? { dataDir } : {}), flags: { 'social.groupTurnDelayMs': TURN_DELAY_MS } });
  held = new HeldObserver();
  server.server.services.turns.addObserver(held);
  return { client: await server.connect(), observer: held };
}

/** Reads frames until the answer to `id`, keeping the notifications. */
async function call(client: TestClient, notes: any[], method: string, params: Record<string, unknown>): Promise<any> {
  const id = `wake-${Math.random()}`;
  client.send({ jsonrpc: '2.0', id, method, params });
  for (;;) {
    const frame = await client.next(20_000);
    if (frame.id === id) {
      if (frame.error) throw new Error(`${method}: ${JSON.stringify(frame.error)}`);
      return frame.result;
    }
    notes.push(frame);
  }
}

const replies = (notes: any[]): any[] => notes.filter((frame) => frame.method === 'conversation.turn' && frame.params.message.role === 'assistant');

async function untilReplies(client: TestClient, notes: any[], count: number): Promise<void> {
  while (replies(notes).length < count) notes.push(await client.next(20_000));
}

describe('group wake while a turn is still being observed', () => {
  it('an interjection during the previous turn\'s observers starts the next turn without the turn delay', async () => {
    const { client, observer } = await start();
    const notes: any[] = [];
    const { conversation_id } = await call(client, notes, 'conversation.start', { personas: ['aria', 'kira'], topic: 'maps', subscribe: true });
    await observer.entered;

    await call(client, notes, 'conversation.interject', { conversation_id, message: 'Kira, any old sea charts?' });
    observer.release();
    await untilReplies(client, notes, 2);
    // the second turn was chosen hearing the interjection
    const second = replies(notes)[1].params.message;
    const asked = ollama.requests.filter((request) => request.body.messages?.some((message) => message.content.includes('any old sea charts')));
    expect(asked.length).toBeGreaterThan(0);
    expect(second.content.length).toBeGreaterThan(0);
  });

  it('a pause and a resume during the previous turn\'s observers run the group on at once', async () => {
    const { client, observer } = await start();
    const notes: any[] = [];
    const { conversation_id } = await call(client, notes, 'conversation.start', { personas: ['aria', 'kira'], topic: 'islands', subscribe: true });
    await observer.entered;

    expect((await call(client, notes, 'conversation.pause', { conversation_id })).status).toBe('paused');
    expect((await call(client, notes, 'conversation.resume', { conversation_id })).status).toBe('running');
    observer.release();
    await untilReplies(client, notes, 2);
    expect((await call(client, notes, 'conversation.group_status', { conversation_id })).status).toBe('running');
  });

  it('a server stopping with a wake remembered ends at once and the group runs again on the next start', async () => {
    const first = await start();
    const notes: any[] = [];
    const { conversation_id } = await call(first.client, notes, 'conversation.start', { personas: ['aria', 'kira'], topic: 'rivers', subscribe: true });
    await first.observer.entered;
    await call(first.client, notes, 'conversation.interject', { conversation_id, message: 'What about the delta?' });

    const running = server!;
    const dataDir = running.dataDir;
    const stopping = running.stop();
    first.observer.release();
    await stopping;
    // no turn after the stop: the remembered wake did not start one
    expect(replies(notes)).toHaveLength(1);

    const second = await start(dataDir);
    const again: any[] = [];
    await call(second.client, again, 'conversation.subscribe', { conversation_id });
    const status = await call(second.client, again, 'conversation.group_status', { conversation_id });
    expect(status.status).toBe('running');
    await second.observer.entered;
    second.observer.release();
  });
});
