/**
 * Child processes of the bench: the server under test (the compiled persona-mcp, or the bare echo
 * server), and load workers. On a machine with two or more cores the server is pinned to CPU 0 and the
 * load to the others (`taskset`), so the server has a core to itself and the two never trade places
 * mid-run. Every child starts with its soft open-files limit raised to the hard limit (`ulimit -n`).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkerCommand, WorkerReply } from '../load-worker.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BENCH_DIR = path.join(ROOT, 'bench');

export interface Placement {
  /** CPU list for the server under test, e.g. "0"; null = not pinned. */
  serverCpus: string | null;
  /** CPU list for load workers and fakes. */
  loadCpus: string | null;
}

/**
 * Where the server under test and the load run. `PERSONA_BENCH_SERVER_CPUS` (a `taskset -c` list, e.g.
 * "0-1") gives the server those CPUs instead of CPU 0 alone — as in production, where a server with a
 * worker thread has more than one core; the load then takes the CPUs left, or shares the server's when
 * none are left (unpinned).
 */
export function defaultPlacement(isPinned: boolean): Placement {
  const cpus = os.cpus().length;
  if (!isPinned || cpus < 2 || !hasTaskset()) return { serverCpus: null, loadCpus: null };
  const serverCpus = process.env.PERSONA_BENCH_SERVER_CPUS;
  if (serverCpus !== undefined && serverCpus !== '') {
    const taken = cpuSet(serverCpus);
    const left = Array.from({ length: cpus }, (_, cpu) => cpu).filter((cpu) => !taken.has(cpu));
    return { serverCpus, loadCpus: left.length === 0 ? null : left.join(',') };
  }
  return { serverCpus: '0', loadCpus: cpus === 2 ? '1' : `1-${cpus - 1}` };
}

/** The CPUs of a `taskset -c` list ("0-1,3"). */
function cpuSet(list: string): Set<number> {
  const set = new Set<number>();
  for (const part of list.split(',')) {
    const [first, last = first] = part.split('-').map(Number);
    if (!Number.isInteger(first) || !Number.isInteger(last)) throw new Error(`PERSONA_BENCH_SERVER_CPUS: not a CPU list: ${list}`);
    for (let cpu = first!; cpu <= last!; cpu++) set.add(cpu);
  }
  return set;
}

function hasTaskset(): boolean {
  try {
    return readFileSync('/usr/bin/taskset').length > 0;
  } catch {
    return false;
  }
}

/** `bash -c 'ulimit -n <hard>; exec [taskset -c cpus] command...'`. */
function wrapped(command: string, args: string[], cpus: string | null): { file: string; args: string[] } {
  const inner = cpus === null ? [command, ...args] : ['taskset', '-c', cpus, command, ...args];
  return { file: 'bash', args: ['-c', 'ulimit -n "$(ulimit -Hn)" 2>/dev/null; exec "$@"', 'bash', ...inner] };
}

export function hardFdLimit(): string {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const line = limits.split('\n').find((entry) => entry.startsWith('Max open files'));
    return line?.split(/\s+/).slice(3, 5).join('/') ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

export interface ServerProcess {
  readonly kind: 'persona-mcp' | 'echo' | 'floor';
  readonly pid: number;
  readonly url: string;
  /** Resident set size from /proc/PID/status, in KiB. */
  rssKib(): number;
  /** CPU time used so far (user + system), in milliseconds. */
  cpuMs(): number;
  /**
   * How long the main thread (the event loop) has waited so far, runnable, for a CPU other processes
   * held (/proc/PID/task/PID/schedstat's second field), in milliseconds: the part of a latency that is
   * the shared machine's, not the server's.
   */
  runqueueWaitMs(): number;
  /**
   * CPU time the main thread (the event loop) has run so far (its schedstat's first field), in ms: the
   * part of `cpuMs` that the turns share the loop with; worker threads' CPU is in `cpuMs` only.
   */
  loopCpuMs(): number;
  stop(): Promise<void>;
}

/** The main thread's time on a CPU (schedstat's first field, ns), in ms. */
function loopCpuOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
}

/** The main thread's schedstat (proc(5)): its second field is the time spent runnable, waiting for a CPU, in ns. */
function runqueueWaitOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e6;
}

function procStatus(pid: number): string {
  return readFileSync(`/proc/${pid}/status`, 'utf8');
}

function rssOf(pid: number): number {
  const match = /VmRSS:\s+(\d+) kB/.exec(procStatus(pid));
  return match ? Number(match[1]) : Number.NaN;
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

function cpuOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[11] and [12] are utime and stime (fields 14 and 15 of proc(5), counted from after the name).
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
}

/**
 * Spawns a child that prints a `ws://host:port/...` URL on stderr or stdout when it listens, and waits
 * for that line.
 */
