/**
 * Loaded into the server under test (`node --import`, through PERSONA_BENCH_NODE_FLAGS) to see what a chat
 * turn waits for: writes, when the server exits, to PERSONA_TRACE_DIR
 *
 * - `TRACE.<pid>.cpuprofile`: a V8 CPU profile sampled every PERSONA_TRACE_SAMPLE_US µs (default 100),
 * - `TRACE.<pid>.json`: on the same clock (the profile's: monotonic µs), each turn's stages (its stopwatch's
 *   laps and each contributor's own start and end), each background job's run, each write-batch commit,
 *   each wait of the social contributor for the previous turn's writes (`EmotionService.current`,
 *   `TopicThreadService.filed`: whether something was pending, how long it took) and each model call
 *   through the chat queue (task, slots in use when it came, when it got its first event).
 *
 * It patches the compiled classes' prototypes (the server's own modules, found next to its entry point)
 * and changes nothing they do. `npx tsx bench/profile-turn-waits.ts DIR` reads the two files.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const dir = process.env.PERSONA_TRACE_DIR ?? '.';
const sampleUs = Number(process.env.PERSONA_TRACE_SAMPLE_US ?? 100);
const dist = path.resolve(path.dirname(process.argv[1] ?? '.'), '..');
const load = (file) => import(pathToFileURL(path.join(dist, file)).href);
const now = () => Number(process.hrtime.bigint() / 1000n);

const trace = { turns: [], jobs: [], flushes: [], waits: [], llm: [] };

const { TurnStopwatch } = await load('services/turn-stages.js');
const lap = TurnStopwatch.prototype.lap;
const time = TurnStopwatch.prototype.time;
const report = TurnStopwatch.prototype.report;
const record = (watch) => (watch.__trace ??= { startedAt: now(), laps: [], own: [] });
TurnStopwatch.prototype.lap = function (stage) {
  record(this).laps.push([stage, now()]);
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
