/**
 * The regression guard (`npm run bench -- --quick --check`): the server's cost per request, per chat turn
 * and per idle connection, each divided by the bare echo server's figure measured in the same run, against
 * the ratios committed in bench/reference.json. Ratios, never absolute times: this VM's speed moves ±30 %
 * between runs, and the echo server moves with it. A ratio more than 25 % above its reference fails.
 *
 * A figure over the line is measured again before the run fails (`ATTEMPTS` in all, each figure keeping
 * its lowest ratio): on two shared cores one quick run of 40 chat turns moved by ±25 % with the code
 * unchanged, and interference only ever adds cost, so a regression is one that holds in every attempt.
 *
 * `--check --update-reference` writes the run's ratios as the new reference (after a change that is
 * meant to cost more, or a faster one worth keeping).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { BroadcastRun } from '../suites/broadcast.js';
import type { ChatRun } from '../suites/chat.js';
import type { ConnectionsRun } from '../suites/connections.js';
import type { OpenLoopRun } from '../suites/open-loop.js';
import type { LoadRun } from '../suites/rpc.js';
import { ROOT } from './processes.js';
import type { Machine } from './report.js';

export const REFERENCE_FILE = path.join(ROOT, 'bench', 'reference.json');
/** How much worse than the reference a ratio may be before the check fails. */
export const TOLERANCE = 0.25;
/** Runs of a figure before it counts as regressed: the first and up to two confirmations. */
export const ATTEMPTS = 3;

export interface SuiteResults {
  connections?: ConnectionsRun[];
  rpc?: LoadRun[];
  chat?: ChatRun[];
  'open-loop'?: OpenLoopRun[];
  /** Not checked: a broadcast has no echo counterpart to divide by. */
  broadcast?: BroadcastRun[];
}

/** figure name → cost relative to echo in the same run (lower is better). */
export type Ratios = Record<string, number>;

export interface Reference {
  commit: string;
  measuredAt: string;
  quick: boolean;
  ratios: Ratios;
}

const round = (value: number): number => Math.round(value * 1000) / 1000;

/** The ratios a run supports; figures without their echo counterpart are left out. */
export function ratiosOf(results: SuiteResults): Ratios {
  const ratios: Ratios = {};
  const rpc = results.rpc ?? [];
  const echoUs = (connections: number, method: string): number | undefined =>
    rpc.find((run) => run.target === 'echo' && run.connections === connections && run.method === method)?.serverCpuUsPerRequest;
  for (const run of rpc) {
    const echo = echoUs(run.connections, run.method);
    if (run.target === 'persona-mcp' && echo) ratios[`rpc ${run.method} @${run.connections} cpu/request`] = round(run.serverCpuUsPerRequest / echo);
  }
  // A chat turn has no echo of its own: its CPU is counted in echo requests (the cheapest rpc loop's).
  const echoFloor = Math.min(...rpc.filter((run) => run.target === 'echo').map((run) => run.serverCpuUsPerRequest));
  if (Number.isFinite(echoFloor) && echoFloor > 0) {
    for (const run of results.chat ?? []) ratios[`chat ${run.mode} cpu/turn`] = round((run.serverCpuMsPerTurn * 1000) / echoFloor);
  }
  const openLoop = results['open-loop'] ?? [];
  const openEcho = openLoop.find((run) => run.target === 'echo')?.serverCpuUsPerRequest;
  const openPersona = openLoop.find((run) => run.target === 'persona-mcp')?.serverCpuUsPerRequest;
  if (openEcho && openPersona) ratios['open-loop cpu/request'] = round(openPersona / openEcho);
  const connections = results.connections ?? [];
  for (const run of connections.filter((entry) => entry.target === 'persona-mcp')) {
    const echo = connections.find((entry) => entry.target === 'echo' && entry.connections === run.connections);
    if (echo && echo.rssPerConnectionKiB > 0) ratios[`connections @${run.connections} KiB/connection`] = round(run.rssPerConnectionKiB / echo.rssPerConnectionKiB);
  }
  return ratios;
}

export interface CheckRow {
  figure: string;
  reference: number | null;
  now: number;
  /** now / reference − 1, or null without a reference. */
  change: number | null;
  verdict: 'ok' | 'REGRESSION' | 'new';
}

export function compare(reference: Ratios, now: Ratios): CheckRow[] {
  return Object.entries(now).map(([figure, value]) => {
    const before = reference[figure];
    if (before === undefined) return { figure, reference: null, now: value, change: null, verdict: 'new' };
    const change = value / before - 1;
    return { figure, reference: before, now: value, change, verdict: change > TOLERANCE ? 'REGRESSION' : 'ok' };
  });
}

/**
 * The suites to run again to measure `figures` anew: each figure's own suite, and rpc for a chat figure
 * (a turn is counted in the run's cheapest echo request).
 */
export function suitesBehind(figures: readonly string[]): Array<keyof SuiteResults> {
  const suites = new Set<keyof SuiteResults>();
  for (const figure of figures) {
    const suite = figure.split(' ')[0] as keyof SuiteResults;
    if (suite === 'chat') suites.add('rpc');
    suites.add(suite);
  }
  return (['connections', 'rpc', 'chat', 'open-loop'] as const).filter((suite) => suites.has(suite));
}

/** Each figure's lowest ratio of two runs (a figure only one of them measured is kept as it is). */
export function lowestOf(first: Ratios, second: Ratios): Ratios {
  const lowest: Ratios = { ...first };
  for (const [figure, value] of Object.entries(second)) lowest[figure] = Math.min(value, first[figure] ?? Infinity);
  return lowest;
}

export function readReference(): Reference | null {
  try {
    return JSON.parse(readFileSync(REFERENCE_FILE, 'utf8')) as Reference;
  } catch {
    return null;
  }
}

export function writeReference(ratios: Ratios, info: Machine, quick: boolean): void {
  const reference: Reference = { commit: info.commit, measuredAt: new Date().toISOString(), quick, ratios };
  writeFileSync(REFERENCE_FILE, `${JSON.stringify(reference, null, 2)}\n`);
}
