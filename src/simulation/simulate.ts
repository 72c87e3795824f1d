/**
 * Runs scenario files end to end — load, run (embedded or against a server), assert, score, report —
 * several at a time. The `persona-mcp simulate` command and the test suite both call this.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CassetteMode } from '../adapters/llm-replay/replay-provider.js';
import type { ConfigInput } from '../config/schema.js';
import { evaluateAssertions } from './assertions.js';
import { scoreConsistency, type ConsistencyScore } from './consistency.js';
import { judgeConsistency } from './judge.js';
import type { SimulationRun } from './run-record.js';
import { buildReport, renderHtml, renderMarkdown, type ScenarioReport } from './report/report.js';
import { runScenario, type RunProgress } from './runner.js';
import { loadScenarioFile, ScenarioError } from './scenario/load.js';
import { embeddedTarget, remoteTarget, type SimulationTarget } from './target.js';

export interface SimulateOptions {
  /** A running server; without it each scenario gets an embedded server. */
  url?: string | undefined;
  apiKey?: string | undefined;
  userKeys?: Record<string, string>;
  /** Embedded only: replay or record cassettes; the folder defaults to `<scenario dir>/cassettes/<name>/`. */
  cassetteMode?: CassetteMode | undefined;
  cassetteDir?: string | undefined;
  ollamaHost?: string | undefined;
  model?: string | undefined;
  config?: ConfigInput | undefined;
  /** Scenarios run at once. Defaults to 2. */
  parallel?: number;
  /** Where reports go; none are written when null. */
  reportDir?: string | null;
  formats?: Array<'md' | 'html'>;
  keepDataDir?: boolean;
  onProgress?: (file: string, progress: RunProgress | { done: boolean; passed: boolean }) => void;
}

export interface ScenarioOutcome {
  file: string;
  /** Null when the file could not be loaded (then `loadError` says why). */
  report: ScenarioReport | null;
  loadError: string | null;
  reportFiles: string[];
}

/** The default cassette folder of a scenario file: `cassettes/<file name without extension>/` beside it. */
export function defaultCassetteDir(file: string): string {
  return path.join(path.dirname(file), 'cassettes', path.basename(file).replace(/\.(ya?ml|json)$/i, ''));
}

export async function simulateFiles(files: readonly string[], options: SimulateOptions): Promise<ScenarioOutcome[]> {
  const outcomes: ScenarioOutcome[] = new Array(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const index = next++;
      outcomes[index] = await simulateFile(files[index]!, options);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.parallel ?? 2, files.length)) }, worker));
  return outcomes;
}

export async function simulateFile(file: string, options: SimulateOptions): Promise<ScenarioOutcome> {
  let scenario;
  try {
    scenario = await loadScenarioFile(file);
  } catch (error) {
    if (error instanceof ScenarioError) return { file, report: null, loadError: error.message, reportFiles: [] };
    throw error;
  }
  const users = scenario.users.map((user) => (typeof user === 'string' ? user : user.id));
  let target: SimulationTarget;
  try {
    target =
      options.url !== undefined
        ? remoteTarget({ url: options.url, apiKey: options.apiKey, userKeys: options.userKeys ?? {} })
        : await embeddedTarget({
            startMs: Date.parse(scenario.clock.start),
            users,
            cassettes: options.cassetteMode === undefined ? undefined : { mode: options.cassetteMode, directory: options.cassetteDir ?? defaultCassetteDir(file) },
            ollamaHost: options.ollamaHost,
            model: options.model,
            config: options.config,
            keepDataDir: options.keepDataDir,
          });
  } catch (error) {
    return { file, report: null, loadError: `${file}: could not start the embedded server: ${(error as Error).message}`, reportFiles: [] };
  }
  let report: ScenarioReport;
  try {
    const run = await runScenario(scenario, target, { file, onProgress: (progress) => options.onProgress?.(file, progress) });
    let consistency = run.personas.map((persona) => scoreConsistency(persona, run.transcript, run.facts));
    if (scenario.judge === 'llm') consistency = await judged(target, run, consistency);
    report = buildReport(run, evaluateAssertions(scenario.assertions, run, consistency), consistency);
  } finally {
    await target.close();
  }
  options.onProgress?.(file, { done: true, passed: report.passed });
  const reportFiles: string[] = [];
  if (options.reportDir !== null && options.reportDir !== undefined) {
    mkdirSync(options.reportDir, { recursive: true });
    const base = path.join(options.reportDir, path.basename(file).replace(/\.(ya?ml|json)$/i, ''));
    writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
    reportFiles.push(`${base}.json`);
    for (const format of options.formats ?? ['html']) {
      const out = `${base}.${format}`;
      writeFileSync(out, format === 'md' ? renderMarkdown(report) : renderHtml(report));
      reportFiles.push(out);
    }
  }
  return { file, report, loadError: null, reportFiles };
}

/** The LLM judge's scores where a model answers; the offline ones (noted in the run) where not. */
async function judged(target: SimulationTarget, run: SimulationRun, offline: ConsistencyScore[]): Promise<ConsistencyScore[]> {
  if (target.judge === null) {
    run.notes.push('judge: llm needs the embedded server (its model); the offline consistency score is used');
    return offline;
  }
  const status = await target.judge.llm.status();
  if (!status.reachable) {
    run.notes.push(`judge: llm, but the model is not reachable (${status.error ?? 'no answer'}); the offline consistency score is used`);
    return offline;
  }
  try {
    const scores = [];
    for (const score of offline) scores.push(await judgeConsistency(target.judge.llm, target.judge.model, run.personas.find((persona) => persona.id === score.persona)!, run.transcript, score));
    return scores;
  } catch (error) {
    run.notes.push(`judge: llm failed (${(error as Error).message.split('\n')[0]}); the offline consistency score is used`);
    return offline;
  }
}

/** The summary table printed after a run (plain text, fixed columns). */
export function summaryTable(outcomes: readonly ScenarioOutcome[]): string {
  const header = ['scenario', 'result', 'turns', 'simulated', 'wall s', 'assertions', 'first failure'];
  const rows = outcomes.map((outcome) => {
    if (outcome.report === null) return [path.basename(outcome.file), 'INVALID', '', '', '', '', outcome.loadError?.split('\n')[0] ?? ''];
    const { run, assertions, passed } = outcome.report;
    const failed = assertions.find((assertion) => !assertion.passed);
    return [
      run.scenario.length > 40 ? `${run.scenario.slice(0, 39)}…` : run.scenario,
      passed ? 'pass' : 'FAIL',
      String(run.turns),
      `${Math.round(run.simulatedMs / 60_000)} min`,
      (run.wallMs / 1000).toFixed(1),
      `${assertions.filter((assertion) => assertion.passed).length}/${assertions.length}`,
      failed === undefined ? '' : `${failed.name}${failed.turn === null ? '' : ` (turn ${failed.turn})`}`,
    ];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column]!.length)));
  const line = (cells: string[]): string => cells.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

/** Every failed assertion (and load error) with its turn, for the end of the output. */
export function failureDetails(outcomes: readonly ScenarioOutcome[]): string[] {
  const details: string[] = [];
  for (const outcome of outcomes) {
    if (outcome.report === null) {
      details.push(outcome.loadError ?? `${outcome.file}: not run`);
      continue;
    }
    for (const assertion of outcome.report.assertions) {
      if (!assertion.passed) details.push(`${outcome.file}: ✗ ${assertion.name}${assertion.turn === null ? '' : ` at turn ${assertion.turn}`}: ${assertion.message}`);
    }
  }
  return details;
}
