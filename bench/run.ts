/**
 * `npm run bench [-- [suite ...] [--quick] [--no-pin] [--no-build] [--cpu-prof] [--alloc-prof] [--check [--update-reference]]]`
 *
 * Suites: connections, rpc, chat, open-loop, broadcast (default: all, in that order). Each prints a table and
 * writes bench/results/<suite>.json (<suite>.quick.json with --quick). The server under test is the
 * compiled one (dist/), rebuilt first when src/ is newer; see bench/README.md for what each suite
 * measures and the numbers on the reference machine. `--check` compares the run's costs, as ratios to
 * the echo server in the same run, with bench/reference.json and exits 1 on a regression (see
 * lib/regression-check.ts).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { ROOT } from './lib/processes.js';
import {
  ATTEMPTS,
  compare,
  lowestOf,
  ratiosOf,
  readReference,
  REFERENCE_FILE,
  suitesBehind,
  TOLERANCE,
  writeReference,
  type CheckRow,
  type SuiteResults,
} from './lib/regression-check.js';
import { fixed, machine, printTable, type Machine } from './lib/report.js';
import type { SuiteOptions } from './lib/setup.js';
import { runBroadcastSuite } from './suites/broadcast.js';
import { runChatSuite } from './suites/chat.js';
import { runConnectionsSuite } from './suites/connections.js';
import { runOpenLoopSuite } from './suites/open-loop.js';
import { runRpcSuite } from './suites/rpc.js';

const SUITES: Record<keyof SuiteResults, (options: SuiteOptions) => Promise<unknown>> = {
  connections: runConnectionsSuite,
  rpc: runRpcSuite,
  chat: runChatSuite,
  'open-loop': runOpenLoopSuite,
  broadcast: runBroadcastSuite,
};

function usage(): never {
  process.stderr.write(`usage: npm run bench -- [${Object.keys(SUITES).join('|')} ...] [--quick] [--no-pin] [--no-build] [--cpu-prof] [--alloc-prof] [--check [--update-reference]]\n`);
  process.exit(2);
}

function newestMtime(directory: string): number {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestMtime(full) : statSync(full).mtimeMs);
  }
  return newest;
}

/** Builds dist/ when it is missing or older than src/: the bench measures the compiled server. */
function ensureBuilt(): void {
  const entry = path.join(ROOT, 'dist', 'cli', 'main.js');
  if (existsSync(entry) && statSync(entry).mtimeMs >= newestMtime(path.join(ROOT, 'src'))) return;
  process.stderr.write('building dist/ (npm run build) ...\n');
  try {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
  } catch (error) {
    // tsc still emits JavaScript on type errors; measure that, but say so loudly.
    if (!existsSync(entry)) throw error;
    process.stderr.write('WARNING: the build reported errors (above); measuring the JavaScript it emitted anyway.\n');
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const flags = new Set(args.filter((arg) => arg.startsWith('--')));
  for (const flag of flags) if (!['--quick', '--no-pin', '--no-build', '--cpu-prof', '--alloc-prof', '--check', '--update-reference'].includes(flag)) usage();
  if (flags.has('--update-reference') && !flags.has('--check')) usage();
  const chosen = args.filter((arg) => !arg.startsWith('--')) as Array<keyof SuiteResults>;
  for (const suite of chosen) if (!(suite in SUITES)) usage();
  const suites = chosen.length > 0 ? chosen : (Object.keys(SUITES) as Array<keyof SuiteResults>);
  // A chat turn's cost is checked in echo requests, which the rpc suite measures.
  if (flags.has('--check') && suites.includes('chat') && !suites.includes('rpc')) suites.unshift('rpc');
  const PROFILES = path.join(ROOT, 'bench', 'results', 'profiles');
  if (flags.has('--alloc-prof')) {
    mkdirSync(PROFILES, { recursive: true });
    process.env.PERSONA_ALLOC_PROF_DIR = PROFILES; // the server inherits it
  }
  const options: SuiteOptions = {
    quick: flags.has('--quick'),
    isPinned: !flags.has('--no-pin'),
    serverNodeFlags: [
      ...(flags.has('--cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${PROFILES}`] : []),
      // Every allocation sampled, collected ones included (what the GC works on): bench/lib/alloc-sampler.mjs.
      ...(flags.has('--alloc-prof') ? ['--import', pathToFileURL(path.join(ROOT, 'bench', 'lib', 'alloc-sampler.mjs')).href] : []),
    ],
  };
  if (!flags.has('--no-build')) ensureBuilt();

  const info = machine();
  process.stdout.write(
    `persona-mcp bench${options.quick ? ' (quick)' : ''}: ${info.cpus} × ${info.cpuModel}, ${info.memoryGiB} GiB, Node ${info.node}, ws ${info.ws}, ` +
      `open files ${info.fdLimit}, commit ${info.commit}\n`,
  );
  const started = performance.now();
  const results = await runSuites(suites, options);
  process.stdout.write(`\nall done in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
  if (flags.has('--check')) process.exitCode = await check(results, options, info, flags.has('--update-reference'));
}

async function runSuites(suites: ReadonlyArray<keyof SuiteResults>, options: SuiteOptions): Promise<SuiteResults> {
  const results: Record<string, unknown> = {};
  for (const suite of suites) {
    const suiteStarted = performance.now();
    process.stderr.write(`[${suite}] ...\n`);
    results[suite] = await SUITES[suite](options);
    process.stderr.write(`[${suite}] done in ${((performance.now() - suiteStarted) / 1000).toFixed(1)} s\n`);
  }
  return results as SuiteResults;
}

/**
 * Prints the comparison with the reference; 1 when a figure regressed by more than the tolerance in every
 * one of `ATTEMPTS` runs (the suites behind a figure over the line run again, and each figure keeps its
 * lowest ratio).
 */
async function check(results: SuiteResults, options: SuiteOptions, info: Machine, update: boolean): Promise<number> {
  let ratios = ratiosOf(results);
  const reference = readReference();
  let rows = compare(reference?.ratios ?? {}, ratios);
  printCheck(rows, reference === null ? 'no reference yet' : `the reference of ${reference.commit} (${reference.measuredAt.slice(0, 10)})`);
  if (update) {
    writeReference(ratios, info, options.quick);
    process.stdout.write(`wrote ${path.relative(ROOT, REFERENCE_FILE)}\n`);
    return 0;
  }
  for (let attempt = 2; attempt <= ATTEMPTS && rows.some((row) => row.verdict === 'REGRESSION'); attempt++) {
    const regressed = rows.filter((row) => row.verdict === 'REGRESSION').map((row) => row.figure);
    const suites = suitesBehind(regressed);
    process.stdout.write(`\n${regressed.length} figure(s) over the line; measuring again (${suites.join(', ')}), attempt ${attempt} of ${ATTEMPTS}\n`);
    ratios = lowestOf(ratios, ratiosOf(await runSuites(suites, options)));
    rows = compare(reference?.ratios ?? {}, ratios);
    printCheck(rows, `the reference, each figure's lowest of ${attempt} runs`);
  }
  const regressions = rows.filter((row) => row.verdict === 'REGRESSION').length;
  process.stdout.write(regressions === 0 ? 'check passed\n' : `check FAILED: ${regressions} figure(s) regressed by more than ${TOLERANCE * 100} % in ${ATTEMPTS} runs\n`);
  return regressions === 0 ? 0 : 1;
}

function printCheck(rows: readonly CheckRow[], against: string): void {
  printTable(
    `check: cost as a multiple of the echo server's in the same run, against ${against}; fails above +${TOLERANCE * 100} %`,
    ['figure', 'reference ×echo', 'now ×echo', 'change', 'verdict'],
    rows.map((row) => [row.figure, row.reference === null ? '—' : fixed(row.reference), fixed(row.now), row.change === null ? '—' : `${row.change > 0 ? '+' : ''}${Math.round(row.change * 100)} %`, row.verdict]),
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
