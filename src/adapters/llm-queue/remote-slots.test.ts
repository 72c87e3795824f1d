/**
 * The slot port's messages, both ends in this thread (a MessageChannel): what the worker's side sees of
 * the main thread's queue. The worker thread itself is in test/integration/llm-slots-across-threads.test.ts.
 */
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { AppError } from '../../domain/errors.js';
import type { SlotLeaseRequest } from '../../ports/llm-slot-leases.js';
import { closedPortUrl } from '../../../test/helpers/llm-events.js';
import { OllamaProvider } from '../ollama/ollama-provider.js';
import { QueuedLlmProvider } from './queued-provider.js';
import { RemoteSlots } from './remote-slots.js';
import { serveSlotLeases, type SlotLeaseServer } from './slot-lease-server.js';

const BACKGROUND: SlotLeaseRequest = { isBackground: true, isRequeued: false, isPreemptible: true };
const INTERACTIVE: SlotLeaseRequest = { isBackground: false, isRequeued: false, isPreemptible: false };
const notPreempted = (): void => {
  throw new Error('not expected to be preempted');
};

let server: SlotLeaseServer;
afterEach(() => server.close());

/** The main thread's queue (its model is never called: leases only) and a worker's side of the port to it. */
async function connected(options: { maxQueued?: number } = {}): Promise<{ main: QueuedLlmProvider; remote: RemoteSlots }> {
  const main = new QueuedLlmProvider(new OllamaProvider({ baseUrl: await closedPortUrl() }), options);
  const { port1, port2 } = new MessageChannel();
  server = serveSlotLeases(port1, (backend) => (backend === 'ollama' ? main : undefined));
  return { main, remote: new RemoteSlots(port2) };
}

async function refusal(lease: Promise<unknown>): Promise<AppError> {
  const error = await lease.then(() => null, (caught: unknown) => caught);
  expect(error).toBeInstanceOf(AppError);
  return error as AppError;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setImmediate(resolve));
}

describe('RemoteSlots and serveSlotLeases', () => {
  it("hands a chat the worker's background slot and tells the worker to abort, which releases nothing twice", async () => {
    const { main, remote } = await connected();
    const reasons: AppError[] = [];
    const background = await remote.of('ollama').lease(BACKGROUND, new AbortController().signal, (reason) => reasons.push(reason));

    const chat = await main.lease(INTERACTIVE, new AbortController().signal, notPreempted);
    await until(() => reasons.length === 1);

    expect(reasons[0]!.kind).toBe('cancelled');
    expect(background.isPreempted).toBe(true);
    background.release();
    await new Promise((resolve) => setImmediate(resolve));
    expect(main.stats()).toMatchObject({ running: 1, queued: 0, preempted: 1 }); // the chat's
    chat.release();
    expect(main.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it("refuses the worker with the main queue's own llm_busy when its waiting line is full", async () => {
    const { main, remote } = await connected({ maxQueued: 0 });
    const held = await main.lease(BACKGROUND, new AbortController().signal, () => {});

    const error = await refusal(remote.of('ollama').lease(BACKGROUND, new AbortController().signal, notPreempted));

    expect(error.kind).toBe('llm_busy');
    held.release();
  });

  it('takes a wait the worker gave up off the main queue', async () => {
    const { main, remote } = await connected();
    const held = await main.lease(BACKGROUND, new AbortController().signal, () => {});
    const controller = new AbortController();
    const waiting = remote.of('ollama').lease(BACKGROUND, controller.signal, notPreempted);
    await until(() => main.stats().queued === 1);

    controller.abort();

    expect((await refusal(waiting)).kind).toBe('cancelled');
    await until(() => main.stats().queued === 0);
    held.release();
    expect(main.stats()).toMatchObject({ running: 0, queued: 0 });
  });

  it("gives back the worker's slots and fails its waits llm_unavailable when the main side closes", async () => {
    const { main, remote } = await connected();
    await remote.of('ollama').lease(BACKGROUND, new AbortController().signal, () => {});
    const waiting = remote.of('ollama').lease(BACKGROUND, new AbortController().signal, notPreempted);
    await until(() => main.stats().queued === 1);

    server.close();

    expect((await refusal(waiting)).kind).toBe('llm_unavailable');
    expect(main.stats()).toMatchObject({ running: 0, queued: 0 });
    expect((await refusal(remote.of('ollama').lease(BACKGROUND, new AbortController().signal, notPreempted))).kind).toBe('llm_unavailable');
  });

  it('refuses a backend the main thread does not have', async () => {
    const { remote } = await connected();

    const error = await refusal(remote.of('vllm').lease(BACKGROUND, new AbortController().signal, notPreempted));

    expect(error.kind).toBe('llm_unavailable');
  });
});
