/**
 * `persona-mcp load`: a load and stress tool for users — N connections sending a request mix to a
 * running server, open loop (a fixed rate; latency from the scheduled send, no coordinated omission) or
 * closed loop (each connection waits for its answer), printing throughput and latency percentiles.
 * The engine is src/load/load-generator.ts; its histogram is the one bench/ uses.
 */
import type { Command } from 'commander';
import { exitAfterFlush } from './exit.js';

interface LoadFlags {
  url: string;
  apiKey?: string;
  connections: string;
  rate?: string;
  closed?: boolean;
  think: string;
  duration: string;
  warmup: string;
  mix: string;
  persona: string;
  message: string;
  json?: boolean;
}

/** Default params of the methods a mix may name; anything else is sent with `{}`. */
function paramsFor(method: string, persona: string, message: string): Record<string, unknown> {
  switch (method) {
    case 'persona.status':
    case 'persona.get':
    case 'emotional.get_state':
      return { persona_id: persona };
    case 'persona.chat':
      return { message, persona_id: persona, token_budget: 60 };
    case 'memory.search':
      return { query: message, persona_id: persona };
    case 'relationship.get':
      return { persona1_id: persona };
    default:
      return {};
  }
}

/** `30s`, `2m`, `500ms`, `10` (seconds). */
export function parseDuration(text: string): number | null {
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) return null;
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

/** `persona.list=3,persona.status=2,persona.chat` → kinds with weights (default 1). */
export function parseMix(text: string, persona: string, message: string): Array<{ method: string; params: Record<string, unknown>; weight: number }> | string {
  const kinds = [];
  for (const part of text.split(',').map((entry) => entry.trim()).filter((entry) => entry.length > 0)) {
    const [method, weightText] = part.split('=');
    const weight = weightText === undefined ? 1 : Number(weightText);
    if (!/^[a-z_]+(\.[a-z_]+)+$/.test(method!) || !Number.isInteger(weight) || weight < 1)
      return `"${part}" is not METHOD or METHOD=WEIGHT (a whole number ≥ 1), e.g. persona.list=3`;
    kinds.push({ method: method!, params: paramsFor(method!, persona, message), weight });
  }
  return kinds.length === 0 ? 'the mix names no method' : kinds;
}

export function registerLoadCommand(program: Command): void {
  program
    .command('load')
    .description('load a running server: connections × a request mix, open loop (--rate) or closed loop; prints throughput and latency percentiles')
    .option('--url <url>', 'the server', 'ws://127.0.0.1:8000/mcp')
    .option('--api-key <key>', 'API key (or PERSONA_MCP_API_KEY)')
    .option('-c, --connections <n>', 'WebSocket connections', '10')
    .option('-r, --rate <n>', 'open loop: requests per second offered in total (default 100 unless --closed)')
    .option('--closed', 'closed loop: each connection sends its next request when the answer arrived')
    .option('--think <duration>', 'closed loop: pause between an answer and the next request', '0')
    .option('-d, --duration <duration>', 'measured time (e.g. 30s, 2m)', '10s')
    .option('--warmup <duration>', 'sent but not measured, before the measured time', '2s')
    .option('--mix <list>', 'methods and weights, e.g. persona.list=3,persona.status=2,persona.chat=1', 'persona.list=1,persona.status=1')
    .option('--persona <id>', 'persona for persona.status, persona.chat, memory.search, ...', 'aria')
    .option('--message <text>', 'message for persona.chat (and the query of memory.search)', 'Hello! How are you today?')
    .option('--json', 'print the result as JSON')
    .action(async (flags: LoadFlags) => {
      await exitAfterFlush(await loadCommand(flags));
    });
}

