/**
 * A job worker for the crash test (src/adapters/sqlite/job-queue.test.ts): opens the database given
 * as argv[2], claims the next `crash.test` job with a short lease (or argv[3] ms), says so on stdout, and
 * hangs in the handler until it is killed.
 */
import { openDatabase } from '../../src/adapters/sqlite/database.js';
import { SqliteJobQueue } from '../../src/adapters/sqlite/job-queue.js';

const db = openDatabase(process.argv[2]!);
const queue = new SqliteJobQueue(db, { leaseMs: Number(process.argv[3] ?? 400), pollMs: 20 });
queue.register('crash.test', async (job) => {
  process.stdout.write(`claimed ${job.id} attempt ${job.attempts}\n`);
  await new Promise(() => undefined);
});
queue.start();
setInterval(() => undefined, 1_000);
