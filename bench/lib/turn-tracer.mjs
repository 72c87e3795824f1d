/**
 * Loaded into the server under test (`node --import`, through PERSONA_BENCH_NODE_FLAGS) to see what a chat
 * turn waits for (`turn-tracer-loop.mjs`; read with `npx tsx bench/profile-turn-waits.ts DIR`). Only in the
 * event loop's thread: worker threads inherit the flag, and a tracer in the jobs thread would sample it
 * every 100 µs (slowing the jobs whose locks the loop may wait on) and write its file over the loop's
 * (both are named by the process id).
 */
import { isMainThread } from 'node:worker_threads';

if (isMainThread) await import('./turn-tracer-loop.mjs');
