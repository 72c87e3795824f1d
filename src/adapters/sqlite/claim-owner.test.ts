import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { localProcess, mayStillRun, newOwnerName, parseOwner, statFields, type ProcessProbe } from './claim-owner.js';

/** A machine where PIDs 100 (since tick 500) and 200 (since tick 900) run, seen from PID 100's main thread. */
function machine(overrides: Partial<ProcessProbe> = {}): ProcessProbe {
  const running = new Map([
    [100, '500'],
    [200, '900'],
  ]);
  return {
    pid: 100,
    threadId: 0,
    startTicks: '500',
    scope: 'aaaaaaaaaaaa',
    inspect: (pid) => ({ running: running.has(pid), startTicks: running.get(pid) ?? null }),
    ...overrides,
  };
}

const nobodyHere = (): boolean => false;

describe('job claim owners', () => {
  it('names a claim by PID, thread, start time and scope, and reads the name back', () => {
    const probe = machine();
    const owner = newOwnerName(probe);
    expect(owner).toMatch(/^100-[0-9a-f]{8}-0-500-aaaaaaaaaaaa$/);
    expect(parseOwner(owner)).toEqual({ pid: 100, threadId: 0, startTicks: '500', scope: 'aaaaaaaaaaaa' });
    expect(parseOwner('100-0badcafe')).toEqual({ pid: 100, threadId: null, startTicks: null, scope: null });
    expect(parseOwner('someone else')).toBeNull();
  });

  it('takes back the claims of a process of this namespace that no longer runs, or whose PID was reused', () => {
    const probe = machine();
    expect(mayStillRun('300-0badcafe-0-700-aaaaaaaaaaaa', probe, nobodyHere)).toBe(false);
    // PID 200 runs, but started at tick 900: the claim's process (tick 800) is gone.
    expect(mayStillRun('200-0badcafe-0-800-aaaaaaaaaaaa', probe, nobodyHere)).toBe(false);
    expect(mayStillRun('200-0badcafe-0-900-aaaaaaaaaaaa', probe, nobodyHere)).toBe(true);
    // Our own PID from an earlier start: a container's server restarted as PID 1.
    expect(mayStillRun('100-0badcafe-0-400-aaaaaaaaaaaa', probe, nobodyHere)).toBe(false);
  });

  it('leaves alone the claims of another PID namespace, even of a PID that does not run here', () => {
    const probe = machine();
    expect(mayStillRun('300-0badcafe-0-700-bbbbbbbbbbbb', probe, nobodyHere)).toBe(true);
    // Another container's PID 1 claimed while ours is PID 1 too.
    expect(mayStillRun('100-0badcafe-0-500-bbbbbbbbbbbb', probe, nobodyHere)).toBe(true);
  });

  it("leaves alone another thread's claims of this process; this thread judges its own queues", () => {
    const probe = machine();
    expect(mayStillRun('100-0badcafe-3-500-aaaaaaaaaaaa', probe, nobodyHere)).toBe(true);
    expect(mayStillRun('100-0badcafe-0-500-aaaaaaaaaaaa', probe, nobodyHere)).toBe(false);
    expect(mayStillRun('100-0badcafe-0-500-aaaaaaaaaaaa', probe, (owner) => owner === '100-0badcafe-0-500-aaaaaaaaaaaa')).toBe(true);
  });

  it('judges names written before the scope by their PID alone, and leaves unknown names to their lease', () => {
    const probe = machine();
    expect(mayStillRun('200-0badcafe', probe, nobodyHere)).toBe(true);
    expect(mayStillRun('300-0badcafe', probe, nobodyHere)).toBe(false);
    expect(mayStillRun('100-0badcafe', probe, nobodyHere)).toBe(false);
    expect(mayStillRun('a worker elsewhere', probe, nobodyHere)).toBe(true);
  });

  it('reads this process from /proc: its own start time, and a running PID at its start time', () => {
    const here = localProcess();
    expect(here.pid).toBe(process.pid);
    expect(here.scope).toMatch(/^[0-9a-f]{12}$/);
    if (process.platform === 'linux') {
      expect(here.startTicks).toMatch(/^\d+$/);
      expect(here.inspect(process.pid)).toEqual({ running: true, startTicks: here.startTicks });
    }
    expect(mayStillRun(newOwnerName(here), here, nobodyHere)).toBe(false);
  });

  it.runIf(process.platform === 'linux')('takes back the claims of a killed process not yet reaped (a zombie)', async () => {
    // `sleep 0` exits at once and its parent, exec'd into `sleep 5`, never reaps it: a zombie whose PID answers kill(0).
    const parent = spawn('/bin/sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (data: Buffer) => resolve(data.toString().trim()))));
      for (let tries = 0; statFields(readFileSync(`/proc/${zombie}/stat`, 'utf8'))[0] !== 'Z'; tries++) {
        expect(tries).toBeLessThan(500);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      expect(() => process.kill(zombie, 0)).not.toThrow();
      const here = localProcess();
      const started = statFields(readFileSync(`/proc/${zombie}/stat`, 'utf8'))[19];
      expect(here.inspect(zombie)).toEqual({ running: false, startTicks: started });
      expect(mayStillRun(`${zombie}-0badcafe-0-${started}-${here.scope}`, here, nobodyHere)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