async function loadCommand(flags: LoadFlags): Promise<number> {
  const fail = (message: string): number => {
    process.stderr.write(`${message}\n`);
    return 2;
  };
  const connections = Number(flags.connections);
  if (!Number.isInteger(connections) || connections < 1 || connections > 10_000) return fail(`--connections takes 1..10000, not "${flags.connections}".`);
  const durationMs = parseDuration(flags.duration);
  const warmupMs = parseDuration(flags.warmup);
  const thinkMs = parseDuration(flags.think);
  if (durationMs === null || durationMs <= 0) return fail(`--duration takes a duration like 30s or 2m, not "${flags.duration}".`);
  if (warmupMs === null) return fail(`--warmup takes a duration like 2s, not "${flags.warmup}".`);
  if (thinkMs === null) return fail(`--think takes a duration like 100ms, not "${flags.think}".`);
  if (flags.closed && flags.rate !== undefined) return fail('--rate is for the open loop; drop it or --closed.');
  const rate = flags.closed ? undefined : Number(flags.rate ?? 100);
  if (rate !== undefined && !(rate > 0 && rate <= 1_000_000)) return fail(`--rate takes requests per second above 0, not "${flags.rate}".`);
  const mix = parseMix(flags.mix, flags.persona, flags.message);
  if (typeof mix === 'string') return fail(`--mix: ${mix}.`);
  const { runLoad } = await import('../load/load-generator.js');
  const isTerminal = process.stderr.isTTY === true && flags.json !== true;
  process.stderr.write(
    `${flags.closed ? 'closed loop' : `open loop at ${rate}/s`} over ${connections} connections to ${flags.url}: ${warmupMs / 1000} s warm-up, ${durationMs / 1000} s measured\n`,
  );
  let result;
  try {
    result = await runLoad({
      url: flags.url,
      apiKey: flags.apiKey ?? process.env.PERSONA_MCP_API_KEY,
      connections,
      durationMs,
      warmupMs,
      mix,
      mode: flags.closed ? 'closed' : 'open',
      ...(rate === undefined ? {} : { ratePerSecond: rate }),
      thinkMs,
      onTick: ({ elapsedMs, completed, errors }) => {
        if (isTerminal) process.stderr.write(`\r\x1b[2K  ${(elapsedMs / 1000).toFixed(0)} s: ${completed} answers, ${errors} errors`);
      },
    });
  } catch (error) {
    if (isTerminal) process.stderr.write('\n');
    process.stderr.write(`persona-mcp load: ${(error as Error).message}\n`);
    return 1;
  }
  if (isTerminal) process.stderr.write('\n');
  if (flags.json) {
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  }
  const ms = (value: number): string => (Number.isFinite(value) ? value.toFixed(2) : '-');
  const rows: string[][] = [['', 'requests', 'errors', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms']];
  rows.push(['all', String(result.latencyMs.count), String(Object.values(result.errors).reduce((a, b) => a + b, 0)), ms(result.latencyMs.p50), ms(result.latencyMs.p90), ms(result.latencyMs.p99), ms(result.latencyMs.p999), ms(result.latencyMs.max)]);
  for (const [method, figures] of Object.entries(result.perMethod))
    rows.push([method, String(figures.latencyMs.count), String(figures.errors), ms(figures.latencyMs.p50), ms(figures.latencyMs.p90), ms(figures.latencyMs.p99), ms(figures.latencyMs.p999), ms(figures.latencyMs.max)]);
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  const lines = [
    `throughput: ${result.achievedPerSecond}/s achieved${result.offeredPerSecond === null ? '' : ` of ${result.offeredPerSecond}/s offered`}; ${result.sent} sent, ${result.completed} answered, ${result.lost} lost${result.mode === 'open' ? `, ${result.lateSends} sent late by the generator` : ''}`,
    result.mode === 'open' ? 'latency from each request\'s scheduled send time (open loop: stalls are counted, not hidden)' : 'latency from each request\'s send (closed loop: service time at this concurrency)',
    '',
    ...rows.map((row) => row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ')),
  ];
  for (const [code, count] of Object.entries(result.errors)) lines.push(`error ${code} × ${count}: ${result.errorMessages[code] ?? ''}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}
