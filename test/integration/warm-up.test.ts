/** The start-up warm-up (`warmUpRequests`): the request path is run before listening, and leaves no trace. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

beforeAll(async () => {
  server = await startTestServer({ flags: { warmUpRequests: 200 } });
});
afterAll(async () => {
  await server.cleanup();
});

describe('start-up warm-up', () => {
  it('answers read-only requests over WebSockets to itself, counted nowhere: not in /metrics, not in system.status', async () => {
    const warmed = await server.server.warmUp(70);
    // Every frame is answered, the unparsable one too.
    expect(warmed.frames).toBe(70);
    const metrics = await (await fetch(`${server.server.httpUrl}/metrics`)).text();
    expect(metrics).not.toContain('persona_mcp_requests_total{method="persona.list"');
    expect(metrics).not.toContain('method="unknown"');
    const client = await server.connect();
    // A request is counted once answered: this one sees none before it.
    const status = await client.result('system.status');
    expect(status.total_requests).toBe(0);
    // The warm-up's connections are gone and were never counted: this client is the only one.
    expect(status.active_connections).toBe(1);
    await client.close();
  });

  it('is kept out of the event-loop stall metric', async () => {
    // busy stalls over 50 ms (the event loop held by this process's own work)
    const longStalls = async (): Promise<number> => {
      const text = await (await fetch(`${server.server.httpUrl}/metrics`)).text();
      const read = (series: string): number => Number(new RegExp(`persona_mcp_event_loop_stall_seconds_${series}\\} (\\d+)`).exec(text)?.[1]);
      return read('count{cause="busy"') - read('bucket{le="0.05",cause="busy"');
    };
    const before = await longStalls();
    const warming = server.server.warmUp(70);
    spin(120); // the event loop held inside the warm-up, as compiling the request path does
    await warming;
    expect(await longStalls()).toBe(before);
  });
});

/** Holds the event loop for `ms`, using the CPU. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}
