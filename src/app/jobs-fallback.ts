/**
 * When the jobs thread is lost (`jobs-thread.ts` calls `onLost`), this thread runs the jobs itself: its own
 * queue starts. That start writes (the take-back of dead claims, the sweep of old completed jobs), so it
 * can fail too — a full disk, a database file made read-only, a lock held past the busy timeout. It runs in
 * the worker's `exit` event, where a throw ends the process; instead the server keeps serving (chat,
 * memory search, everything but the background jobs), and the log says what stopped and what to do. No job
 * is lost: they wait in the durable queue for the next start.
 */
import type { Logger } from 'pino';
import type { JobQueue } from '../ports/jobs.js';

/** Starts `queue` on this thread; when it cannot start, logs why and what to do, and returns. */
export function runJobsHere(queue: Pick<JobQueue, 'start'>, logger: Pick<Logger, 'error'>): void {
  try {
    queue.start();
  } catch (error) {
    logger.error(
      { err: error },
      'the jobs thread is lost and the job queue could not start on the main thread either: the server keeps serving, ' +
        'but memories, relationships and summaries are not formed (the jobs wait in the queue); fix the cause above, then restart the server',
    );
  }
}
