/**
 * persona-mcp as a user gets it from npm: `npm pack`, the tarball installed into an empty folder, and
 * the installed command run from there — `--help`, `doctor`, `mcp` over stdio, `serve` with the README's
 * talk.mjs in a folder of its own. Nothing here reads the clone's sources.
 *
 * Two shortcuts keep it to seconds: the tarball is packed from the dist/ that `npm ci` (prepare) and
 * land/CI builds have just made (`--ignore-scripts` skips prepack's clean + rebuild), and the install
 * skips better-sqlite3's native build (minutes of C++) by copying the addon this checkout already built
 * for this very Node. Everything else — which files ship, the bin link, dependency resolution from the
 * registry, personas found beside dist/ — is exactly what a user's `npm install persona-mcp` does.
 */
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { CfWorkerJsonSchemaValidator } from '@modelcontextprotocol/client/validators/cf-worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, '../..');
/** npm against the registry on a loaded machine: generous. */
const INSTALL_TIMEOUT_MS = 180_000;
const RUN_TIMEOUT_MS = 60_000;

let work: string;
let app: string;
let packedFiles: string[];
let ollama: FakeOllama;
let env: NodeJS.ProcessEnv;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-pack-'));
  app = path.join(work, 'app');
  mkdirSync(app);
  // A clean environment: nothing of this checkout's config, and npm's cache as the user has it.
  env = { PATH: process.env.PATH, HOME: process.env.HOME, NO_COLOR: '1', XDG_STATE_HOME: path.join(work, 'state') };
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });
  const [summary] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
  packedFiles = summary!.files.map((file) => file.path);
  writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'trying-persona-mcp', private: true }));
  await run('npm', ['install', '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', path.join(work, summary!.filename)], { cwd: app, env });
  const addon = path.join('node_modules', 'better-sqlite3', 'build', 'Release', 'better_sqlite3.node');
  mkdirSync(path.dirname(path.join(app, addon)), { recursive: true });
  copyFileSync(path.join(ROOT, addon), path.join(app, addon));
  ollama = await startFakeOllama();
}, INSTALL_TIMEOUT_MS);
afterAll(async () => {
  await ollama?.close();
  // The installed package is thousands of files: on a loaded CI machine removing them takes longer than
  // the default hook timeout, so it gets the install's budget.
  await rm(work, { recursive: true, force: true });
}, INSTALL_TIMEOUT_MS);

/** `npx persona-mcp ...` in the folder the package was installed in. */
const npx = (args: string[]) => run('npx', ['--no', '--', 'persona-mcp', ...args], { cwd: app, env, timeout: RUN_TIMEOUT_MS });

describe('the npm package', () => {
  it('ships the launcher, the compiled code and the personas, and nothing of the clone besides', () => {
    expect(packedFiles).toEqual(expect.arrayContaining(['bin/persona-mcp.js', 'dist/cli/main.js', 'dist/app/app.js', 'personas/aria.json', 'personas/kira.json', 'README.md', 'package.json']));
    const strays = packedFiles.filter((file) => !/^(bin|dist|personas)\//.test(file) && !['README.md', 'package.json', 'LICENSE'].includes(file));
    expect(strays).toEqual([]);
    expect(packedFiles.filter((file) => /\.test\.|\.map$|^dist\/.*\.ts$/.test(file) && !file.endsWith('.d.ts'))).toEqual([]);
  });

  it('runs `npx persona-mcp --help` from the install folder', async () => {
    const { stdout } = await npx(['--help']);
    expect(stdout).toContain('Usage: persona-mcp');
    for (const command of ['serve', 'chat', 'doctor', 'mcp']) expect(stdout).toContain(command);
    // stdio opens no port: `mcp --help` offers the flags it uses, not --host/--port.
    const mcpHelp = (await npx(['mcp', '--help'])).stdout;
    expect(mcpHelp).toContain('--tools');
    expect(mcpHelp).not.toMatch(/--port|--host\b/);
  }, RUN_TIMEOUT_MS);

  it('runs `npx persona-mcp doctor`: the shipped personas are found, Ollama down is only a warning', async () => {
    const { stdout } = await npx(['doctor', '--json', '--port', '0', '--data-dir', path.join(work, 'doctor-data'), '--ollama-host', 'http://127.0.0.1:9']);
    const report = JSON.parse(stdout) as { ok: boolean; checks: Array<{ name: string; status: string }> };
    expect(report.checks.filter((check) => check.status === 'fail')).toEqual([]);
  }, RUN_TIMEOUT_MS);

  it('serves MCP over stdio with `npx persona-mcp mcp`, as an MCP host launches it', async () => {
    const transport = new StdioClientTransport({ command: 'npx', args: ['--no', '--', 'persona-mcp', 'mcp', '--data-dir', path.join(work, 'mcp-data'), '--ollama-host', ollama.url], cwd: app, env: env as Record<string, string>, stderr: 'pipe' });
    const client = new Client({ name: 'package-test', version: '1.0.0' }, { jsonSchemaValidator: new CfWorkerJsonSchemaValidator() });
    await client.connect(transport);
    try {
      const { tools } = await client.listTools();
      expect(tools.map((tool) => tool.name)).toContain('persona_chat');
      const reply = await client.callTool({ name: 'persona_chat', arguments: { persona_id: 'aria', message: 'Hello from npx' } });
      expect(JSON.stringify(reply.structuredContent)).toContain('Aria hears you: Hello from npx');
    } finally {
      await client.close();
    }
  }, RUN_TIMEOUT_MS);

  it("runs the README's talk.mjs from a folder of its own against `npx persona-mcp serve`", async () => {
    const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const talk = /```js\n(\/\/ talk\.mjs[\s\S]*?)```/.exec(readme)?.[1];
    expect(talk).toBeDefined();
    const install = /```sh\n(npm install ws[^\n]*)\n```/.exec(readme)?.[1];
    expect(install).toBeDefined();
    const folder = path.join(work, 'talk');
    mkdirSync(folder);
    await run('npm', [...install!.split(' ').slice(1), '--prefer-offline', '--no-audit', '--no-fund'], { cwd: folder, env });

    const server = spawn('npx', ['--no', '--', 'persona-mcp', 'serve', '--port', '0', '--data-dir', path.join(work, 'serve-data'), '--ollama-host', ollama.url, '--log-level', 'warn'], { cwd: app, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    try {
      const url = await new Promise<string>((resolve, reject) => {
        // The banner goes to stderr with the logs (stdout stays clean for scripts).
        let out = '';
        const read = (chunk: Buffer): void => {
          out += chunk.toString();
          const found = /listening on (ws:\/\/127\.0\.0\.1:\d+\/mcp)/.exec(out);
          if (found?.[1]) resolve(found[1]);
        };
        server.stdout.on('data', read);
        server.stderr.on('data', read);
        server.once('exit', (code) => reject(new Error(`serve exited with ${code}`)));
      });
      writeFileSync(path.join(folder, 'talk.mjs'), talk!.replace('ws://127.0.0.1:8000/mcp', url));
      const { stdout } = await run(process.execPath, ['talk.mjs'], { cwd: folder, env, timeout: RUN_TIMEOUT_MS });
      expect(stdout).toContain('Aria hears you: Hello Aria!');
    } finally {
      // npx and the server it started are one process group of their own (detached): stop both.
      if (server.pid !== undefined) process.kill(-server.pid, 'SIGTERM');
    }
  }, RUN_TIMEOUT_MS * 2);
});
