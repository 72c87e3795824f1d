/**
 * A server for the mood sample crash test (mood-sample-crash.test.ts): the real server in this process, on
 * the settings its argument gives (JSON flags: data directory, fake Ollama, store, jobs thread). It prints
 * its WebSocket URL, then `held` once a reply's after-reply writes have committed with the clearing of its
 * pending record, and from then on runs nothing more (its event loop stopped) until it is killed: the
 * moment a kill -9 a few milliseconds after a chat reply hits, when whatever was not in that commit is lost.
 */
import { writeSync } from 'node:fs';
import { PostgresStore } from '../../src/adapters/postgres/pg-store.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import { startServer } from '../../src/app/app.js';
import { silentLogger } from '../../src/logger.js';
import { testConfig } from '../helpers/server.js';

const flags = JSON.parse(process.argv[2]!) as Record<string, unknown>;
/** Held after this many replies' after-reply commits (1 unless the third argument says). */
let repliesToHold = Number(process.argv[3] ?? 1);

/** Holds the process once the store's `afterReplyWritten` has committed (it is the last of a reply's after-reply writes). */
function holdAfterReplyWritten(prototype: { afterReplyWritten(replyMessageId: number, written?: Promise<unknown>): Promise<void> }): void {
  const written = prototype.afterReplyWritten;
  prototype.afterReplyWritten = async function (this: unknown, replyMessageId: number, settled?: Promise<unknown>) {
    await written.call(this, replyMessageId, settled);
    repliesToHold -= 1;
    if (repliesToHold > 0) return;
    writeSync(1, 'held\n');
    // Nothing runs after this commit: no later batch, no timer, no I/O (a kill -9 at this instant).
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
  };
}
holdAfterReplyWritten(SqliteStore.prototype);
holdAfterReplyWritten(PostgresStore.prototype);

const server = await startServer(testConfig(String(flags.dataDir), flags, String(flags['llm.ollamaHost'])), { logger: silentLogger() });
writeSync(1, `${server.websocketUrl}\n`);
