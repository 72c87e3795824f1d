/**
 * WAL checkpoints off the event loop. SQLite's auto-checkpoint runs inside the COMMIT that takes the WAL
 * past `wal_autocheckpoint` pages (1,000 by default): that commit copies ~4 MB of pages back into the
 * database file and fsyncs it, synchronously, on the one thread that serves every request. In the chat
 * bench (10k stored messages, ~50 WAL pages per turn with its jobs) that was a commit of 8–34 ms (p50 13)
 * every ~20 turns, inside a turn or inside a background job the next request waited behind: the turns'
 * p99 (`bench/profile-turn-waits.ts`, its slowest-turns section; bench/README.md, round 10, tail).
 *
 * Here a worker thread with a connection of its own to the same file runs a PASSIVE checkpoint every
 * `intervalMs`: it copies what the WAL holds back into the database (and fsyncs both: ~3.7 ms each on
 * this VM, the floor of any checkpoint) while the main connection goes on reading and writing; a PASSIVE
 * checkpoint takes no lock a writer waits for. The main connection's own auto-checkpoint is raised to
 * `maxWalPages`, the bound of the WAL.
 *
 * The WAL starts again from its beginning only when a write begins with every frame copied back. A
 * server between turns does that after the worker's next checkpoint; one that writes without a pause
 * (the chat bench: a turn every ~15 ms and jobs between) adds frames during every checkpoint, and its
 * WAL grows to `maxWalPages`, where the main connection's own checkpoint — the frames since the worker's
 * last one, and the two fsyncs — lets it start again: one such commit per ~10,000 pages written instead
 * of a commit copying ~1,000 pages per 1,000. Nothing committed is at risk: a checkpoint copies committed
 * frames, from any connection, and a crash at any point leaves the WAL to be replayed at the next open,
 * as before.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { Database } from './database.js';

/** What one checkpoint of the worker did (SQLite's `wal_checkpoint` result). */
export interface CheckpointResult {
  /** Frames in the WAL when it ran. */
  log: number;
  /** Frames copied back into the database file, this checkpoint and earlier ones (of `log`). */
  checkpointed: number;
}

export interface WalCheckpointerOptions {
  /** How often the worker checkpoints. Defaults to 500 ms (~750 pages at the chat bench's pace of ~1,500 a second). */
  intervalMs?: number;
  /**
   * The main connection's own auto-checkpoint, in pages: reached when the server writes without a pause
   * (above) or the worker falls behind.
   * Defaults to 10,000 (~40 MB of WAL at 4 KiB pages).
   */
  maxWalPages?: number;
  /** Called when a timed checkpoint fails (the next one tries again; the bound above still holds). */
  onError: (error: Error) => void;
}

const DEFAULT_INTERVAL_MS = 500;
export const DEFAULT_MAX_WAL_PAGES = 10_000;

/**
 * The worker (CommonJS, evaluated: the same source runs from `dist/` and under the tests' TypeScript
 * loader). A message `'checkpoint'` asks for one now and is answered with its result; `'stop'` closes
 * its connection and lets the thread end.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.path, { timeout: workerData.busyTimeoutMs });
db.pragma('synchronous = NORMAL');
const checkpoint = (isAsked) => {
  try {
    const [result] = db.pragma('wal_checkpoint(PASSIVE)');
    if (isAsked) parentPort.postMessage({ isAsked, result: { log: result.log, checkpointed: result.checkpointed } });
  } catch (error) {
    parentPort.postMessage({ isAsked, error: String(error) });
  }
};
const timer = setInterval(() => checkpoint(false), workerData.intervalMs);
parentPort.on('message', (message) => {
  if (message === 'checkpoint') checkpoint(true);
  else if (message === 'stop') {
    clearInterval(timer);
    db.close();
    parentPort.close();
  }
});
`;

type WorkerMessage = { isAsked: boolean } & ({ result: CheckpointResult } | { error: string });

export class WalCheckpointer {
  private readonly asked: Array<{ resolve: (result: CheckpointResult) => void; reject: (error: Error) => void }> = [];
  private readonly exited: Promise<void>;

  private constructor(
    private readonly worker: Worker,
    onError: (error: Error) => void,
  ) {
    this.exited = new Promise((resolve) => worker.once('exit', () => resolve()));
    worker.on('message', (message: WorkerMessage) => {
      // a timed checkpoint reports only its failure; an asked-for one answers its caller
      const error = 'error' in message ? new Error(`WAL checkpoint failed: ${message.error}`) : null;
      if (!message.isAsked) onError(error!);
      else if (error !== null) this.asked.shift()?.reject(error);
      else if ('result' in message) this.asked.shift()?.resolve(message.result);
    });
    worker.on('error', (error) => {
      for (const waiter of this.asked.splice(0)) waiter.reject(error);
      onError(error);
    });
    // the server's shutdown closes the store (and stops this); an idle timer must not keep it alive
    worker.unref();
  }

  /**
   * Raises `db`'s own auto-checkpoint to `maxWalPages` and starts the worker on the same file.
   * `db` must be a file in WAL mode (`openDatabase`), not `:memory:`.
   */
  static start(db: Database, options: WalCheckpointerOptions): WalCheckpointer {
    db.pragma(`wal_autocheckpoint = ${options.maxWalPages ?? DEFAULT_MAX_WAL_PAGES}`);
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        driver: createRequire(import.meta.url).resolve('better-sqlite3'),
        path: db.name,
        busyTimeoutMs: db.pragma('busy_timeout', { simple: true }) as number,
        intervalMs: options.intervalMs ?? DEFAULT_INTERVAL_MS,
      },
    });
    return new WalCheckpointer(worker, options.onError);
  }

  /** Runs a checkpoint now, in the worker; resolves with what it did. */
  checkpoint(): Promise<CheckpointResult> {
    return new Promise((resolve, reject) => {
      this.asked.push({ resolve, reject });
      this.worker.postMessage('checkpoint');
    });
  }

  /** Closes the worker's connection and waits for the thread to end (before the main connection closes: the last one to close checkpoints what is left). */
  async stop(): Promise<void> {
    // referenced again while it ends: a process with nothing else to do would otherwise exit (code 0)
    // before the caller's next step — a CLI command closing the store before `process.exit(1)`
    this.worker.ref();
    this.worker.postMessage('stop');
    await this.exited;
  }
}
