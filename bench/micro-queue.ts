/**
 * `npx tsx bench/micro-queue.ts [turns] [rounds] [--against /x/dist]`: the CPU time (process.cpuUsage)
 * and the commits the durable job queue itself costs per chat turn, in the compiled server (dist/, or
 * another build's with `PERSONA_MICRO_DIST=/x/dist`): a turn's jobs (memory formation and the relationship
 * update, two jobs enqueued in one turn of the event loop, handlers that only yield once) enqueued, run
 * and drained, on a real SQLite file holding 3,000 completed jobs. With `--against`, the queue of another
 * build (its `dist/`) runs the same turns in the same process, alternating round by round, each on its own
 * file: the way to compare two builds' queues on a machine whose speed varies between runs.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

type QueueModule = typeof import('../src/adapters/sqlite/job-queue.js');
type DatabaseModule = typeof import('../src/adapters/sqlite/database.js');

const argv = process.argv.slice(2);
const againstAt = argv.indexOf('--against');
const against = againstAt >= 0 ? argv.splice(againstAt, 2)[1] : undefined;
const turns = Number(argv[0] ?? 500);
const rounds = Number(argv[1] ?? 5);

interface Build {
  name: string;
  queue: QueueModule;
  database: DatabaseModule;
}

async function load(name: string, dist: string): Promise<Build> {
  // Both builds compiled alike (tsx's on-the-fly transform of src/ ran ~10 % slower than dist/ here).
  const from = (file: string): string => pathToFileURL(path.join(path.resolve(dist), `${file}.js`)).href;
  return { name, queue: (await import(from('adapters/sqlite/job-queue'))) as QueueModule, database: (await import(from('adapters/sqlite/database'))) as DatabaseModule };
}

/** A queue on a fresh file with 3,000 completed jobs kept, as after a few days of chats. */
function open(build: Build, dir: string): { queue: InstanceType<QueueModule['SqliteJobQueue']>; commits: () => number; close(): Promise<void> } {
  const db = build.database.openDatabase(path.join(dir, `${build.name}.db`));
  // Write transactions the queue commits (each of its writes is one `db.transaction(...).immediate()`).
  let commits = 0;
  const transaction = db.transaction.bind(db);
  db.transaction = ((work: (...args: unknown[]) => unknown) => {
    const wrapped = transaction(work);
    return Object.assign((...args: unknown[]) => wrapped(...args), {
      immediate: (...args: unknown[]) => {
        commits++;
        return wrapped.immediate(...args);
      },
    });
  }) as unknown as typeof db.transaction;
  const insert = db.prepare("INSERT INTO jobs (type, payload, status, attempts, max_attempts, run_after, created_at, updated_at) VALUES (?, '{}', 'completed', 1, 5, ?, ?, ?)");
  const now = Date.now();
  db.transaction(() => {
    for (let i = 0; i < 3_000; i++) insert.run(i % 2 === 0 ? 'memory.form' : 'social.relationship', now - i, now - i, now - i);
  })();
  const queue = new build.queue.SqliteJobQueue(db);
  const yieldOnce = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  queue.register('memory.form', yieldOnce);
  queue.register('social.relationship', yieldOnce);
  queue.start();
  return {
    queue,
    commits: () => commits,
    close: async () => {
      await queue.stop();
      db.close();
    },
  };
}

const builds = [await load('this', process.env.PERSONA_MICRO_DIST ?? path.join(import.meta.dirname, '..', 'dist')), ...(against === undefined ? [] : [await load('against', against)])];
const dir = mkdtempSync(path.join(os.tmpdir(), 'micro-queue-'));
try {
  const queues = builds.map((build) => ({ build, ...open(build, dir) }));
  const turn = async (queue: (typeof queues)[number]['queue'], index: number): Promise<void> => {
    await Promise.all([queue.enqueue('memory.form', { turn: index }), queue.enqueue('social.relationship', { turn: index })]);
    await queue.drain(10_000);
  };
  for (const { queue } of queues) for (let index = 0; index < 100; index++) await turn(queue, index); // warm-up
  for (let round = 1; round <= rounds; round++) {
    const line: string[] = [];
    for (const { build, queue, commits } of round % 2 === 0 ? [...queues].reverse() : queues) {
      const since = process.cpuUsage();
      const committed = commits();
      for (let index = 0; index < turns; index++) await turn(queue, index);
      const used = process.cpuUsage(since);
      line.push(`${build.name} ${Math.round((used.user + used.system) / turns)} µs, ${((commits() - committed) / turns).toFixed(2)} commits`);
    }
    process.stdout.write(`round ${round}: per turn (2 jobs enqueued, run, drained): ${line.join('; ')}\n`);
  }
  for (const { close } of queues) await close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
