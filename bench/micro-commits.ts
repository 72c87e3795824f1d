/**
 * `npx tsx bench/micro-commits.ts [turns] [stored]`: SQLite commits per chat turn — the person's message,
 * the reply, and the writes after the reply (topic filing, mood, mood samples, job enqueues) — in the
 * compiled server (dist/, or another build's with `PERSONA_MICRO_DIST=/x/dist`). The job worker is
 * stopped, as in bench/micro-turn.ts: the jobs' own commits are bench/micro-background.ts's.
 *
 * Counted from the WAL file itself: automatic checkpoints are turned off for the run, and each commit
 * appends one frame marked as a commit (bytes 4–7 of its header: the database's size in pages, 0 for
 * other frames). Each turn is given time for its after-reply writes (they wait for pending I/O, and a
 * batch for the next turn of the event loop) before the next starts.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { settle, startMicroCore } from './lib/micro-core.js';

const args = process.argv.slice(2);
const turns = Number(args[0] ?? 50);
const stored = Number(args[1] ?? 2_000);

/** Commit frames in the WAL file so far (valid frames only: those with the header's salts). */
function commitFrames(walPath: string): number {
  const wal = readFileSync(walPath);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salt1 = wal.readUInt32BE(16);
  const salt2 = wal.readUInt32BE(20);
  let commits = 0;
  for (let offset = 32; offset + 24 + pageSize <= wal.length; offset += 24 + pageSize) {
    if (wal.readUInt32BE(offset + 8) !== salt1 || wal.readUInt32BE(offset + 12) !== salt2) break;
    if (wal.readUInt32BE(offset + 4) !== 0) commits += 1;
  }
  return commits;
}

async function quiet(): Promise<void> {
  await settle();
  await new Promise((resolve) => setTimeout(resolve, 10));
  await settle();
}

const setup = await startMicroCore('micro-commits', stored, { stopJobs: true });
try {
  const db = (setup.core.store as unknown as { database: { pragma(sql: string): unknown; name: string } }).database;
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.pragma('wal_autocheckpoint = 0');
  const walPath = `${db.name}-wal`;
  for (let index = 0; index < 10; index++) {
    await setup.turn(index);
    await quiet();
  }
  const before = commitFrames(walPath);
  for (let index = 10; index < 10 + turns; index++) {
    await setup.turn(index);
    await quiet();
  }
  const commits = commitFrames(walPath) - before;
  console.log(`${path.basename(path.dirname(process.env.PERSONA_MICRO_DIST ?? 'dist/x'))}: ${turns} turns, ${commits} commits, ${(commits / turns).toFixed(2)} commits per turn`);
} finally {
  await setup.close();
}
