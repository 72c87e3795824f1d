/** Tables on stdout and JSON files under bench/results/, with the machine they were measured on. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hardFdLimit, ROOT } from './processes.js';

export const RESULTS_DIR = path.join(ROOT, 'bench', 'results');

export interface Machine {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  ws: string;
  kernel: string;
  fdLimit: string;
  commit: string;
}

export function machine(): Machine {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT, encoding: 'utf8' }).trim();
    if (dirty.length > 0) commit += '+dirty';
  } catch {
    // not a git checkout
  }
  let wsVersion = 'unknown';
  try {
    wsVersion = (
      JSON.parse(execFileSync('node', ['-p', 'JSON.stringify(require("ws/package.json"))'], { cwd: ROOT, encoding: 'utf8' })) as {
        version: string;
      }
    ).version;
  } catch {
    // leave unknown
  }
  return {
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    ws: wsVersion,
    kernel: os.release(),
    fdLimit: hardFdLimit(),
    commit,
  };
}

/** Prints rows as an aligned table (first row = header). */
export function printTable(title: string, header: string[], rows: Array<Array<string | number>>): void {
  const cells = [header, ...rows.map((row) => row.map(String))];
  const widths = header.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  const line = (row: string[]): string => row.map((cell, column) => cell.padStart(widths[column]!)).join('  ');
  process.stdout.write(`\n${title}\n${line(header)}\n${widths.map((width) => '-'.repeat(width)).join('  ')}\n`);
  for (const row of cells.slice(1)) process.stdout.write(`${line(row)}\n`);
}

/** Writes `bench/results/<suite>.json` and returns its path. */
export function writeResults(suite: string, options: { quick: boolean }, results: unknown): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${suite}${options.quick ? '.quick' : ''}.json`);
  writeFileSync(
    file,
    `${JSON.stringify({ suite, quick: options.quick, date: new Date().toISOString(), machine: machine(), results }, null, 2)}\n`,
  );
  return file;
}

export function fixed(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '-';
}
