/**
 * Resolves once the event loop has handled the I/O already waiting (a reply being written, a request
 * read): the writes that follow a reply (its topic filing, the mood's reaction, the mood sample) wait
 * for it, so the reply's own answer goes out first.
 */
export function afterIo(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
