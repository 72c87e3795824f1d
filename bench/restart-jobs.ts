/**
 * How soon a restarted server runs the jobs a `kill -9` left (round 14, importgaps): a real `serve`
 * (the built CLI, `dist`, or `DIST=/tmp/pmcp-a/dist` for A/B) with `jobs.thread` = `MODE` (default
 * `worker`) chats `TURNS` turns with the fake Ollama and is killed (SIGKILL) right after the last reply,
 * its jobs pending or running and the last reply's after-reply writes maybe not done. It is started again on
 * the same data directory (`BUSY` busy-loop processes beside it, default 0) and the jobs table is read
 * every 25 ms: each job's claim is timed from when it was due (or the restart), with the banner and the
 * jobs thread's `ready`.
 *
 *   npx tsx bench/restart-jobs.ts            # one run, one JSON line
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { startFakeOllama } from '../test/fakes/fake-ollama.js';
import { waitForBanner } from '../test/helpers/child-server.js';
import { TestClient } from '../test/helpers/ws-client.js';

const dist = process.env.DIST ?? new URL('../dist', import.meta.url).pathname;
const mode = process.env.MODE ?? 'worker';
const busy = Number(process.env.BUSY ?? 0);
const turns = Number(process.env.TURNS ?? 6);

const ollama = await startFakeOllama();
const dir = mkdtempSync(path.join(os.tmpdir(), 'restart-jobs-'));
const config = path.join(dir, 'config.json');
writeFileSync(config, JSON.stringify({ logLevel: 'debug', jobs: { thread: mode }, llm: { ollamaHost: ollama.url } }));
const serve = (): ChildProcess =>
  spawn(process.execPath, [path.join(dist, 'cli/main.js'), 'serve', '--port', '0', '--data-dir', dir, '--config', config], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PERSONA_MCP_DATABASE_URL: '' },
  });
const read = <T>(work: (db: BetterSqlite3.Database) => T): T => {
  const db = new BetterSqlite3(path.join(dir, 'persona-mcp.db'), { readonly: true });
  try {
    return work(db);
  } finally {
    db.close();
  }
};

let server = serve();
const client = await TestClient.connect((await waitForBanner(server, 'first run')).url);
await client.result('persona.switch', { persona_id: 'aria' });
for (let turn = 0; turn < turns; turn += 1) await client.result('persona.chat', { message: `Turn ${turn}: my name is Tova and I sail old wooden boats on lake ${turn}.` });
server.kill('SIGKILL');
await new Promise((resolve) => server.once('exit', resolve));
await client.close().catch(() => undefined);
const left = read((db) => (db.prepare("SELECT count(*) AS n FROM jobs WHERE status IN ('pending', 'running')").get() as { n: number }).n);

const hogs = Array.from({ length: busy }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
const restartedAt = Date.now();
server = serve();
let stderr = '';
server.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
await waitForBanner(server, 'restart');
const bannerMs = Date.now() - restartedAt;
const claimed = new Map<number, number>();
const deadline = Date.now() + 90_000;
while (Date.now() < deadline) {
  const rows = read((db) => db.prepare('SELECT id, status, run_after, updated_at FROM jobs').all() as { id: number; status: string; run_after: number; updated_at: number }[]);
  const now = Date.now();
  for (const row of rows)
    if (row.status !== 'pending' && row.updated_at >= restartedAt && !claimed.has(row.id)) claimed.set(row.id, now - Math.max(row.run_after, restartedAt));
  if (now - restartedAt > 1_000 && rows.every((row) => row.status !== 'running' && (row.status !== 'pending' || row.run_after > now))) break;
  await new Promise((resolve) => setTimeout(resolve, 25));
}
const ready = stderr.split('\n').find((line) => line.includes('the jobs thread runs the job queue'));
const readyMs = ready === undefined ? null : Date.parse((JSON.parse(ready) as { time: string }).time) - restartedAt;
const lags = [...claimed.values()].sort((a, b) => a - b);
console.log(
  JSON.stringify({ mode, busy, load: os.loadavg()[0]!.toFixed(1), leftAtKill: left, bannerMs, readyMs, readyAfterBannerMs: readyMs === null ? null : readyMs - bannerMs, claimLagMs: lags, maxLagMs: lags.at(-1) }),
);
for (const hog of hogs) hog.kill('SIGKILL');
server.kill('SIGTERM');
await new Promise((resolve) => server.once('exit', resolve));
await ollama.close();
rmSync(dir, { recursive: true, force: true });
