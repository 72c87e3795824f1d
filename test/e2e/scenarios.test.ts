/**
 * The shipped scenario library replays from its cassettes with every assertion passing (no model
 * needed), and `persona-mcp simulate` fails loudly: a failing assertion exits 1 naming the assertion
 * and the turn, a changed request is a cassette miss with a diff, a bad file exits 2 with its line.
 */
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultCassetteDir, simulateFiles } from '../../src/simulation/simulate.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const SCENARIOS = path.join(ROOT, 'scenarios');
const MAIN = path.join(ROOT, 'src', 'cli', 'main.ts');
const TSX = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const work = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-scenarios-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, MAIN, ...args], { cwd: work, env: { PATH: process.env.PATH ?? '', HOME: work, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A copy of a shipped scenario with some text replaced, replaying the original's cassettes. */
function variant(name: string, replace: Array<[string, string]>): string {
  let text = readFileSync(path.join(SCENARIOS, `${name}.yaml`), 'utf8');
  for (const [from, to] of replace) {
    expect(text).toContain(from);
    text = text.replace(from, to);
  }
  const file = path.join(work, `${name}-variant-${Math.random().toString(36).slice(2, 8)}.yaml`);
  writeFileSync(file, text);
  return file;
}

describe('the shipped scenarios', () => {
  const files = readdirSync(SCENARIOS)
    .filter((name) => name.endsWith('.yaml'))
    .map((name) => path.join(SCENARIOS, name));

  it('include at least a chat, a group, a two-user and an hours-long chatroom scenario', () => {
    expect(files.map((file) => path.basename(file))).toEqual(
      expect.arrayContaining(['aria-remembers.yaml', 'tavern-evening.yaml', 'two-visitors-privacy.yaml', 'chatroom-night.yaml']),
    );
  });

  it('replay from their cassettes with every assertion passing and no cassette miss', async () => {
    const outcomes = await simulateFiles(files, { cassetteMode: 'replay', parallel: 2, reportDir: null });
    for (const outcome of outcomes) {
      expect(outcome.loadError).toBeNull();
      const report = outcome.report!;
      const failed = report.assertions.filter((assertion) => !assertion.passed);
      expect(failed, `${outcome.file}: ${JSON.stringify(failed)} (a prompt change? npm run scenarios:record)`).toEqual([]);
      expect(report.run.cassettes).toMatchObject({ missed: 0, recorded: 0 });
      expect(report.run.cassettes!.replayed).toBeGreaterThan(0);
      expect(report.assertions.length).toBeGreaterThan(0);
      expect(report.passed).toBe(true);
    }
  }, 120_000);
});

describe.concurrent('persona-mcp simulate', () => {
  it('exits 1 naming the failing assertion and its turn, and writes a report with the transcript and charts', async () => {
    const file = variant('aria-remembers', [['text: Kira\'s research', 'text: "I remember"']]);
    const reports = path.join(work, 'reports-fail');
    const result = await runCli(['simulate', file, '--replay', '--cassettes', defaultCassetteDir(path.join(SCENARIOS, 'aria-remembers.yaml')), '--report-dir', reports, '--format', 'html,md']);
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(/FAIL/);
    expect(result.stderr).toMatch(/✗ aria never mentions "I remember" at turn 4: aria said "I remember" at turn 4/);
    const base = path.join(reports, path.basename(file, '.yaml'));
    const html = readFileSync(`${base}.html`, 'utf8');
    expect(html).toContain('<svg');
    expect(html).toContain('Good evening, Aria!');
    expect(html).toContain('FAILED');
    const json = JSON.parse(readFileSync(`${base}.json`, 'utf8')) as { passed: boolean; run: { transcript: unknown[] } };
    expect(json.passed).toBe(false);
    expect(json.run.transcript.length).toBeGreaterThan(8);
    expect(readFileSync(`${base}.md`, 'utf8')).toMatch(/\| ✗ \| aria never mentions/);
  }, 60_000);

  it('reports a changed request as a cassette miss with a diff against the nearest recording', async () => {
    const file = variant('aria-remembers', [['Do you know any songs about the sea and sailors?', 'Do you know any songs about mountains?']]);
    const result = await runCli(['simulate', file, '--replay', '--no-report', '--cassettes', defaultCassetteDir(path.join(SCENARIOS, 'aria-remembers.yaml'))]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/No cassette in .* matches this .* request/);
    expect(result.stderr).toMatch(/^-Do you know any songs about the sea and sailors\?$/m);
    expect(result.stderr).toMatch(/^\+Do you know any songs about mountains\?$/m);
    expect(result.stderr).toMatch(/at turn 2/);
  }, 60_000);

  it('exits 2 with the file, line and path of a mistake in a scenario', async () => {
    const file = path.join(work, 'broken.yaml');
    writeFileSync(file, 'name: broken\npersonas: [aria]\nscript:\n  - say: hello\n  - sya: oops\nstop:\n  max_turns: lots\n');
    const result = await runCli(['simulate', file, '--replay', '--no-report']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`${file}:5:`);
    expect(result.stderr).toContain('script[1]: unknown key "sya"');
    expect(result.stderr).toContain(`${file}:7:14: stop.max_turns:`);
  }, 60_000);
});

// Keeps a copy of a scenario next to its own cassettes working (the default cassette folder).
describe('default cassette folder', () => {
  it('is cassettes/<name>/ beside the scenario file', () => {
    const copy = path.join(work, 'lib');
    cpSync(SCENARIOS, copy, { recursive: true });
    expect(defaultCassetteDir(path.join(copy, 'aria-remembers.yaml'))).toBe(path.join(copy, 'cassettes', 'aria-remembers'));
  });
});
