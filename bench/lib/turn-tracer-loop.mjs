/**
 * Loaded into the server's event-loop thread (by `turn-tracer.mjs`) to see what a chat turn waits for:
 * writes, when the server exits, to PERSONA_TRACE_DIR
 *
 * - `TRACE.<pid>.cpuprofile`: a V8 CPU profile sampled every PERSONA_TRACE_SAMPLE_US µs (default 100),
 * - `TRACE.<pid>.json`: on the same clock (the profile's: monotonic µs), each turn's stages (its stopwatch's
 *   laps and each contributor's own start and end), each background job's run, each write-batch commit,
 *   each wait of the social contributor for the previous turn's writes (`EmotionService.current`,
 *   `TopicThreadService.filed`: whether something was pending, how long it took), each model call
 *   through the chat queue (task, slots in use when it came, when it got its first event), each garbage
 *   collection, each outermost SQLite transaction (whether a WAL checkpoint ran inside it), and at each
 *   turn's start and laps the event loop's runqueue wait so far (time descheduled by other processes).
 *
 * It patches the compiled classes' prototypes (the server's own modules, found next to its entry point)
 * and changes nothing they do. `npx tsx bench/profile-turn-waits.ts DIR` reads the two files.
 */
import { Buffer } from 'node:buffer';
import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Session } from 'node:inspector';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const dir = process.env.PERSONA_TRACE_DIR ?? '.';
const sampleUs = Number(process.env.PERSONA_TRACE_SAMPLE_US ?? 100);
const dist = path.resolve(path.dirname(process.argv[1] ?? '.'), '..');
const load = (file) => import(pathToFileURL(path.join(dist, file)).href);
const now = () => Number(process.hrtime.bigint() / 1000n);

const trace = { turns: [], jobs: [], flushes: [], waits: [], llm: [], commits: [], gc: [] };

/** The event loop's thread's time so far waiting, runnable, for a CPU other processes held (µs). */
const runqueueWaitUs = () => Number(readFileSync('/proc/thread-self/schedstat', 'utf8').split(' ')[1]) / 1000;

// Garbage collections, on the profile's clock (the performance timeline's ms from its own origin).
const performanceOffsetUs = now() - performance.now() * 1000;
const GC_KINDS = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const startedAt = performanceOffsetUs + entry.startTime * 1000;
    trace.gc.push({ kind: GC_KINDS[entry.detail?.kind] ?? String(entry.detail?.kind), startedAt, endedAt: startedAt + entry.duration * 1000 });
  }
}).observe({ entryTypes: ['gc'] });

/**
 * Each outermost SQLite transaction: when it ran, whether it checkpointed the WAL (the WAL index's count
 * of frames copied back into the database grew: SQLite's auto-checkpoint runs inside the COMMIT that
 * takes the WAL past `wal_autocheckpoint` pages), and for long ones who asked for it.
 * PERSONA_TRACE_WAL_AUTOCHECKPOINT=N sets `wal_autocheckpoint` on every connection (0: off), to compare.
 */