async function spawnListening(
  kind: ServerProcess['kind'],
  command: string,
  args: string[],
  cpus: string | null,
  env: NodeJS.ProcessEnv = {},
): Promise<ServerProcess> {
  const { file, args: fullArgs } = wrapped(command, args, cpus);
  const child = spawn(file, fullArgs, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start within 20 s:\n${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /(ws:\/\/[^\s)]+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve(match[1]!);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${kind} exited with ${code} before listening:\n${output}`));
    });
  });
  // Keep draining its output (warnings go to the bench's stderr) so a full pipe never blocks it.
  child.stdout!.removeAllListeners('data');
  child.stderr!.removeAllListeners('data');
  child.stdout!.on('data', (chunk: Buffer) => process.stderr.write(`[${kind}] ${chunk.toString()}`));
  child.stderr!.on('data', (chunk: Buffer) => process.stderr.write(`[${kind}] ${chunk.toString()}`));
  const pid = child.pid!;
  return {
    kind,
    pid,
    url,
    rssKib: () => rssOf(pid),
    cpuMs: () => cpuOf(pid),
    runqueueWaitMs: () => runqueueWaitOf(pid),
    loopCpuMs: () => loopCpuOf(pid),
    stop: () => stopChild(child),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

export interface PersonaServerOptions {
  dataDir: string;
  configFile: string;
  ollamaHost?: string;
  cpus: string | null;
  /** Extra node flags, e.g. `--cpu-prof`. */
  nodeFlags?: string[];
}

/**
 * The server's entry point: `dist/cli/main.js`, or `PERSONA_BENCH_SERVER` (a copy of dist/ with a
 * candidate optimisation applied, to measure it against the same load without touching src/).
 */
export function serverEntry(): string {
  return process.env.PERSONA_BENCH_SERVER ?? path.join(ROOT, 'dist', 'cli', 'main.js');
}

/**
 * Node flags for both servers under test from `PERSONA_BENCH_NODE_FLAGS` (space-separated, e.g.
 * `--trace-gc` or `--max-semi-space-size=32`): the same runtime settings for persona-mcp and echo.
 */
function benchNodeFlags(): string[] {
  return (process.env.PERSONA_BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
}

/** The compiled server (`dist/cli/main.js serve`), on an ephemeral port, logging warnings only. */
export function startPersonaServer(options: PersonaServerOptions): Promise<ServerProcess> {
  const args = [
    ...benchNodeFlags(),
    ...(options.nodeFlags ?? []),
    serverEntry(),
    'serve',
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--data-dir',
    options.dataDir,
    '--config',
    options.configFile,
    '--log-level',
    'warn',
    ...(options.ollamaHost !== undefined ? ['--ollama-host', options.ollamaHost] : []),
  ];
  return spawnListening('persona-mcp', process.execPath, args, options.cpus);
}

/** The bare `ws` server answering each method with a canned result (see echo-server.ts). */
export function startEchoServer(cannedResults: Record<string, unknown>, cpus: string | null, nodeFlags: string[] = []): Promise<ServerProcess> {
  return spawnListening('echo', process.execPath, [...benchNodeFlags(), ...nodeFlags, '--import', 'tsx', path.join(BENCH_DIR, 'echo-server.ts')], cpus, {
    BENCH_CANNED_RESULTS: JSON.stringify(cannedResults),
  });
}

/** The bare server of a chat turn's I/O (floor-server.ts), given its environment (`FLOOR_SHAPE_FILE`, `FLOOR_PIECES`, `FLOOR_MODEL_URL`). */
export function startFloorServer(env: NodeJS.ProcessEnv, cpus: string | null, nodeFlags: string[] = []): Promise<ServerProcess> {
  return spawnListening('floor', process.execPath, [...benchNodeFlags(), ...nodeFlags, '--import', 'tsx', path.join(BENCH_DIR, 'floor-server.ts')], cpus, env);
}

/** A load worker process (load-worker.ts) and a typed request/answer channel to it. */
export class LoadWorker {
  private constructor(
    private readonly child: ChildProcess,
    private readonly replies: WorkerReply[],
    private readonly waiters: Array<(reply: WorkerReply) => void>,
  ) {}

  static async start(cpus: string | null): Promise<LoadWorker> {
    const { file, args } = wrapped(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'load-worker.ts')], cpus);
    const child = spawn(file, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    const replies: WorkerReply[] = [];
    const waiters: Array<(reply: WorkerReply) => void> = [];
    child.on('message', (message: WorkerReply) => {
      const waiter = waiters.shift();
      if (waiter) waiter(message);
      else replies.push(message);
    });
    const worker = new LoadWorker(child, replies, waiters);
    const ready = await worker.next(20_000);
    if (ready.type !== 'ready') throw new Error(`load worker said ${ready.type} instead of ready`);
    return worker;
  }

  private next(timeoutMs: number): Promise<WorkerReply> {
    const queued = this.replies.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`load worker gave no answer within ${timeoutMs} ms`)), timeoutMs);
      const onExit = (code: number | null): void => reject(new Error(`load worker exited with ${code}`));
      this.child.once('exit', onExit);
      this.waiters.push((reply) => {
        clearTimeout(timer);
        this.child.off('exit', onExit);
        resolve(reply);
      });
    });
  }

  /** Sends a command and waits for its answer (of the given type). */
  async run<T extends WorkerReply['type']>(
    command: WorkerCommand,
    expect: T,
    timeoutMs = 120_000,
  ): Promise<Extract<WorkerReply, { type: T }>> {
    this.child.send(command);
    const answer = await this.next(timeoutMs);
    if (answer.type !== expect) throw new Error(`load worker answered ${answer.type}, expected ${expect}`);
    return answer as Extract<WorkerReply, { type: T }>;
  }

  async stop(): Promise<void> {
    if (this.child.connected) this.child.disconnect();
    await stopChild(this.child);
  }
}

/** Starts `count` workers in parallel. */
export function startWorkers(count: number, cpus: string | null): Promise<LoadWorker[]> {
  return Promise.all(Array.from({ length: count }, () => LoadWorker.start(cpus)));
}

/** Splits `total` into `parts` near-equal integers. */
export function split(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, index) => Math.floor(total / parts) + (index < total % parts ? 1 : 0));
}

/** Machine-wide CPU time used so far (all cores, busy states only), in milliseconds, from /proc/stat. */
export function machineBusyMs(): number {
  const first = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal ...: everything but idle and iowait is busy.
  const busy = first.reduce((sum, value, index) => (index === 3 || index === 4 ? sum : sum + value), 0);
  return (busy * 1000) / CLOCK_TICKS;
}
