/**
 * The jobs thread's entry (`jobs-thread.ts` starts it): builds a core of its own on its own connection
 * (`isJobsThread`: no retention, media sweeps, backups, seeding or WAL checkpointer; only the job queue
 * runs), then lowers this thread's scheduling priority, and follows what the main thread tells it, in order.
 */
import { readlinkSync } from 'node:fs';
import os from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { RemoteSlots } from '../adapters/llm-queue/remote-slots.js';
import type { DomainEvent } from '../ports/events.js';
import { createCore, type Core } from './app.js';
import type { FromJobsThread, JobsThreadData, ToJobsThread } from './jobs-thread.js';

/** The lowest priority (nice 19): the jobs run when the event loop's thread leaves the core idle. */
const JOBS_THREAD_NICE = 19;

const port = parentPort!;
const { config, slots } = workerData as JobsThreadData;
// Its model calls take the main thread's LLM slots, so a chat there goes first (offthread need 3).
const remoteSlots = new RemoteSlots(slots);
let isCommitPosted = false;

/** One `committed` for the commits of a stretch of work (a job's writes and its completion), posted after it. */
function committedSoon(): void {
  if (isCommitPosted) return;
  isCommitPosted = true;
  setImmediate(() => {
    isCommitPosted = false;
    port.postMessage({ type: 'committed' } satisfies FromJobsThread);
  });
}

/** Builds this thread's core once the main thread says `start` (its store migrated, its personas seeded). */
function build(): Promise<Core> {
  const ready = createCore(config, { isJobsThread: true, llmLeases: (backend) => remoteSlots.of(backend), onCommit: committedSoon });
  ready.then(
    (core) => {
      // Lowered once the core is built: the jobs a restart took back or re-enqueued wait for that.
      const priority = lowerThisThreadsPriority();
      port.postMessage({ type: 'ready' } satisfies FromJobsThread);
      core.logger.debug({ nice: priority }, 'the jobs thread runs the job queue');
    },
    // The main thread hears the exit and runs the jobs itself.
    (error: unknown) => exit(error),
  );
  return ready;
}

let ready: Promise<Core> | null = null;
let handled: Promise<unknown> = Promise.resolve();
port.on('message', (message: ToJobsThread) => {
  if (message.type === 'start') {
    ready ??= build();
    handled = ready;
    return;
  }
  // The main thread posts nothing else before `start`.
  const core = ready!;
  handled = handled.then(async () => handle(await core, message)).catch(exit);
});

function exit(error: unknown): never {
  process.stderr.write(`persona-mcp jobs thread: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
}

async function handle(core: Core, message: ToJobsThread): Promise<void> {
  switch (message.type) {
    case 'wake':
      core.services.memory.jobs.wake?.();
      return;
    case 'event':
      await follow(core, message.event);
      return;
    case 'settings':
      await core.services.state.config.load();
      return;
    case 'stop':
      await core.close();
      process.exit(0);
  }
}

/** A persona or import change of the main thread: re-read what it names, then drop what this core kept of it. */
async function follow(core: Core, event: DomainEvent): Promise<void> {
  if (event.type === 'personaChanged') await core.services.personas.refresh(event.personaId);
  else if (event.type === 'stateImported') await core.services.personas.refresh();
  core.events.publish(event);
}

/**
 * Sets this thread's nice value (Linux: a thread is a task with its own TID, `/proc/thread-self` reads
 * "PID/task/TID"); elsewhere the thread keeps the process's priority. Returns the nice value set, or null.
 */
function lowerThisThreadsPriority(): number | null {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    os.setPriority(tid, JOBS_THREAD_NICE);
    return JOBS_THREAD_NICE;
  } catch {
    return null;
  }
}
