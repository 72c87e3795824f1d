import { Counter, Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { RequestMetrics } from './request-metrics.js';

const BOUNDS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NAMES = { requests: 'persona_mcp_requests_total', duration: 'persona_mcp_request_duration_seconds' };
const HELP = { requests: 'JSON-RPC requests by method and outcome (ok or error kind).', duration: 'Time to handle a JSON-RPC request.' };
const KNOWN = ['persona.list', 'persona.status', 'persona.chat'];

/** The exposition's lines, sorted: families render their label sets in different orders. */
const lines = async (registry: Registry): Promise<string[]> => (await registry.metrics()).split('\n').filter((line) => line !== '').sort();

describe('RequestMetrics', () => {
  it("renders exactly the lines prom-client's Counter and Histogram render for the same requests", async () => {
    const theirs = new Registry();
    const counter = new Counter({ name: NAMES.requests, help: HELP.requests, labelNames: ['method', 'outcome'], registers: [theirs] });
    const histogram = new Histogram({ name: NAMES.duration, help: HELP.duration, labelNames: ['method'], buckets: BOUNDS, registers: [theirs] });
    const ours = new Registry();
    const metrics = new RequestMetrics(KNOWN, BOUNDS);
    metrics.register(ours, NAMES, HELP);

    let seed = 7;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const methods = [...KNOWN, 'made.up'];
    const outcomes = ['ok', 'ok', 'ok', 'invalid_params', 'persona_not_found'];
    // Durations on and around every bound (a value equal to a bound falls in that bucket: `le`).
    const durations = [...BOUNDS, ...BOUNDS.map((bound) => bound * 1.01), 0, 20, ...Array.from({ length: 200 }, () => random() * 0.02)];
    for (const [index, seconds] of durations.entries()) {
      const method = methods[Math.floor(random() * methods.length)] as string;
      const outcome = outcomes[index % outcomes.length] as string;
      const label = KNOWN.includes(method) ? method : 'unknown';
      counter.inc({ method: label, outcome });
      histogram.observe({ method: label }, seconds);
      metrics.observe(method, outcome, seconds);
    }
    expect(await lines(ours)).toEqual(await lines(theirs));
  });

  it('counts every method clients made up as "unknown", never by its name', async () => {
    const registry = new Registry();
    const metrics = new RequestMetrics(KNOWN, BOUNDS);
    metrics.register(registry, NAMES, HELP);
    metrics.observe('drop.tables', 'method_not_found', 0.00002);
    metrics.observe('persona.list', 'ok', 0.00002);
    const text = await registry.metrics();
    expect(text).toContain('persona_mcp_requests_total{method="unknown",outcome="method_not_found"} 1');
    expect(text).toContain('persona_mcp_requests_total{method="persona.list",outcome="ok"} 1');
    expect(text).toContain('persona_mcp_request_duration_seconds_bucket{le="0.0001",method="persona.list"} 1');
    expect(text).not.toContain('drop.tables');
    expect(text).not.toContain('persona.chat'); // no line for a method never called, as prom-client
  });
});
