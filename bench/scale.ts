/**
 * Scale-out figures (issue 20; bench/README.md "Scale-out"): PostgreSQL, Redis and HAProxy from Debian's
 * packages on loopback, started and removed by this script.
 *   npx tsx bench/scale.ts [--quick]
 * 1. chat-turn store overhead: the store's work of one chat turn (append the user turn, read the recent
 *    history, append the reply with the persona's state) on SQLite vs PostgreSQL (fsync on);
 * 2. memory search at 100k memories on PostgreSQL: full-text (tsvector/GIN) and vector (the in-memory
 *    index, loaded from PostgreSQL) latency, and the index load time;
 * 3. rpc throughput, one node vs two nodes behind HAProxy (each node pinned to its own CPU with taskset):
 *    closed loop of `persona.list` over 64 connections.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { PostgresDatabase } from '../src/adapters/postgres/database.js';
import { PostgresMemoryStore } from '../src/adapters/postgres/pg-memory-store.js';
import { PostgresStore } from '../src/adapters/postgres/pg-store.js';
import { SqliteStore } from '../src/adapters/sqlite/sqlite-store.js';
import { buildPersonaDefinition } from '../src/domain/persona-schema.js';
import type { Store } from '../src/ports/store.js';
import { startHaproxy, startPostgres, startRedis } from '../test/helpers/local-services.js';

const quick = process.argv.includes('--quick');
const MAIN = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}
const fmt = (ms: number): string => ms.toFixed(2);

async function chatTurns(store: Store, turns: number): Promise<number[]> {
  await store.insertPersona(buildPersonaDefinition({ name: 'Aria' }), 1);
  const state = { energy: 80, fatigue: 0, updatedAt: 1, cooldownUntil: null };
  const times: number[] = [];
  for (let i = 0; i < turns; i++) {
    const started = performance.now();
    const { conversation } = await store.appendUserTurn({ sessionId: 'bench', personaId: 'aria', content: `question number ${i} about the harbour`, tokens: 8, now: 1_000 + i });
    await store.recentMessages(conversation.id, 20);
    await store.appendAssistantTurn({ conversationId: conversation.id, personaId: 'aria', content: `an answer about the harbour, number ${i}`, tokens: 9, promptTokens: 300, processingMs: 5, now: 1_001 + i, personaState: state });
    times.push(performance.now() - started);
  }
  return times;
}

const WORDS = 'harbour lantern comet violin garden river mountain library orchard festival market winter summer ocean forest castle bridge tower meadow storm music painting recipe journey letter museum theatre island desert canyon village'.split(' ');

function randomVector(dims: number): Float32Array {
  const vector = new Float32Array(dims);
  let norm = 0;
  for (let i = 0; i < dims; i++) {
    vector[i] = Math.random() * 2 - 1;
    norm += vector[i]! * vector[i]!;
  }
  for (let i = 0; i < dims; i++) vector[i]! /= Math.sqrt(norm);
  return vector;
}

async function memorySearch(url: string, count: number): Promise<Record<string, string>> {
  const db = await PostgresDatabase.open(url, { schema: 'bench_memory' });
  await new PostgresStore(db).insertPersona(buildPersonaDefinition({ name: 'Aria' }), 1);
  const dims = 256;
  const loadStarted = performance.now();
  for (let done = 0; done < count; done += 1_000) {
    const contents: string[] = [];
    const vectors: Buffer[] = [];
    for (let i = 0; i < 1_000; i++) {
      contents.push(`The user mentioned the ${WORDS[(done + i) % WORDS.length]} and the ${WORDS[Math.floor(Math.random() * WORDS.length)]} ${done + i}`);
      const vector = randomVector(dims);
      vectors.push(Buffer.from(vector.buffer));
    }
    await db.transaction(async (tx) => {
      const ids = await tx.rows<{ id: number }>(
        `INSERT INTO memories (persona_id, kind, content, importance, importance_source, visibility, created_at, last_accessed_at, decayed_at)
         SELECT 'aria', 'observation', c, 0.5, 'client', 'private', 1, 1, 1 FROM unnest($1::text[]) AS c RETURNING id`,
        [contents],
      );
      await tx.query(`INSERT INTO memory_vectors (memory_id, embedder, vector) SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[])`, [
        ids.map((row) => row.id),
        ids.map(() => 'bench'),
        vectors,
      ]);
    });
  }
  const inserted = performance.now() - loadStarted;
  await db.query('ANALYZE');
  const memories = new PostgresMemoryStore(db);
  const indexStarted = performance.now();
  await memories.warmUp(['bench']);
  const indexMs = performance.now() - indexStarted;
  const fullText: number[] = [];
  const vector: number[] = [];
  for (let i = 0; i < 200; i++) {
    const query = `what about the ${WORDS[i % WORDS.length]} and ${WORDS[(i * 7) % WORDS.length]}?`;
    let started = performance.now();
    await memories.fullTextSearch(query, { viewerId: 'aria' }, 10);
    fullText.push(performance.now() - started);
    started = performance.now();
    await memories.vectorSearch('bench', randomVector(dims), { viewerId: 'aria' }, 10);
    vector.push(performance.now() - started);
  }
  await db.query('DROP SCHEMA bench_memory CASCADE');
  await db.close();
  return {
    memories: String(count),
    'bulk insert s': (inserted / 1000).toFixed(1),
    'vector index load ms': indexMs.toFixed(0),
    'full-text p50/p99 ms': `${fmt(percentile(fullText, 50))} / ${fmt(percentile(fullText, 99))}`,
    'vector p50/p99 ms': `${fmt(percentile(vector, 50))} / ${fmt(percentile(vector, 99))}`,
  };
}

async function startNode(cpu: string, configFile: string, dataDir: string): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn('taskset', ['-c', cpu, process.execPath, MAIN, 'serve', '--port', '0', '--config', configFile, '--data-dir', dataDir], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, PERSONA_MCP_DATABASE_URL: '', PERSONA_MCP_REDIS_URL: '' },
  });
  let stderr = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      const match = /listening on ws:\/\/[^:]+:(\d+)/.exec(stderr);
      if (match?.[1]) resolve(Number(match[1]));
    });
    child.once('exit', (code) => reject(new Error(`node exited with ${code}: ${stderr}`)));
  });
  return { child, port };
}

async function closedLoop(url: string, connections: number, seconds: number): Promise<{ rps: number; p50: number; p99: number; errors: number }> {
  const sockets = await Promise.all(
    Array.from({ length: connections }, () => new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(url);
      socket.once('open', () => resolve(socket));
      socket.once('error', reject);
    })),
  );
  const latencies: number[] = [];
  let errors = 0;
  let running = true;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    sockets.map(async (socket) => {
      let id = 0;
      while (running && performance.now() < deadline) {
        const started = performance.now();
        socket.send(JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'persona.list' }));
        const [data] = (await once(socket, 'message')) as [Buffer];
        if ((JSON.parse(data.toString()) as { error?: unknown }).error !== undefined) errors++;
        latencies.push(performance.now() - started);
      }
    }),
  );
  running = false;
  for (const socket of sockets) socket.close();
  return { rps: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99), errors };
}

async function main(): Promise<void> {
  if (!existsSync(MAIN)) throw new Error('build first: npm run build');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-bench-scale-'));
  const postgres = await startPostgres({ fsync: true });
  const redis = await startRedis();
  try {
    const turns = quick ? 100 : 300;
    const sqlite = SqliteStore.open(path.join(dir, 'persona-mcp.db'));
    const onSqlite = await chatTurns(sqlite, turns);
    await sqlite.close();
    const pgDb = await PostgresDatabase.open(postgres.url, { schema: 'bench_chat' });
    const onPostgres = await chatTurns(new PostgresStore(pgDb), turns);
    await pgDb.close();
    console.log(`\nchat-turn store work (${turns} turns, one after another)`);
    console.table({
      SQLite: { 'p50 ms': fmt(percentile(onSqlite, 50)), 'p99 ms': fmt(percentile(onSqlite, 99)) },
      PostgreSQL: { 'p50 ms': fmt(percentile(onPostgres, 50)), 'p99 ms': fmt(percentile(onPostgres, 99)) },
    });

    console.log('\nmemory search on PostgreSQL');
    console.table(await memorySearch(postgres.url, quick ? 20_000 : 100_000));

    const configFile = path.join(dir, 'config.json');
    writeFileSync(configFile, JSON.stringify({ logLevel: 'warn', database: { url: postgres.url, schema: 'bench_nodes' }, redis: { url: redis.url }, limits: { rateLimitPerSecond: 100000, rateLimitBurst: 100000, rateLimitPerKeyPerSecond: 1_000_000_000, rateLimitPerAddressPerSecond: 1_000_000_000 } }));
    const seconds = quick ? 3 : 8;
    const a = await startNode('0', configFile, path.join(dir, 'a'));
    const one = await closedLoop(`ws://127.0.0.1:${a.port}/mcp`, 64, seconds);
    const b = await startNode('1', configFile, path.join(dir, 'b'));
    const proxy = await startHaproxy([
      { name: 'a', port: a.port },
      { name: 'b', port: b.port },
    ]);
    const two = await closedLoop(`ws://127.0.0.1:${proxy.port}/mcp`, 64, seconds);
    const viaProxyOne = await (async () => {
      const single = await startHaproxy([{ name: 'a', port: a.port }]);
      try {
        return await closedLoop(`ws://127.0.0.1:${single.port}/mcp`, 64, seconds);
      } finally {
        await single.stop();
      }
    })();
    await proxy.stop();
    for (const node of [a, b]) {
      node.child.kill('SIGTERM');
      await once(node.child, 'exit');
    }
    console.log(`\npersona.list, 64 connections, closed loop, ${seconds} s (load generator in this process, unpinned)`);
    const row = (r: typeof one) => ({ 'req/s': r.rps.toFixed(0), 'p50 ms': fmt(r.p50), 'p99 ms': fmt(r.p99), errors: r.errors });
    console.table({ 'one node (CPU 0), direct': row(one), 'one node via HAProxy': row(viaProxyOne), 'two nodes (CPU 0, 1) via HAProxy': row(two) });
  } finally {
    await redis.stop();
    await postgres.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
