/** Runs the real CLI server as a child process (for crash tests), and finds its port from its banner. */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));

export interface ChildServer {
  process: ChildProcess;
  websocketUrl: string;
  /** Everything the process wrote to stderr so far. */
  stderr(): string;
  kill(signal: NodeJS.Signals): Promise<void>;
}

export async function startChildServer(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ChildServer> {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'serve', '--port', '0', '--log-level', 'warn', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const { url, stderr } = await waitForBanner(child, 'server');
  return {
    process: child,
    websocketUrl: url,
    stderr,
    async kill(signal) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, 'exit');
      child.kill(signal);
      await exited;
    },
  };
}

/**
 * Waits for a spawned server's "listening on ws://…" line on stderr and returns its URL, with everything
 * it wrote to stderr (then and later). Fails with that text when it exits first or takes a minute (tsx
 * compiles the CLI first: slow on a loaded machine).
 */
export async function waitForBanner(child: ChildProcess, label: string): Promise<{ url: string; stderr: () => string }> {
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${label} did not start:\n${stderr}`)), 60_000);
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on (ws:\/\/\S+)/.exec(stderr);
      if (match?.[1]) {
        clearTimeout(timer);
        resolve(match[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${label} exited with ${code}:\n${stderr}`));
    });
  });
  return { url, stderr: () => stderr };
}
