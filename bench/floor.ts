/**
 * `npx tsx bench/floor.ts [--turns N] [--rounds N] [--no-pieces] [--no-pin]`: what a chat turn's I/O costs on this
 * machine with none of persona-mcp's logic, beside persona-mcp's own turn in the same run.
 *
 * Segments alternate, each its own server process on the same seeded data dir (10,000 stored messages, the
 * chat suite's `seed`), the same instant fake model, one client sending turns one after another as the chat
 * suite does (warm-up, then `--turns` plain and `--turns` streaming, then the background work waited for):
 * `ours` (the compiled server, or `PERSONA_BENCH_SERVER`), then `floor` (floor-server.ts: `ws` + undici +
 * better-sqlite3, nothing else) doing what the `ours` segment just did — its turn's chat request body, its
 * background model calls replayed at their rate after the reply, its answer frame's size, its rows per turn in
 * the same write transactions — and, unless `--no-pieces`, the floor of each piece alone: `ws` only (the
 * recorded reply sent back), `ws+model`, `ws+sql`. Repeated `--rounds` times (default 2).
 *
 * Columns as the chat suite's: server time = round trip minus the time inside the fake model of the turn's
 * own calls; first chunk (streaming); server CPU per turn from /proc (user + system, every thread: GC helpers
 * and the jobs included, measured after the background work ran out) and the event loop's share. Writes
 * bench/results/floor.json.
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { DATABASE_FILE_NAME } from '../src/config/paths.js';
import { seedText } from './lib/chat-texts.js';
import { keepWindows, profileClock, type Profile } from './lib/cpu-profile.js';
import { MESSAGE_SLOT, type FloorShape } from './lib/floor-shape.js';
import { Histogram } from './lib/histogram.js';
import { startInstantLlm, type InstantLlm } from './lib/instant-llm.js';
import { defaultPlacement, startFloorServer, startPersonaServer, type ServerProcess } from './lib/processes.js';
import { PIECES, piecesOf, type Piece } from './lib/profile-pieces.js';
import { fixed, printTable, RESULTS_DIR, writeResults } from './lib/report.js';
import { benchDir } from './lib/setup.js';
import { SyscallCounter } from './lib/syscall-counter.js';
import { ChatClient, criticalLlmMs, kindOfCall, seed } from './suites/chat.js';

const MODEL = 'llama3.1:8b';
const WARMUP = 50;
const PROFILES = path.join(RESULTS_DIR, 'profiles');
const KNOWN_FLAGS = new Set(['--turns', '--rounds', '--no-pieces', '--no-pin', '--cpu-prof', '--syscalls', '--help']);
/** Tables whose rows a turn adds, counted by their newest key (rows deleted later still count). */
const ROW_TABLES = ['messages', 'memories', 'relationship_events', 'mood_samples', 'message_threads', 'jobs'] as const;

interface ModeRun {
  mode: 'plain' | 'streaming';
  serverP50: number;
  serverP99: number;
  /** Server time minus the time its event loop waited, runnable, for a CPU other processes held (the chat suite's `own`). */
  ownP50: number;
  firstChunkP50: number | null;
  cpuMsPerTurn: number;
  loopCpuMsPerTurn: number;
  llmCallsPerTurn: number;
}

interface Segment {
  round: number;
  build: string;
  runs: ModeRun[];
  /** With `--cpu-prof`: the server's profiled CPU a turn (both modes and the jobs), ms by piece. */
  pieces: Record<Piece, number> | null;
  /** With `--syscalls`: the server's system calls a turn (every thread, `strace -c`), by name. */
  syscalls: Record<string, number> | null;
  rowsPerTurn: Record<string, number>;
  jobsPerTurn: Record<string, number>;
}

function usage(code = 2): never {
  process.stderr.write(
    'usage: npx tsx bench/floor.ts [--turns N (150)] [--rounds N (2)] [--no-pieces] [--no-pin] [--cpu-prof] [--syscalls]\n' +
      '  a chat turn\'s I/O with none of our logic (ws + undici + better-sqlite3, bench/floor-server.ts) beside persona-mcp\'s\n' +
      '  turn, segments alternating: ours, floor, then each piece alone (ws, ws+model, ws+sql) unless --no-pieces.\n' +
      '  --cpu-prof: each server\'s main-thread time by piece; --syscalls: each server\'s system calls a turn (strace -c).\n',
  );
  process.exit(code);
}

function optionOf(args: string[], name: string, fallback: number): number {
  const at = args.indexOf(name);
  if (at < 0) return fallback;
  const value = Number(args[at + 1]);
  if (!Number.isInteger(value) || value < 1) usage();
  return value;
}