const BetterSqlite3 = createRequire(path.join(dist, 'app', 'app.js'))('better-sqlite3');
const autocheckpoint = process.env.PERSONA_TRACE_WAL_AUTOCHECKPOINT;
const pragma = BetterSqlite3.prototype.pragma;
BetterSqlite3.prototype.pragma = function (source, options) {
  const result = pragma.call(this, source, options);
  if (autocheckpoint !== undefined && /^journal_mode\s*=\s*wal$/i.test(source)) pragma.call(this, `wal_autocheckpoint = ${Number(autocheckpoint)}`);
  return result;
};
/** The WAL index's last valid frame (`mxFrame`) and frames copied back (`nBackfill`); null without a WAL. */
function walState(db) {
  if (db.memory || !db.open) return null;
  try {
    const fd = openSync(`${db.name}-shm`, 'r');
    try {
      const header = Buffer.alloc(100);
      if (readSync(fd, header, 0, 100, 0) < 100) return null;
      return { frames: header.readUInt32LE(16), backfilled: header.readUInt32LE(96) };
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}
const transaction = BetterSqlite3.prototype.transaction;
BetterSqlite3.prototype.transaction = function (fn) {
  const original = transaction.call(this, fn);
  const timed = (run) =>
    function (...args) {
      const db = original.database;
      if (db.inTransaction) return run.apply(this, args);
      const before = walState(db);
      const entry = { startedAt: now(), endedAt: 0, checkpointed: 0, frames: 0, asker: null };
      try {
        return run.apply(this, args);
      } finally {
        entry.endedAt = now();
        const after = walState(db);
        if (before !== null && after !== null) {
          entry.frames = after.frames;
          // a checkpoint inside this commit copied frames back (nBackfill grew); a restarted WAL starts both at 0
          if (after.backfilled > before.backfilled) entry.checkpointed = after.backfilled - before.backfilled;
        }
        if (entry.endedAt - entry.startedAt > 2000 || entry.checkpointed > 0) entry.asker = askerOf(new Error().stack, 'transaction');
        trace.commits.push(entry);
      }
    };
  const wrapped = timed(original);
  for (const kind of ['default', 'deferred', 'immediate', 'exclusive']) Object.defineProperty(wrapped, kind, { value: timed(original[kind]) });
  return wrapped;
};
/** The first three frames of the server's code in a stack (the store's own wrappers and `skip`'s left out). */
function askerOf(stack, skip) {
  const frames = (stack ?? '').split('\n').slice(2).map((line) => line.trim().replace(/^at /, ''));
  const own = frames.filter((frame) => frame.includes('/dist/') && !frame.includes(skip) && !/transactions\.js|write-batch\.js|\.(read|write) /.test(frame));
  return own.slice(0, 3).map((frame) => frame.replace(/\(?file:\/\/.*\/dist\//, '').replace(/:\d+\)?$/, '')).join(' < ') || '?';
}

const { TurnStopwatch } = await load('services/turn-stages.js');
const lap = TurnStopwatch.prototype.lap;
const time = TurnStopwatch.prototype.time;
const report = TurnStopwatch.prototype.report;
const record = (watch) => (watch.__trace ??= { startedAt: now(), waitAtStart: runqueueWaitUs(), laps: [], own: [] });
TurnStopwatch.prototype.lap = function (stage) {
  // [stage, when it ended, the loop's runqueue wait so far]
  record(this).laps.push([stage, now(), runqueueWaitUs()]);
  return lap.call(this, stage);
};
TurnStopwatch.prototype.time = async function (stage, work) {
  const entry = [stage, now(), 0];
  record(this).own.push(entry);
  try {
    return await time.call(this, stage, work);
  } finally {
    entry[2] = now();
  }
};
TurnStopwatch.prototype.report = function () {
  const traced = record(this);
  if (traced.laps.some(([stage]) => stage === 'llm')) trace.turns.push(traced);
  return report.call(this);
};
// The stopwatch starts at construction: the first lap's stage began then.
const { TurnRunner } = await load('services/turn-runner.js');
const stopwatch = TurnRunner.prototype.stopwatch;
TurnRunner.prototype.stopwatch = function () {
  const watch = stopwatch.call(this);
  record(watch);
  return watch;
};

const { SqliteJobQueue } = await load('adapters/sqlite/job-queue.js');
// PERSONA_TRACE_NO_JOBS=1: background jobs never start (they give way to a turn that never ends), to compare.
if (process.env.PERSONA_TRACE_NO_JOBS === '1') {
  const yieldTo = SqliteJobQueue.prototype.yieldTo;
  SqliteJobQueue.prototype.yieldTo = function () {
    return yieldTo.call(this, () => true, 1e12);
  };
}
const register = SqliteJobQueue.prototype.register;
SqliteJobQueue.prototype.register = function (type, handler, batching) {
  const timed = (run, size) => async (...args) => {
    const entry = { type, n: size(args[0]), startedAt: now(), endedAt: 0 };
    trace.jobs.push(entry);
    try {
      return await run(...args);
    } finally {
      entry.endedAt = now();
    }
  };
  return register.call(
    this,
    type,
    timed(handler, () => 1),
    batching === undefined ? undefined : { ...batching, handler: timed(batching.handler, (batch) => batch.length) },
  );
};

const { WriteBatch } = await load('adapters/sqlite/write-batch.js');
const flush = WriteBatch.prototype.flush;
const defer = WriteBatch.prototype.defer;
/** Who asked for each write waiting in a batch: the first frame of the server's code above the batch. */
const askers = new WeakMap();
WriteBatch.prototype.defer = function (work) {
  const frames = (new Error().stack ?? '').split('\n').slice(2).map((line) => line.trim().replace(/^at /, ''));
  const asker = frames.find((frame) => frame.includes('/dist/') && !frame.includes('write-batch.js')) ?? frames[0] ?? '?';
  const list = askers.get(this) ?? [];
  list.push(asker.replace(/\(?file:\/\/.*\/dist\//, '').replace(/:\d+\)?$/, ''));
  askers.set(this, list);
  return defer.call(this, work);
};
WriteBatch.prototype.flush = function () {
  const entry = { n: this.size, writes: askers.get(this) ?? [], startedAt: now(), endedAt: 0 };
  askers.set(this, []);
  try {
    return flush.call(this);
  } finally {
    entry.endedAt = now();
    if (entry.n > 0) trace.flushes.push(entry);
  }
};

const { EmotionService } = await load('services/social/emotion-service.js');
const current = EmotionService.prototype.current;
EmotionService.prototype.current = async function (persona) {
  // what a read waits for: the change not yet decided (one writer, round 9), else the change being saved
  const pending = this.deciding instanceof Map && this.options.sharedStore !== true ? this.deciding.has(persona.id) : this.saving.has(persona.id);
  const entry = { what: 'mood', pending, startedAt: now(), endedAt: 0 };
  trace.waits.push(entry);
  try {
    return await current.call(this, persona);
  } finally {
    entry.endedAt = now();
  }
};
const { TopicThreadService } = await load('services/social/topic-thread-service.js');
const filed = TopicThreadService.prototype.filed;
TopicThreadService.prototype.filed = async function (conversationId) {
  const entry = { what: 'filed', pending: this.queues.has(conversationId), startedAt: now(), endedAt: 0 };
  trace.waits.push(entry);
  try {
    return await filed.call(this, conversationId);
  } finally {
    entry.endedAt = now();
  }
};

const { QueuedLlmProvider } = await load('adapters/llm-queue/queued-provider.js');
const chat = QueuedLlmProvider.prototype.chat;
QueuedLlmProvider.prototype.chat = function (request, signal) {
  const entry = { task: request.task ?? null, priority: request.priority ?? null, running: this.running, queued: this.waiters.length, startedAt: now(), firstAt: 0, endedAt: 0 };
  trace.llm.push(entry);
  const inner = chat.call(this, request, signal);
  return (async function* () {
    try {
      for await (const event of inner) {
        if (entry.firstAt === 0) entry.firstAt = now();
        yield event;
      }
    } finally {
      entry.endedAt = now();
    }
  })();
};

const session = new Session();
session.connect();
session.post('Profiler.enable');
session.post('Profiler.setSamplingInterval', { interval: sampleUs });
session.post('Profiler.start');
process.on('exit', () => {
  // A session on the main thread answers synchronously, so this runs before the process ends.
  session.post('Profiler.stop', (error, result) => {
    if (error) process.stderr.write(`turn trace's profile not written: ${error.message}\n`);
    else writeFileSync(path.join(dir, `TRACE.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
  writeFileSync(path.join(dir, `TRACE.${process.pid}.json`), JSON.stringify(trace));
});
