/**
 * Resolves once the event loop has handled the I/O already waiting (a reply being written, a request
 * read): the writes that follow a reply (its topic filing, the mood's reaction, the mood sample) wait
 * for it, so the reply's own answer goes out first.
 */
export function afterIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Resolves in the check phase that follows the I/O already waiting, after every callback queued for it
 * so far — by this turn of the event loop and by the promise callbacks it has pending (one `setImmediate`
 * queued once those have all run) — and before the event loop reads new input. The last of a reply's
 * after-reply writes waits for it, so that the write batch commits what the others (each after
 * {@link afterIo}) asked for with it, before the next request is read.
 */
export function afterQueuedIo(): Promise<void> {
  // promise callbacks already pending run first, then ticks; the immediate is queued after all of theirs
  return new Promise((resolve) => queueMicrotask(() => process.nextTick(() => setImmediate(resolve))));
}

/**
 * Resolves after the ticks queued so far and one more, still before the event loop goes on to its I/O and
 * check phase. A turn's answer is written to a WebSocket in the same drain of the microtask queue as the
 * turn returns, into a corked stream uncorked in a tick queued then (`transports/websocket.ts`); work that
 * waits for this runs after that write, and what it in turn asks for after pending I/O ({@link afterIo})
 * runs in the same check phase as if it had not waited. An answer written later (another transport, or a
 * write behind more ticks) is no worse off than without it.
 */
export function afterQueuedTicks(): Promise<void> {
  return new Promise((resolve) => process.nextTick(() => process.nextTick(resolve)));
}