/** The newest key of each table and the vector rows' count: what a stretch of turns wrote is the difference. */
function marksOf(file: string): Record<string, number> & { jobId: number } {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    const marks: Record<string, number> = {};
    for (const table of ROW_TABLES) marks[table] = (db.prepare(`SELECT coalesce(max(rowid), 0) FROM ${table}`).pluck().get() as number) ?? 0;
    marks['memory_vectors'] = db.prepare('SELECT count(*) FROM memory_vectors').pluck().get() as number;
    return { ...marks, jobId: marks['jobs']! };
  } finally {
    db.close();
  }
}

function jobsSince(file: string, jobId: number, turns: number): Record<string, number> {
  const db = new BetterSqlite3(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT type, count(*) AS count FROM jobs WHERE id > ? GROUP BY type').all(jobId) as Array<{ type: string; count: number }>;
    return Object.fromEntries(rows.map((row) => [row.type, round2(row.count / turns)]));
  } finally {
    db.close();
  }
}

/**
 * The segment's main-thread profile (`CPU.<date>.<time>.<pid>.0.<n>.cpuprofile`), its measured window only, in
 * ms a turn by piece. Worker threads are left out: persona-mcp's WAL checkpointer thread spends its samples
 * waiting for the disk, which a wall-time sample charges as if it ran.
 */
function piecesPerTurn(profileDir: string, window: [number, number], turns: number): Record<Piece, number> {
  const file = readdirSync(profileDir).find((name) => /\.\d+\.0\.\d+\.cpuprofile$/.test(name));
  if (file === undefined) throw new Error(`no main-thread CPU profile in ${profileDir}`);
  const pieces = piecesOf(keepWindows(JSON.parse(readFileSync(path.join(profileDir, file), 'utf8')) as Profile, [window]));
  return Object.fromEntries(PIECES.map((piece) => [piece, round2(pieces[piece] / turns)])) as Record<Piece, number>;
}

function perTurn(counts: Record<string, number>, turns: number): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).map(([name, count]) => [name, round2(count / turns)]));
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

interface Measured {
  runs: ModeRun[];
  /** The measured stretch on the profiles' clock. */
  window: [number, number];
  syscalls: Record<string, number> | null;
  rowsPerTurn: Record<string, number>;
  jobsPerTurn: Record<string, number>;
  /** What the floor replays of this segment's turns. */
  shape: Omit<FloorShape, 'databaseFile'>;
}

