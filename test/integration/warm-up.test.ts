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
  it('answers read-only requests in process, counted nowhere: not in /metrics, not in system.status', async () => {
    const warmed = await server.server.warmUp(70);
    // Every frame but the unparsable one went through the engine.
    expect(warmed.requests).toBeGreaterThanOrEqual(60);
    const metrics = await (await fetch(`${server.server.httpUrl}/metrics`)).text();
    expect(metrics).not.toContain('persona_mcp_requests_total{method="persona.list"');
    expect(metrics).not.toContain('method="unknown"');
    const client = await server.connect();
    // A request is counted once answered: this one sees none before it.
    expect((await client.result('system.status')).total_requests).toBe(0);
    await client.close();
  });
});
