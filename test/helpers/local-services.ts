/**
 * Real PostgreSQL, Redis and HAProxy for tests and benchmarks, started from Debian's packages on
 * loopback in temporary directories (no system service is touched), stopped and removed afterwards.
 *
 * PostgreSQL refuses to run as root; when the tests run as root (CI containers) the cluster runs as the
 * `postgres` user the Debian package creates (through `runuser`), in a directory given to that user.
 * Each `find*` returns null when the program is not installed, so callers can skip with a clear message.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

function which(program: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, program);
    if (dir !== '' && existsSync(candidate)) return candidate;
  }
  for (const dir of ['/usr/sbin', '/usr/bin', '/sbin']) {
    const candidate = path.join(dir, program);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}

/** The directory holding initdb and pg_ctl: Debian's newest /usr/lib/postgresql/N/bin, else the PATH. */
export function findPostgresBin(): string | null {
  const root = '/usr/lib/postgresql';
  if (existsSync(root)) {
    const versions = readdirSync(root)
      .filter((name) => /^\d+$/.test(name) && existsSync(path.join(root, name, 'bin', 'pg_ctl')))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return path.join(root, versions[0]!, 'bin');
  }
  const initdb = which('initdb');
  return initdb !== null && which('pg_ctl') !== null ? path.dirname(initdb) : null;
}

export const findRedisServer = (): string | null => which('redis-server');
export const findHaproxy = (): string | null => which('haproxy');

/** A free TCP port on 127.0.0.1 (closed again at once; the caller binds it next). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForPort(port: number, timeoutMs: number, child?: ChildProcess): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child !== undefined && child.exitCode !== null) throw new Error(`the process exited with code ${child.exitCode} before listening on ${port}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listened on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const isRoot = (): boolean => typeof process.getuid === 'function' && process.getuid() === 0;

/** Runs a PostgreSQL program as the current user, or as `postgres` when we are root. */
function runPg(bin: string, program: string, args: string[]): void {
  const file = path.join(bin, program);
  if (isRoot()) execFileSync('runuser', ['-u', 'postgres', '--', file, ...args], { stdio: 'pipe' });
  else execFileSync(file, args, { stdio: 'pipe' });
}

export interface LocalPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres` */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** initdb + pg_ctl start in a new temp dir on a free loopback port; trust auth for the `postgres` role. */
export async function startPostgres(options: { fsync?: boolean } = {}): Promise<LocalPostgres> {
  const bin = findPostgresBin();
  if (bin === null) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-pg-'));
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = path.join(dir, 'data');
  const port = await freePort();
  runPg(bin, 'initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const settings = [
    `-c listen_addresses=127.0.0.1`,
    `-c port=${port}`,
    `-c unix_socket_directories=${dir}`,
    `-c max_connections=200`,
    ...(options.fsync === true ? [] : ['-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off']),
  ].join(' ');
  runPg(bin, 'pg_ctl', ['-D', data, '-l', path.join(dir, 'log'), '-o', settings, '-w', '-t', '30', 'start']);
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      if (stopped) return;
      stopped = true;
      try {
        runPg(bin, 'pg_ctl', ['-D', data, '-m', 'immediate', '-w', 'stop']);
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface LocalProcess {
  url: string;
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
  });
}

/** redis-server on a free loopback port, no persistence, in a temp dir. */
export async function startRedis(): Promise<LocalProcess> {
  const program = findRedisServer();
  if (program === null) throw new Error('Redis is not installed (apt-get install redis-server)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-redis-'));
  const port = await freePort();
  const child = spawn(program, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
    stdio: 'ignore',
  });
  await waitForPort(port, 10_000, child);
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    child,
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * HAProxy on a free loopback port in front of `backends` (host:port), round robin, WebSocket-aware (it
 * passes the upgrade through), health-checked every 200 ms so a killed node leaves the rotation fast.
 */
export async function startHaproxy(backends: Array<{ name: string; port: number }>, options: { forwardFor?: boolean } = {}): Promise<LocalProcess> {
  const program = findHaproxy();
  if (program === null) throw new Error('HAProxy is not installed (apt-get install haproxy)');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-haproxy-'));
  const port = await freePort();
  const config = [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode http',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout tunnel 60s',
    'frontend front',
    `  bind 127.0.0.1:${port}`,
    '  default_backend nodes',
    'backend nodes',
    '  balance roundrobin',
    // The client's address for the nodes' limits per address (http.trustedProxies).
    ...(options.forwardFor === true ? ['  option forwardfor'] : []),
    '  option httpchk',
    // persona-mcp checks the Host header (DNS rebinding): the check names a loopback host.
    '  http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host 127.0.0.1',
    ...backends.map((backend) => `  server ${backend.name} 127.0.0.1:${backend.port} check inter 200 fall 1 rise 1`),
    '',
  ].join('\n');
  const file = path.join(dir, 'haproxy.cfg');
  writeFileSync(file, config);
  const child = spawn(program, ['-f', file, '-db'], { stdio: 'ignore' });
  await waitForPort(port, 10_000, child);
  // Until the first health checks pass the proxy answers 503: wait for every backend to be up.
  const deadline = Date.now() + 10_000;
  for (let healthy = 0; healthy < backends.length * 2; ) {
    const response = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => null);
    healthy = response?.status === 200 ? healthy + 1 : 0;
    if (Date.now() > deadline) throw new Error('HAProxy did not see the backends as healthy within 10 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    child,
    async stop() {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
