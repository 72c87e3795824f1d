/**
 * A server's system calls counted by `strace -c` over a stretch of a bench (bench/floor.ts `--syscalls`): every
 * thread of the process is attached (the event loop, libuv's pool, V8's and the server's worker threads).
 * ptrace slows each call down many times over, so a traced run's timings say nothing; its counts are exact.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export class SyscallCounter {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
  ) {}

  static async attach(pid: number): Promise<SyscallCounter> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'floor-strace-'));
    const threads = readdirSync(`/proc/${pid}/task`).flatMap((tid) => ['-p', tid]);
    const child = spawn('strace', ['-c', '-f', '-q', '-o', path.join(dir, 'counts'), ...threads], { stdio: ['ignore', 'ignore', 'pipe'] });
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // strace says nothing when attached (-q); give it time to attach every thread before the measured stretch.
    await new Promise((resolve) => setTimeout(resolve, 500));
    if (child.exitCode !== null) throw new Error(`strace could not attach to ${pid}: ${output}`);
    return new SyscallCounter(child, dir);
  }

  /** Detaches and gives the calls made since `attach`, by system call. */
  async stop(): Promise<Record<string, number>> {
    const exited = once(this.child, 'exit');
    this.child.kill('SIGINT');
    await exited;
    try {
      return parseSummary(readFileSync(path.join(this.dir, 'counts'), 'utf8'));
    } finally {
      rmSync(this.dir, { recursive: true, force: true });
    }
  }
}

/** `strace -c`'s table: `% time  seconds  usecs/call  calls  [errors]  syscall`, then a `total` row. */
function parseSummary(text: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5 || !/^\d/.test(fields[0]!)) continue;
    const name = fields.at(-1)!;
    if (name === 'total') continue;
    counts[name] = Number(fields[3]);
  }
  return counts;
}
