/**
 * The real `persona-mcp` command (`node --import tsx src/cli/main.ts ...`) against a real server with
 * the fake Ollama. Each spawn costs ~0.5 s, so one server is shared and the tests run concurrently.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');
const TSX = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** Generous: other test files (and other work) may load this machine's two cores. */
const SPAWN_TIMEOUT_MS = 30_000;

let ollama: FakeOllama;
let server: TestServer;
let home: string;

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-cli-'));
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url });
  // One run first fills tsx's transform cache; otherwise the concurrent runs below would each compile
  // the whole tree at once after a source change.
  const warmUp = await runCli(['--version']);
  if (warmUp.code !== 0) throw new Error(`persona-mcp --version failed: ${warmUp.stderr}`);
}, 2 * SPAWN_TIMEOUT_MS);
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
  rmSync(home, { recursive: true, force: true });
});

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs the CLI in an empty working directory with a clean environment (no PERSONA_MCP_* or OLLAMA_HOST
 * from the machine running the tests), HOME and XDG_STATE_HOME inside the test's temp dir.
 */
function runCli(args: string[], options: { input?: string; env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliRun> {
  const cwd = mkdtempSync(path.join(home, 'cwd-'));
  const env = { PATH: process.env.PATH ?? '', HOME: home, XDG_STATE_HOME: path.join(home, 'state'), NO_COLOR: '1', ...options.env };
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(
        new Error(
          `persona-mcp ${args.join(' ')} did not finish within ${options.timeoutMs ?? SPAWN_TIMEOUT_MS} ms\nstdout: ${stdout}\nstderr: ${stderr}`,
        ),
      );
    }, options.timeoutMs ?? SPAWN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

/** A port nothing listens on (taken, then released). */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

function dataDir(): string {
  return mkdtempSync(path.join(home, 'data-'));
}

describe.concurrent('persona-mcp chat', { timeout: 2 * SPAWN_TIMEOUT_MS }, () => {
  it('streams the replies of piped lines, switches persona, shows history, and resumes the session next time', async ({ expect }) => {
    const url = server.server.websocketUrl;
    const env = { XDG_STATE_HOME: mkdtempSync(path.join(home, 'chat-state-')) };
    const admin = await server.connect();
    // A retry (--retry in land.sh, on a loaded machine) finds Mira from the first attempt: that is fine.
    const created = await admin.call('persona.create', { name: 'Mira', description: 'Needs a model nobody pulled.', model: 'missing-model:1b' });
    if (created.error) expect(created.error.message).toContain('already exists');
    const input = 'hello\n/switch mira\nanyone there?\n/switch kira\nhi kira\n/history\n';
    const first = await runCli(['chat', '--url', url, '--persona', 'aria'], { input, env });
    expect(first.code).toBe(0);
    // A server error is one line with the hint, and the chat goes on.
    expect(first.stderr.trim().split('\n')).toHaveLength(1);
    expect(first.stderr).toMatch(/^✗ .*ollama pull missing-model:1b.* \[-32011\]\n$/);
    expect(first.stdout).toContain('you › hello\nAria › Aria hears you: hello\n');
    expect(first.stdout).toMatch(/continue \d+\/100.* · \d+ tokens · \d+\.\d s/);
    expect(first.stdout).toContain('Talking with Kira');
    expect(first.stdout).toContain('Kira › Kira hears you: hi kira\n');
    const history = first.stdout.slice(first.stdout.indexOf('── history with Kira: 2 messages ──'));
    expect(history).toMatch(/^── history with Kira: 2 messages ──\n\d\d:\d\d you › hi kira\n\d\d:\d\d Kira › Kira hears you: hi kira\n/);

    const remembered = JSON.parse(readFileSync(path.join(env.XDG_STATE_HOME, 'persona-mcp', 'cli-session.json'), 'utf8'));
    const sessionId: string = remembered[url].session_id;
    expect(sessionId).toMatch(/^ses_/);

    // No --persona: the remembered session comes back with Kira active and her conversation intact.
    const second = await runCli(['chat', '--url', url], { input: 'still there?\n/history 3\n', env });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('Resuming your conversation with Kira');
    expect(second.stdout).toContain('Kira › Kira hears you: still there?');
    expect(second.stdout).toMatch(/\d\d:\d\d Kira › Kira hears you: hi kira\n\d\d:\d\d you › still there\?\n/);
  });

  it('says how to start the server when nothing listens at the URL, and exits 1', async ({ expect }) => {
    const url = `ws://127.0.0.1:${await freePort()}/mcp`;
    const run = await runCli(['chat', '--url', url, '--persona', 'aria'], { input: 'hello\n' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Cannot reach persona-mcp at ${url}`);
    expect(run.stderr).toContain('start it with `npm start` / `persona-mcp serve`');
  });
});

describe.concurrent('persona-mcp doctor', { timeout: 2 * SPAWN_TIMEOUT_MS }, () => {
  it('passes with the fake Ollama, and recognises a persona-mcp already on the port', async ({ expect }) => {
    const dir = dataDir();
    const run = await runCli(['doctor', '--data-dir', dir, '--ollama-host', ollama.url, '--port', String(server.server.port)]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('✓ Configuration is valid');
    expect(run.stdout).toContain('sources: defaults < flags (--data-dir, --port, --ollama-host)');
    expect(run.stdout).toContain(`✓ Data directory ${dir} exists and is writable`);
    expect(run.stdout).toMatch(/✓ Database .*persona-mcp\.db created \(schema version \d+ of \d+/);
    expect(run.stdout).toContain(`✓ A persona-mcp is already listening on 127.0.0.1:${server.server.port}`);
    expect(run.stdout).toContain(`✓ Ollama 0.12.0 reachable at ${ollama.url}`);
    expect(run.stdout).toContain('✓ Model llama3.1:8b installed — default; used by Aria, Kira');
    expect(run.stdout).toContain('✓ Embedding model nomic-embed-text installed — memory search uses it');
    expect(run.stdout).not.toMatch(/^[✗⚠]/m);
  });

  it('only warns when Ollama is down (exit 0), naming the ollama pull to run later; --json for scripts', async ({ expect }) => {
    const port = await freePort();
    const run = await runCli(['doctor', '--json', '--data-dir', dataDir(), '--port', String(port)], {
      env: { OLLAMA_HOST: `127.0.0.1:${await freePort()}`, PERSONA_MCP_MODEL: 'qwen3:4b' },
    });
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout);
    expect(report).toMatchObject({
      ok: true,
      exit_code: 0,
      config: { environment: ['PERSONA_MCP_MODEL', 'OLLAMA_HOST'], effective: { port, model: 'qwen3:4b' } },
    });
    const byId = Object.fromEntries(report.checks.map((check: { id: string }) => [check.id, check]));
    expect(byId.port).toMatchObject({ status: 'ok', title: `Port ${port} on 127.0.0.1 is free` });
    expect(byId.ollama.status).toBe('warn');
    expect(byId.ollama.fix).toContain('ollama serve');
    expect(byId['model:qwen3:4b']).toMatchObject({ status: 'skip', fix: 'Once Ollama runs: ollama pull qwen3:4b' });
    expect(byId.embedding_model).toMatchObject({ status: 'skip', fix: 'Once Ollama runs: ollama pull nomic-embed-text' });
  });

  it('warns of each unknown setting with the name it was probably meant to be, and still exits 0', async ({ expect }) => {
    const file = path.join(mkdtempSync(path.join(home, 'config-')), 'typo.json');
    writeFileSync(file, JSON.stringify({ jobs: { thred: 'worker' }, zzqx: 1 }));
    const run = await runCli(['doctor', '--config', file, '--data-dir', dataDir(), '--ollama-host', ollama.url, '--port', String(await freePort())], {
      env: { PERSONA_MCP_JOBS_THRED: 'worker' },
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`⚠ jobs.thred (${file}) is not a setting and is ignored: did you mean jobs.thread?\n`);
    expect(run.stdout).toContain('⚠ PERSONA_MCP_JOBS_THRED (environment) is not a setting and is ignored: did you mean PERSONA_MCP_JOBS_THREAD?\n');
    // A key like no setting: its line points to the list once, without a second line saying it again.
    expect(run.stdout).toContain(`⚠ zzqx (${file}) is not a setting and is ignored: docs/configuration.md lists every setting\n⚠`);
    expect(run.stdout).toContain('Ready to serve, with 3 warnings above (settings the server ignores).');
  });

  it('exits 2 with the problem on one line when a config value is bad', async ({ expect }) => {
    const run = await runCli(['doctor', '--data-dir', dataDir()], { env: { PERSONA_MCP_PORT: 'abc' } });
    expect(run.code).toBe(2);
    expect(run.stdout).toContain('✗ Configuration is invalid\n    PERSONA_MCP_PORT: "abc" is not a number\n');
  });
});

describe.concurrent('persona-mcp serve', { timeout: 2 * SPAWN_TIMEOUT_MS }, () => {
  it('prints one line per configuration problem and exits 2', async ({ expect }) => {
    const run = await runCli(['serve', '--data-dir', dataDir(), '--log-level', 'loud'], { env: { PERSONA_MCP_PORT: 'abc' } });
    expect(run.code).toBe(2);
    const lines = run.stderr.trim().split('\n');
    expect(lines[0]).toBe('Invalid configuration:');
    expect(lines).toContain('  - PERSONA_MCP_PORT: "abc" is not a number');
    expect(lines.some((line) => line.startsWith('  - logLevel: '))).toBe(true);
    expect(lines).toHaveLength(3);
  });

  it('warns in its log of an unknown setting, before it starts', async ({ expect }) => {
    // The port is taken so that the run ends by itself, after the warning.
    const run = await runCli(['serve', '--data-dir', dataDir(), '--port', String(server.server.port), '--ollama-host', ollama.url, '--log-level', 'warn'], {
      env: { PERSONA_MCP_PROT: '9000' },
    });
    const warning = run.stderr.split('\n').find((line) => line.includes('PERSONA_MCP_PROT'));
    expect(JSON.parse(warning ?? '{}')).toMatchObject({
      level: 40,
      setting: 'PERSONA_MCP_PROT',
      suggestion: 'PERSONA_MCP_PORT',
      msg: 'PERSONA_MCP_PROT (environment) is not a setting and is ignored: did you mean PERSONA_MCP_PORT?',
    });
    expect(run.stderr).toContain('is already in use');
  });

  it('says the port is taken and exits 1', async ({ expect }) => {
    const port = server.server.port;
    const run = await runCli([
      'serve',
      '--data-dir',
      dataDir(),
      '--port',
      String(port),
      '--ollama-host',
      ollama.url,
      '--log-level',
      'silent',
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`Port ${port} on 127.0.0.1 is already in use`);
  });
});

describe('persona-mcp keys', { timeout: 3 * SPAWN_TIMEOUT_MS }, () => {
  it('creates a key (printed once), lists it without the secret, and revokes it', async ({ expect }) => {
    const dir = dataDir();
    const created = await runCli(['keys', 'create', '--name', 'Alice', '--data-dir', dir]);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^pmk_[A-Za-z0-9_-]{40,}$/);
    const id = /Created (key_[0-9a-f]+) for user "alice"/.exec(created.stderr)?.[1];
    expect(id).toBeDefined();

    const listed = await runCli(['keys', 'list', '--data-dir', dir]);
    expect(listed.stdout).toContain(`${id}  ${key.slice(0, 12)}…  user=alice  role=user`);
    expect(listed.stdout).not.toContain(key);

    const revoked = await runCli(['keys', 'revoke', id!, '--data-dir', dir]);
    expect(revoked.code).toBe(0);
    expect((await runCli(['keys', 'list', '--data-dir', dir])).stdout).toContain('revoked');
  });
});