/** Warm-up, then `turns` plain and `turns` streaming turns, each mode's CPU read after the background work ran out. */
async function measure(
  server: ServerProcess,
  llm: InstantLlm,
  databaseFile: string,
  turns: number,
  tag: string,
  countsSyscalls: boolean,
): Promise<Measured> {
  const client = await ChatClient.connect(server.url);
  try {
    for (let index = 0; index < WARMUP; index++) await client.turn(`warming up ${index}: ${seedText(index)}`, index % 2 === 1);
    await client.waitForJobs();
    const marks = marksOf(databaseFile);
    const callsBefore = llm.calls.length;
    const tracer = countsSyscalls ? await SyscallCounter.attach(server.pid) : null;
    const measuredFrom = profileClock();
    const runs: ModeRun[] = [];
    const resultBytes = { plain: 0, streaming: 0 };
    let deltas: string[] = [];
    let chatBody = '';
    for (const mode of ['plain', 'streaming'] as const) {
      const serverTime = new Histogram();
      const ownTime = new Histogram();
      const firstChunk = new Histogram();
      const sizes: number[] = [];
      const cpuBefore = server.cpuMs();
      const loopBefore = server.loopCpuMs();
      const modeCallsBefore = llm.calls.length;
      for (let index = 0; index < turns; index++) {
        const marker = `bench-${mode}-${index}: ${tag} `;
        const llmBefore = llm.calls.length;
        const waitBefore = server.runqueueWaitMs();
        const timing = await client.turn(`${marker}${seedText(index + 11)}`, mode === 'streaming');
        const serverMs = timing.roundTripMs - criticalLlmMs(llm.calls.slice(llmBefore), marker);
        serverTime.record(serverMs * 1000);
        ownTime.record(Math.max(0, serverMs - (server.runqueueWaitMs() - waitBefore)) * 1000);
        if (timing.firstChunkMs !== null) firstChunk.record(timing.firstChunkMs * 1000);
        sizes.push(timing.resultBytes);
        if (mode === 'streaming') deltas = timing.deltas;
        const chat = llm.calls.slice(llmBefore).find((call) => call.path === '/api/chat' && call.body.includes(marker));
        if (chat !== undefined) chatBody = chat.body;
      }
      await client.waitForJobs();
      resultBytes[mode] = median(sizes);
      const latency = serverTime.summaryMs();
      runs.push({
        mode,
        serverP50: latency.p50,
        serverP99: latency.p99,
        ownP50: ownTime.summaryMs().p50,
        firstChunkP50: mode === 'streaming' ? firstChunk.summaryMs().p50 : null,
        cpuMsPerTurn: round2((server.cpuMs() - cpuBefore) / turns),
        loopCpuMsPerTurn: round2((server.loopCpuMs() - loopBefore) / turns),
        llmCallsPerTurn: round2((llm.calls.length - modeCallsBefore) / turns),
      });
    }
    const window: [number, number] = [measuredFrom, profileClock()];
    const syscalls = tracer === null ? null : perTurn(await tracer.stop(), 2 * turns);
    const after = marksOf(databaseFile);
    const rowsPerTurn = Object.fromEntries(
      [...ROW_TABLES, 'memory_vectors'].map((table) => [table, round2((after[table]! - marks[table]!) / (2 * turns))]),
    );
    const calls = llm.calls.slice(callsBefore);
    const body = JSON.parse(chatBody || '{"messages":[{}]}') as { messages: Array<{ content?: string }> };
    body.messages.at(-1)!.content = MESSAGE_SLOT;
    return {
      runs,
      window,
      syscalls,
      rowsPerTurn,
      jobsPerTurn: jobsSince(databaseFile, marks.jobId, 2 * turns),
      shape: {
        chatBody: JSON.stringify(body),
        backgroundCalls: calls.filter((call) => kindOfCall(call) !== 'turn').map((call) => ({ path: call.path, body: call.body })),
        shapeTurns: 2 * turns,
        resultBytes,
        deltas,
        rowsPerTurn,
        jobsPerTurn: {},
      },
    };
  } finally {
    client.close();
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) usage(0);
  for (const arg of args) if (arg.startsWith('--') && !KNOWN_FLAGS.has(arg)) usage();
  const turns = optionOf(args, '--turns', 150);
  const rounds = optionOf(args, '--rounds', 2);
  const withPieces = !args.includes('--no-pieces');
  const isProfiled = args.includes('--cpu-prof');
  const countsSyscalls = args.includes('--syscalls');
  const placement = defaultPlacement(!args.includes('--no-pin'));
  const llm = await startInstantLlm([MODEL, 'nomic-embed-text:latest']);
  const dir = benchDir('floor');
  const segments: Segment[] = [];
  try {
    await seed(dir.dataDir, llm.url);
    const databaseFile = path.join(dir.dataDir, DATABASE_FILE_NAME);
    let shape: FloorShape | null = null;
    let segmentNumber = 0;
    const run = async (round: number, build: string, start: (nodeFlags: string[]) => Promise<ServerProcess>): Promise<void> => {
      const profileDir = path.join(PROFILES, `floor-${process.pid}-s${segmentNumber + 1}`);
      const server = await start(isProfiled ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
      let result: Measured;
      try {
        process.stderr.write(`  floor: round ${round}, ${build} ...\n`);
        result = await measure(server, llm, databaseFile, turns, `s${++segmentNumber}`, countsSyscalls);
        if (build === 'ours') shape = { ...result.shape, jobsPerTurn: result.jobsPerTurn, databaseFile };
      } finally {
        await server.stop();
      }
      const pieces = isProfiled ? piecesPerTurn(profileDir, result.window, 2 * turns) : null;
      segments.push({ round, build, runs: result.runs, pieces, syscalls: result.syscalls, rowsPerTurn: result.rowsPerTurn, jobsPerTurn: result.jobsPerTurn });
    };
    const shapeFile = path.join(dir.dataDir, 'floor-shape.json');
    const floorOf = (pieces: string) => (nodeFlags: string[]) => {
      writeFileSync(shapeFile, JSON.stringify(shape));
      return startFloorServer({ FLOOR_SHAPE_FILE: shapeFile, FLOOR_PIECES: pieces, FLOOR_MODEL_URL: llm.url }, placement.serverCpus, nodeFlags);
    };
    for (let round = 1; round <= rounds; round++) {
      await run(round, 'ours', (nodeFlags) =>
        startPersonaServer({ dataDir: dir.dataDir, configFile: dir.configFile, ollamaHost: llm.url, cpus: placement.serverCpus, nodeFlags }),
      );
      await run(round, 'floor', floorOf('ws,model,sql'));
      if (!withPieces) continue;
      await run(round, 'floor ws', floorOf('ws'));
      await run(round, 'floor ws+model', floorOf('ws,model'));
      await run(round, 'floor ws+sql', floorOf('ws,sql'));
    }
  } finally {
    await llm.close();
    dir.remove();
  }
  report(segments, turns, placement.serverCpus);
}

function report(segments: Segment[], turns: number, serverCpus: string | null): void {
  const cell = (segment: Segment, pick: (run: ModeRun) => number | null): string =>
    segment.runs.map((run) => (pick(run) === null ? '-' : fixed(pick(run)!))).filter((text) => text !== '-').join(' / ');
  printTable(
    `floor: a chat turn's I/O with none of our logic beside persona-mcp's turn, ${turns} turns a mode, 10,000 stored messages, instant fake model, server on CPU ${serverCpus ?? 'any'} (ms; plain / streaming)`,
    ['round', 'build', 'server p50', 'server p99', 'own p50', 'first chunk p50', 'cpu ms/turn', 'loop cpu ms/turn', 'model calls/turn', 'rows/turn: msgs mem vec rel mood jobs'],
    segments.map((segment) => [
      segment.round,
      segment.build,
      cell(segment, (run) => run.serverP50),
      cell(segment, (run) => run.serverP99),
      cell(segment, (run) => run.ownP50),
      cell(segment, (run) => run.firstChunkP50),
      cell(segment, (run) => run.cpuMsPerTurn),
      cell(segment, (run) => run.loopCpuMsPerTurn),
      cell(segment, (run) => run.llmCallsPerTurn),
      ['messages', 'memories', 'memory_vectors', 'relationship_events', 'mood_samples', 'jobs'].map((table) => fixed(segment.rowsPerTurn[table] ?? 0)).join(' '),
    ]),
  );
  const above = (pick: (run: ModeRun) => number | null) => (ours: Segment, floor: Segment): string =>
    ours.runs
      .map((run, index) => [pick(run), pick(floor.runs[index]!)] as const)
      .filter(([mine, theirs]) => mine !== null && theirs !== null)
      .map(([mine, theirs]) => `${fixed(mine!)} (${fixed(mine! / Math.max(theirs!, 0.01), 1)}×)`)
      .join(' / ');
  const pairs = segments
    .filter((segment) => segment.build === 'ours')
    .flatMap((ours) => segments.filter((floor) => floor.build === 'floor' && floor.round === ours.round).map((floor) => [ours, floor] as const));
  printTable(
    'floor: ours as a multiple of the floor (ours (ours / floor); plain / streaming)',
    ['round', 'server p50', 'server p99', 'own p50', 'first chunk p50', 'cpu ms/turn', 'loop cpu ms/turn'],
    pairs.map(([ours, floor]) => [
      ours.round,
      above((run) => run.serverP50)(ours, floor),
      above((run) => run.serverP99)(ours, floor),
      above((run) => run.ownP50)(ours, floor),
      above((run) => run.firstChunkP50)(ours, floor),
      above((run) => run.cpuMsPerTurn)(ours, floor),
      above((run) => run.loopCpuMsPerTurn)(ours, floor),
    ]),
  );
  const profiled = segments.filter((segment) => segment.pieces !== null);
  if (profiled.length > 0) {
    printTable(
      'floor: where the event loop\'s time goes by piece (the main thread\'s --cpu-prof samples, both modes and the jobs; samples are wall time, so more than /proc\'s loop CPU on a busy machine; ms a turn)',
      ['round', 'build', ...PIECES, 'all'],
      profiled.map((segment) => [
        segment.round,
        segment.build,
        ...PIECES.map((piece) => fixed(segment.pieces![piece])),
        fixed(PIECES.reduce((sum, piece) => sum + segment.pieces![piece], 0)),
      ]),
    );
    printTable(
      'floor: ours above the floor by piece (ours − floor, profiled ms a turn)',
      ['round', ...PIECES, 'all'],
      pairs
        .filter(([ours, floor]) => ours.pieces !== null && floor.pieces !== null)
        .map(([ours, floor]) => [
          ours.round,
          ...PIECES.map((piece) => fixed(ours.pieces![piece] - floor.pieces![piece])),
          fixed(PIECES.reduce((sum, piece) => sum + ours.pieces![piece] - floor.pieces![piece], 0)),
        ]),
    );
  }
  const traced = segments.filter((segment) => segment.syscalls !== null);
  if (traced.length > 0) {
    const names = [...new Set(traced.flatMap((segment) => Object.keys(segment.syscalls!)))]
      .map((name) => ({ name, most: Math.max(...traced.map((segment) => segment.syscalls![name] ?? 0)) }))
      .filter((entry) => entry.most >= 0.1)
      .sort((a, b) => b.most - a.most)
      .map((entry) => entry.name);
    printTable(
      'floor: system calls a turn (strace -c on every thread of the server, both modes and the jobs; the timings of a --syscalls run are void)',
      ['round', 'build', ...names],
      traced.map((segment) => [segment.round, segment.build, ...names.map((name) => fixed(segment.syscalls![name] ?? 0, 1))]),
    );
  }
  for (const segment of segments.filter((candidate) => candidate.build === 'ours'))
    process.stdout.write(`jobs per turn (ours, round ${segment.round}): ${JSON.stringify(segment.jobsPerTurn)}\n`);
  const file = writeResults('floor', { quick: false }, { turns, serverCpus, segments });
  process.stdout.write(`wrote ${file}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`floor failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
