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
