/**
 * `npx tsx bench/pg-commits.ts [turns] [dist...]`: PostgreSQL commits per chat turn, the turn's jobs
 * included, of real servers (`node DIST/cli/main.js serve`, default this tree's dist/) on a PostgreSQL
 * cluster of its own (Debian's binaries, as test/global-postgres.ts; fsync off), with the fake Ollama.
 * Each build gets a schema of its own; the turns are sent one after another by one WebSocket client, each
 * after the previous reply (their round trips' p50 is printed too), then the run waits until every job
 * has finished.
 *
 * Counted from the WAL itself: `pg_waldump` over the LSNs before and after, COMMIT records of the
 * Transaction resource manager (one per write transaction; read-only transactions write none; a
 * savepoint's work is part of its transaction's one commit).
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startFakeOllama } from '../test/fakes/fake-ollama.js';
import { waitForBanner } from '../test/helpers/child-server.js';
import { findPostgresBin, startPostgres } from '../test/helpers/local-services.js';
import { TestClient } from '../test/helpers/ws-client.js';

const args = process.argv.slice(2);
const turns = Number(args[0] ?? 40);
const dists = args.length > 1 ? args.slice(1) : [fileURLToPath(new URL('../dist', import.meta.url))];

const MESSAGES = [
  'My sister Anna lives in Lisbon and paints tiles.',
  'I think the harbour lights look lovely tonight!',
  'Do you remember the dog I told you about?',
  'I play the cello in a small orchestra on Sundays.',
];

const bin = findPostgresBin();
if (bin === null) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
const server = await startPostgres();
const ollama = await startFakeOllama({ chunkDelayMs: 0 });
const dir = mkdtempSync(path.join(os.tmpdir(), 'pg-commits-'));
const admin = new pg.Client({ connectionString: server.url });
await admin.connect();
const dataDirectory = (await admin.query<{ data_directory: string }>('SHOW data_directory')).rows[0]!.data_directory;
const lsn = async (): Promise<string> => (await admin.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;

function commitsBetween(start: string, end: string): number {
  if (start === end) return 0;
  const out = execFileSync(path.join(bin!, 'pg_waldump'), ['-p', path.join(dataDirectory, 'pg_wal'), '-s', start, '-e', end, '-r', 'Transaction'], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return out.split('\n').filter((line) => /desc: COMMIT/.test(line)).length;
}

try {
  for (const [index, dist] of dists.entries()) {
    const schema = `b${index}`;
    const config = path.join(dir, `${schema}.json`);
    writeFileSync(config, JSON.stringify({ logLevel: 'warn', database: { url: server.url, schema }, llm: { ollamaHost: ollama.url } }));
    const child = spawn(process.execPath, [path.join(dist, 'cli/main.js'), 'serve', '--port', '0', '--config', config, '--data-dir', path.join(dir, schema)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const { url } = await waitForBanner(child, dist);
    const client = await TestClient.connect(url);
    await client.result('persona.switch', { persona_id: 'aria' });
    await client.result('persona.chat', { message: 'Hello there, nice to meet you.' }); // warm-up
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    const before = await lsn();
    const took: number[] = [];
    for (let turn = 0; turn < turns; turn++) {
      const started = performance.now();
      await client.result('persona.chat', { message: `${MESSAGES[turn % MESSAGES.length]} (${turn})` });
      took.push(performance.now() - started);
    }
    took.sort((a, b) => a - b);
    const p50 = took[Math.floor(took.length / 2)]!;
    // every job of those turns finished (read-only queries: no commit records)
    for (;;) {
      const open = (await admin.query<{ n: string }>(`SELECT count(*) AS n FROM ${schema}.jobs WHERE status IN ('pending', 'running') AND run_after <= $1`, [Date.now()])).rows[0]!.n;
      if (Number(open) === 0) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await new Promise((resolve) => setTimeout(resolve, 1_500)); // the last completions, written on their own
    const after = await lsn();
    const jobs = (await admin.query<{ type: string; n: string }>(`SELECT type, count(*) AS n FROM ${schema}.jobs GROUP BY type ORDER BY type`)).rows;
    await client.close();
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    await exited;
    const commits = commitsBetween(before, after);
    console.log(
      `${dist}: ${turns} turns, ${commits} commits, ${(commits / turns).toFixed(2)} per turn; chat round trip p50 ${p50.toFixed(1)} ms (jobs: ${jobs.map((job) => `${job.type} ${job.n}`).join(', ')})`,
    );
  }
} finally {
  await admin.end();
  await ollama.close();
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}
