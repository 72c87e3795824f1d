/**
 * Who made a job claim (`jobs.lease_owner`) or wrote a reply's pending after-reply record
 * (`after_reply_pending.owner`) and whether it can still be running, for the SQLite queue's take-back at
 * start and the take-over of replies whose after-reply writes never committed. An SQLite file in WAL mode
 * is shared only by processes of one kernel, but not always of one PID namespace: two containers on one
 * host may mount the same data directory, and both servers are then PID 1. A bare PID says nothing across that line, so an owner name carries where it was made:
 *
 *   `PID-RANDOM-THREAD-START-SCOPE`
 *
 * - THREAD: the worker thread (`threadId`) whose queue claimed; each thread's queues are known only to it.
 * - START: the process's start time (clock ticks after boot, `/proc/PID/stat` field 22), so a PID reused by
 *   a later process does not keep a dead process's claims alive.
 * - SCOPE: a hash of the boot id and the PID namespace; a claim from another scope is never judged here.
 *
 * Names written before the scope existed (`PID-RANDOM`) are judged by their PID alone, as they were.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { threadId } from 'node:worker_threads';

/** What this process reads of itself and of another PID (from /proc where there is one). */
export interface ProcessProbe {
  /** This process's identity; `startTicks` is '' where /proc is missing. */
  readonly pid: number;
  readonly threadId: number;
  readonly startTicks: string;
  readonly scope: string;
  /** Whether `pid` runs here and, when it can be read, since when (clock ticks after boot). */
  inspect(pid: number): { running: boolean; startTicks: string | null };
}

export interface ParsedOwner {
  pid: number;
  threadId: number | null;
  startTicks: string | null;
  scope: string | null;
}

/**
 * The owner names of this thread's live claimers (started job queues, open stores): tests and tools may run
 * two on one file in one process, and each must leave the other's claims alone.
 */
export const ownersRunningHere = new Set<string>();

/** A new owner name for a claimer (a job queue, a store) of this thread. */
export function newOwnerName(probe: ProcessProbe = localProcess()): string {
  return `${probe.pid}-${randomBytes(4).toString('hex')}-${probe.threadId}-${probe.startTicks}-${probe.scope}`;
}

export function parseOwner(owner: string): ParsedOwner | null {
  const match = /^(\d+)-[0-9a-f]+(?:-(\d+)-(\d*)-([0-9a-f]+))?$/.exec(owner);
  if (match === null) return null;
  const pid = Number(match[1]);
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  if (match[2] === undefined) return { pid, threadId: null, startTicks: null, scope: null };
  return { pid, threadId: Number(match[2]), startTicks: match[3]!, scope: match[4]! };
}

/**
 * Whether the claims of `owner` may still be worked on, so they must wait for their lease: true unless this
 * process can tell their owner is gone. `isRunningHere` answers for this thread's own queues.
 */
export function mayStillRun(owner: string, probe: ProcessProbe, isRunningHere: (owner: string) => boolean): boolean {
  const parsed = parseOwner(owner);
  if (parsed === null) return true; // not a name this queue writes: leave it to its lease
  if (parsed.scope === null) return legacyMayStillRun(parsed.pid, owner, probe, isRunningHere);
  // Another PID namespace or another boot: its PIDs mean nothing here.
  if (parsed.scope !== probe.scope) return true;
  if (parsed.pid === probe.pid && parsed.startTicks === probe.startTicks) {
    // This very process: another thread's queue is alive as long as we are; our own thread knows its queues.
    return parsed.threadId !== probe.threadId || isRunningHere(owner);
  }
  const found = probe.inspect(parsed.pid);
  if (!found.running) return false;
  // The PID runs: the same process unless its start time says the PID was reused since.
  return found.startTicks === null || parsed.startTicks === '' || found.startTicks === parsed.startTicks;
}

function legacyMayStillRun(pid: number, owner: string, probe: ProcessProbe, isRunningHere: (owner: string) => boolean): boolean {
  if (pid === probe.pid) return isRunningHere(owner);
  return probe.inspect(pid).running;
}

let local: ProcessProbe | undefined;

/** This process as /proc shows it (a hostname-only scope and no start times where there is no /proc). */
export function localProcess(): ProcessProbe {
  local ??= {
    pid: process.pid,
    threadId,
    startTicks: statOf(process.pid)?.[19] ?? '',
    scope: createHash('sha256')
      .update(readOr('/proc/sys/kernel/random/boot_id', hostname()))
      .update('\0')
      .update(linkOr('/proc/self/ns/pid', ''))
      .digest('hex')
      .slice(0, 12),
    inspect: (pid) => {
      const fields = statOf(pid);
      if (fields === null) return { running: isRunning(pid), startTicks: null };
      // A zombie (Z) or dead (X) process no longer runs, though its PID answers until it is reaped.
      return { running: fields[0] !== 'Z' && fields[0] !== 'X' && isRunning(pid), startTicks: fields[19] ?? null };
    },
  };
  return local;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: the PID runs but belongs to another user; only ESRCH says it is gone.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** /proc/PID/stat's fields from the state on (index 19: the start, in clock ticks after boot); null without /proc. */
function statOf(pid: number): string[] | null {
  const stat = readOr(`/proc/${pid}/stat`, null);
  return stat === null ? null : statFields(stat);
}

/** The fields of a /proc/PID/stat line from the third (the state) on: the command name before them may hold spaces and parentheses. */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

function readOr<T>(file: string, fallback: T): string | T {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return fallback;
  }
}

function linkOr(file: string, fallback: string): string {
  try {
    return readlinkSync(file);
  } catch {
    return fallback;
  }
}
