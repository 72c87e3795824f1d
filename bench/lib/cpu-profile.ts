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
