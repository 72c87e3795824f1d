/**
 * `persona-mcp simulate FILE…`: runs scenario files (docs/simulation.md) against an embedded server
 * (default: its own temporary data dir, a simulated clock; optionally replaying or recording LLM
 * cassettes) or a running one (`--url`), shows progress, prints a summary table, writes reports, and
 * exits 1 when an assertion fails (2 when a file is invalid).
 */
import type { Command } from 'commander';
import { exitAfterFlush } from './exit.js';

interface SimulateFlags {
  url?: string;
  apiKey?: string;
  userKey: string[];
  replay?: boolean;
  record?: boolean;
  cassettes?: string;
  ollamaHost?: string;
  model?: string;
  parallel: string;
  reportDir: string;
  noReport?: boolean;
  report: boolean;
  format: string;
  json?: boolean;
  keepData?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description('run scenario files (YAML) against an embedded or running server, check their assertions, write reports')
    .argument('<files...>', 'scenario files (see scenarios/ and docs/simulation.md)')
    .option('--url <url>', 'a running server (ws://HOST:PORT/mcp); default: an embedded server per scenario')
    .option('--api-key <key>', 'with --url: key for setup and for users without their own (or PERSONA_MCP_API_KEY)')
    .option('--user-key <user=key>', 'with --url: a key for one simulated user (repeat per user)', collect, [])
    .option('--replay', 'embedded: answer from recorded cassettes only (deterministic, no model needed)')
    .option('--record', 'embedded: call the model and record cassettes')
    .option('--cassettes <dir>', 'cassette folder (default: cassettes/<scenario name>/ beside each file)')
    .option('--ollama-host <url>', 'embedded: the LLM backend (default: OLLAMA_HOST or http://127.0.0.1:11434)')
    .option('--model <name>', 'embedded: default model')
    .option('-p, --parallel <n>', 'scenarios run at once', '2')
    .option('--report-dir <dir>', 'where the JSON and HTML/Markdown reports go', 'simulation-reports')
    .option('--no-report', 'write no report files')
    .option('--format <list>', 'report formats besides JSON: html, md or html,md', 'html')
    .option('--json', 'print the reports as JSON on stdout instead of the table')
    .option('--keep-data', "embedded: keep each run's temporary data dir")
    .action(async (files: string[], flags: SimulateFlags) => {
      const code = await simulateCommand(files, flags);
      await exitAfterFlush(code);
    });
}

async function simulateCommand(files: string[], flags: SimulateFlags): Promise<number> {
  const { simulateFiles, summaryTable, failureDetails } = await import('../simulation/simulate.js');
  if (flags.replay && flags.record) {
    process.stderr.write('Choose one of --replay and --record.\n');
    return 2;
  }
  if (flags.url !== undefined && (flags.replay || flags.record)) {
    process.stderr.write('--replay and --record work with the embedded server only (drop --url).\n');
    return 2;
  }
  const userKeys: Record<string, string> = {};
  for (const pair of flags.userKey) {
    const at = pair.indexOf('=');
    if (at <= 0) {
      process.stderr.write(`--user-key takes USER=KEY, not "${pair}".\n`);
      return 2;
    }
    userKeys[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const formats = flags.format.split(',').map((format) => format.trim());
  if (formats.some((format) => format !== 'html' && format !== 'md')) {
    process.stderr.write(`--format takes html, md or html,md, not "${flags.format}".\n`);
    return 2;
  }
  const parallel = Number(flags.parallel);
  if (!Number.isInteger(parallel) || parallel < 1) {
    process.stderr.write(`--parallel takes a whole number ≥ 1, not "${flags.parallel}".\n`);
    return 2;
  }
  const progress = new ProgressDisplay(files, process.stderr.isTTY === true && flags.json !== true);
  const outcomes = await simulateFiles(files, {
    url: flags.url,
    apiKey: flags.apiKey ?? process.env.PERSONA_MCP_API_KEY,
    userKeys,
    cassetteMode: flags.replay ? 'replay' : flags.record ? 'record' : undefined,
    cassetteDir: flags.cassettes,
    ollamaHost: flags.ollamaHost,
    model: flags.model,
    parallel,
    reportDir: flags.report ? flags.reportDir : null,
    formats: formats as Array<'md' | 'html'>,
    keepDataDir: flags.keepData === true,
    onProgress: (file, update) => progress.update(file, update),
  });
  progress.finish();
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(outcomes.map((outcome) => outcome.report ?? { file: outcome.file, error: outcome.loadError }), null, 2)}\n`);
  } else {
    process.stdout.write(`${summaryTable(outcomes)}\n`);
    const written = outcomes.flatMap((outcome) => outcome.reportFiles);
    if (written.length > 0) process.stdout.write(`\nreports: ${written.filter((name) => !name.endsWith('.json')).join(', ') || written.join(', ')}\n`);
  }
  const failures = failureDetails(outcomes);
  if (failures.length > 0) process.stderr.write(`\n${failures.join('\n')}\n`);
  if (outcomes.some((outcome) => outcome.report === null)) return 2;
  return outcomes.every((outcome) => outcome.report!.passed) ? 0 : 1;
}

/** One line per scenario: a bar of turns taken out of the cap, redrawn in place on a terminal. */
class ProgressDisplay {
  private readonly lines = new Map<string, string>();
  private drawn = 0;

  constructor(
    private readonly files: string[],
    private readonly isTerminal: boolean,
  ) {
    for (const file of files) this.lines.set(file, `${file}: waiting`);
  }

  update(file: string, update: { turn: number; maxTurns: number; line: string } | { done: boolean; passed: boolean }): void {
    if ('done' in update) {
      this.lines.set(file, `${file}: ${update.passed ? 'passed' : 'FAILED'}`);
      if (!this.isTerminal) process.stderr.write(`${file}: ${update.passed ? 'passed' : 'FAILED'}\n`);
    } else {
      const width = 20;
      const filled = Math.min(width, Math.round((update.turn / Math.max(1, update.maxTurns)) * width));
      const columns = process.stderr.columns ?? 100;
      const text = `${file}: [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] turn ${update.turn} ${update.line.replace(/\s+/g, ' ')}`;
      this.lines.set(file, text.length > columns - 1 ? `${text.slice(0, columns - 2)}…` : text);
    }
    this.draw();
  }

  finish(): void {
    this.draw();
  }

  private draw(): void {
    if (!this.isTerminal) return;
    const out = [...this.files.map((file) => this.lines.get(file)!)];
    process.stderr.write(`${this.drawn > 0 ? `\x1b[${this.drawn}A` : ''}${out.map((line) => `\x1b[2K${line}`).join('\n')}\n`);
    this.drawn = out.length;
  }
}
