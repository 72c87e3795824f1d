/**
 * A server's job worker for the relationship crash test (relationship-job-crash.test.ts), on the store its
 * arguments name (`sqlite FILE` or `postgres URL SCHEMA`): runs the due relationship jobs (claimed together:
 * the batch handler, or the job's handler for a lone one), prints `held` once they have written their effect,
 * and holds them there until it is killed — after the effect,
 * before the completion: the window a kill -9 right after a chat reply hits (on SQLite the completion waits
 * for the queue's next claim, up to a poll; on PostgreSQL the moment before its UPDATE).
 */
import { PostgresDatabase } from '../../src/adapters/postgres/database.js';
import { PostgresJobQueue } from '../../src/adapters/postgres/pg-job-queue.js';
import { PostgresSocialStore } from '../../src/adapters/postgres/pg-social-store.js';
import { PostgresStore } from '../../src/adapters/postgres/pg-store.js';
import { SqliteJobQueue } from '../../src/adapters/sqlite/job-queue.js';
import { SqliteSocialStore } from '../../src/adapters/sqlite/social-store.js';
import { SqliteStore } from '../../src/adapters/sqlite/sqlite-store.js';
import type { JobQueue } from '../../src/ports/jobs.js';
import { holdingAfterEffect, registerRelationshipJob } from '../helpers/relationship-jobs.js';

const args = process.argv.slice(2);
const announce = (): void => void process.stdout.write('held\n');
// A lease of an hour: only the restart's take-back of a dead process's jobs runs them again within the test.
const options = { pollMs: 10, leaseMs: 3_600_000 };
let queue: JobQueue;
if (args[0] === 'postgres') {
  const db = await PostgresDatabase.open(args[1]!, { schema: args[2]!, migrate: false, poolSize: 2 });
  queue = new PostgresJobQueue(db, options);
  await registerRelationshipJob(new PostgresStore(db), new PostgresSocialStore(db), holdingAfterEffect(queue, announce));
} else {
  const store = SqliteStore.open(args[1]!);
  queue = new SqliteJobQueue(store.database, options);
  await registerRelationshipJob(store, new SqliteSocialStore(store.database), holdingAfterEffect(queue, announce));
}
queue.start();
setInterval(() => undefined, 1_000);
