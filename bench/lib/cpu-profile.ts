import { Session } from 'node:inspector/promises';
import path from 'node:path';

/** The parts of a V8 CPU profile (`--cpu-prof`'s `.cpuprofile` JSON) the bench's profile readers use. */
export interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface Profile {
  nodes: ProfileNode[];
  /** Microseconds on the process's monotonic clock when sampling began. */
  startTime: number;
  samples: number[];
  /** Microseconds between one sample and the one before it. */
  timeDeltas: number[];
}

/** A frame as the profile readers print it: its function, then its file (relative to here) and line. */
export function label(node: Pick<ProfileNode, 'callFrame'>): string {
  const { functionName, url, lineNumber } = node.callFrame;
  const where = url ? `${url.replace(/^file:\/\//, '').replace(`${process.cwd()}${path.sep}`, '')}:${lineNumber + 1}` : '';
  return `${functionName || '(anonymous)'} ${where}`.trim();
}

/** Microseconds on the clock a V8 CPU profile's `startTime` and sample times are on (the monotonic clock). */
export function profileClock(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * The profile with only the samples taken within `windows` (pairs of `profileClock()` readings, in
 * order): a profile of one phase of a bench that alternates phases (micro-background's job runs between
 * the turns). A kept sample keeps its time, cut to the part within its window; the profile's end is its
 * start plus the time kept.
 */
export function keepWindows<T extends Profile & { endTime?: number }>(profile: T, windows: ReadonlyArray<readonly [number, number]>): T {
  const samples: number[] = [];
  const timeDeltas: number[] = [];
  let at = profile.startTime;
  let window = 0;
  profile.samples.forEach((id, index) => {
    const delta = profile.timeDeltas[index] ?? 0;
    at += delta;
    while (window < windows.length && windows[window]![1] < at) window++;
    const current = windows[window];
    if (current === undefined || at < current[0]) return;
    samples.push(id);
    timeDeltas.push(Math.min(delta, at - current[0]));
  });
  return { ...profile, samples, timeDeltas, endTime: profile.startTime + timeDeltas.reduce((sum, delta) => sum + delta, 0) };
}

/** Starts V8's CPU profiler in this process (a sample every 100 µs); `Profiler.stop` on the session gives the profile. */
export async function startCpuProfile(): Promise<Session> {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 100 });
  await session.post('Profiler.start');
  return session;
}
