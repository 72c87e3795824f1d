/**
 * `persona-mcp chat` when things go wrong mid-conversation: Ctrl-C during a reply, a server restart,
 * Ollama down. The real CLI (through tsx) with piped input against a real server and the fake Ollama.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../src/app/app.js';
import { silentLogger } from '../../src/logger.js';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { testConfig } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');
const TSX = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
/** Generous: the CLI compiles through tsx, and other tests load the machine. */
const WAIT_MS = 30_000;

let ollama: FakeOllama;
let home: string;

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-chat-'));
  ollama = await startFakeOllama();
});
afterAll(async () => {
  await ollama.close();
  rmSync(home, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function serve(dataDir: string, port: number, ollamaUrl = ollama.url): Promise<RunningServer> {
  return startServer(testConfig(dataDir, { port }, ollamaUrl), { logger: silentLogger() });
}

/** The chat CLI with a pipe for stdin, its output collected, and waits on what it prints. */
class ChatProcess {
  stdout = '';
  stderr = '';
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcessWithoutNullStreams;

  constructor(url: string) {
    this.child = spawn(process.execPath, ['--import', TSX, MAIN, 'chat', '--url', url, '--persona', 'aria', '--new'], {
      cwd: home,
      env: { PATH: process.env.PATH ?? '', HOME: home, XDG_STATE_HOME: path.join(home, 'state'), NO_COLOR: '1' },
    });
    this.child.stdout.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.exited = new Promise((resolve) => this.child.on('close', resolve));
  }

  say(line: string): void {
    this.child.stdin.write(`${line}\n`);
  }

  interrupt(): void {
    this.child.kill('SIGINT');
  }

  end(): void {
    this.child.stdin.end();
  }

  async waitFor(pattern: RegExp, stream: 'stdout' | 'stderr' = 'stdout'): Promise<void> {
    const deadline = Date.now() + WAIT_MS;
    while (!pattern.test(this[stream])) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} within ${WAIT_MS} ms\nstdout: ${this.stdout}\nstderr: ${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

describe('persona-mcp chat', { timeout: 4 * WAIT_MS }, () => {
  it('stops the reply in progress on Ctrl-C without a stray word, keeps chatting, and quits on a second Ctrl-C', async () => {
    const dataDir = mkdtempSync(path.join(home, 'data-'));
    const server = await serve(dataDir, 0);
    const words = Array.from({ length: 60 }, (_, index) => `word${index}`).join(' ');
    ollama.setReply(words);
    ollama.setMode('slow');
    ollama.chunkDelayMs = 50;
    const chat = new ChatProcess(server.websocketUrl);
    try {
      await chat.waitFor(/Type \/help/);
      const aborted = ollama.abortedStreams;
      chat.say('tell me a long story');
      await chat.waitFor(/word3 /);
      chat.interrupt();
      await chat.waitFor(/\(stopped/);
      const afterStop = chat.stdout.length;
      await ollama.waitForDisconnect(aborted + 1); // the server stopped generating
      ollama.setMode('normal');
      ollama.setReply((body) => `Aria hears you: ${body.messages?.at(-1)?.content}`);
      chat.say('are you still there?');
      await chat.waitFor(/Aria hears you: are you still there\?/);
      // Nothing of the stopped reply came after the stop.
      expect(chat.stdout.slice(afterStop)).not.toMatch(/word\d+/);
      expect(chat.stdout).not.toContain('word59');
      chat.interrupt();
      expect(await chat.exited).toBe(0);
    } finally {
      ollama.setMode('normal');
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('reconnects when the server restarts and resumes the same session', async () => {
    const dataDir = mkdtempSync(path.join(home, 'data-'));
    const port = await freePort();
    let server = await serve(dataDir, port);
    const chat = new ChatProcess(server.websocketUrl);
    try {
      chat.say('remember the lighthouse');
      await chat.waitFor(/Aria hears you: remember the lighthouse/);
      await server.close();
      await chat.waitFor(/Lost the connection.*reconnecting/);
      server = await serve(dataDir, port);
      await chat.waitFor(/Reconnected; your session continues/);
      chat.say('/history');
      chat.say('and the sea');
      await chat.waitFor(/Aria hears you: and the sea/);
      // /history ran in the resumed session: it shows the turn from before the restart.
      const history = chat.stdout.slice(chat.stdout.indexOf('/history'));
      expect(history).toContain('remember the lighthouse');
      chat.end();
      expect(await chat.exited).toBe(0);
    } finally {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('prints a hint once, not with every failed message, when Ollama is down', async () => {
    const dataDir = mkdtempSync(path.join(home, 'data-'));
    const server = await serve(dataDir, 0, 'http://127.0.0.1:9');
    const chat = new ChatProcess(server.websocketUrl);
    try {
      chat.say('hello?');
      chat.say('anyone?');
      chat.end();
      expect(await chat.exited).toBe(0);
      const errors = chat.stderr.trim().split('\n');
      expect(errors).toHaveLength(2);
      expect(errors.every((line) => line.includes('Ollama is not reachable'))).toBe(true);
      expect(chat.stderr.match(/persona-mcp doctor/g)).toHaveLength(1);
      // The hint's advice that the message already gives is not repeated.
      expect(errors[0]?.match(/ollama serve/g)).toHaveLength(1);
    } finally {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
