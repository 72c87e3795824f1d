/** `/metrics` as Prometheus and the stock Node.js dashboards read it. */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let ollama: FakeOllama;
let server: TestServer;
let exposition: string;

/** promtool comes with Debian's `prometheus` package (.ci/run installs it). */
const hasPromtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;

beforeAll(async () => {
  ollama = await startFakeOllama();
  server = await startTestServer({ ollamaUrl: ollama.url });
  const client = await server.connect();
  await client.result('persona.switch', { persona_id: 'aria' });
  await client.result('persona.chat', { message: 'fill the histograms' });
  await client.call('made.up.method');
  await client.close();
  // The GC histogram has buckets only once a collection has run; fill the young generation so one has.
  const junk: object[] = [];
  for (let i = 0; i < 2_000_000; i++) junk.push({ i });
  junk.length = 0;
  await new Promise((resolve) => setTimeout(resolve, 50));
  exposition = await (await fetch(`${server.server.httpUrl}/metrics`)).text();
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

describe('metrics exposition', () => {
  it("keeps prom-client's default metric names, unprefixed, as Node.js dashboards expect", () => {
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_gc_duration_seconds_bucket', 'nodejs_version_info']) {
      expect(exposition).toMatch(new RegExp(`^${name}[{ ]`, 'm'));
    }
    expect(exposition).not.toContain('persona_mcp_process_');
  });

  it.skipIf(process.platform !== 'linux')('counts open file descriptors without listing every handle on the event loop', () => {
    const fds = Number(/^process_open_fds (\d+)$/m.exec(exposition)?.[1]);
    // The server holds at least its database, WAL and listening socket open.
    expect(fds).toBeGreaterThanOrEqual(3);
    expect(exposition).toMatch(/^nodejs_active_resources\{type="TCPServerWrap"\} \d+$/m);
    expect(exposition).not.toMatch(/^nodejs_active_handles[{ ]/m);
  });

  it('declares every metric family once with HELP and TYPE, and counters end in _total', () => {
    const types = [...exposition.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => ({ name: match[1] ?? '', type: match[2] ?? '' }));
    expect(new Set(types.map((family) => family.name)).size).toBe(types.length);
    for (const family of types) {
      expect(exposition).toContain(`# HELP ${family.name} `);
      if (family.type === 'counter') expect(family.name).toMatch(/_total$/);
      else expect(family.name).not.toMatch(/_total$/);
    }
  });

  it('counts event-loop stalls of the running server by cause', () => {
    for (const cause of ['busy', 'starved']) {
      expect(exposition).toMatch(new RegExp(`^persona_mcp_event_loop_stall_seconds_count\\{cause="${cause}"\\} \\d+$`, 'm'));
      expect(exposition).toMatch(new RegExp(`^persona_mcp_event_loop_stall_seconds_bucket\\{le="0.02",cause="${cause}"\\} \\d+$`, 'm'));
    }
  });

  it('times every stage of the chat turn, on its critical path and after it', () => {
    const stages = ['admission', 'store_user', 'history', 'energy', 'contributors', 'contributor_memory', 'contributor_social', 'prompt', 'llm', 'store_reply', 'after_turn'];
    for (const stage of stages) {
      expect(exposition).toMatch(new RegExp(`^persona_mcp_turn_stage_seconds_count\\{stage="${stage}"\\} 1$`, 'm'));
    }
    const llm = Number(/^persona_mcp_turn_stage_seconds_sum\{stage="llm"\} (\S+)$/m.exec(exposition)?.[1]);
    expect(llm).toBeGreaterThan(0);
  });

  it.skipIf(!hasPromtool)('passes `promtool check metrics`', () => {
    const check = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
    expect(`${check.stdout}${check.stderr}`.trim()).toBe('');
    expect(check.status).toBe(0);
  });
});
