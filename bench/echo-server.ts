/**
 * The baseline: a bare `ws` server on the same library settings as persona-mcp's transport
 * (no compression, no client tracking), answering every request frame with a canned result of the same
 * size as the real server's answer. It does no JSON parsing — it finds the id and the method by
 * scanning the text — so it is the floor any JSON-RPC server on `ws` can reach on this machine.
 *
 * Canned results come from the environment as `BENCH_CANNED_RESULTS` (`{"method": result, ...}`).
 * `GET /metrics` gives what the open-loop suite reads from persona-mcp to say what stalled it: prom-client's
 * event-loop delay and GC pauses, and the same stall watch by cause (busy/starved), so that the two rows
 * can be compared on a shared machine (a 10 ms timer: nothing next to 10,000 frames a second).
 * Prints `echo listening on ws://127.0.0.1:PORT/mcp` when ready; stops on SIGTERM.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import { LoopStallWatch } from '../src/adapters/metrics/loop-stalls.js';

const canned = new Map<string, string>(
  Object.entries(JSON.parse(process.env.BENCH_CANNED_RESULTS ?? '{}') as Record<string, unknown>).map(([method, result]) => [
    method,
    JSON.stringify(result),
  ]),
);
const UNKNOWN = '{"code":-32601,"message":"Method not found"}';

const registry = new Registry();
collectDefaultMetrics({ register: registry });
// As persona-mcp's /metrics (prometheus-metrics.ts): without the two defaults whose collection lists every
// handle or open file on the event loop, so a scrape costs both servers alike (the suite scrapes each
// segment's start).
for (const name of ['nodejs_active_handles', 'nodejs_active_handles_total', 'process_open_fds']) registry.removeSingleMetric(name);
const stalls = new Histogram({
  name: 'persona_mcp_event_loop_stall_seconds',
  help: 'Event-loop stalls of 10 ms or more, by cause.',
  labelNames: ['cause'],
  buckets: [0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [registry],
});
for (const cause of ['busy', 'starved']) stalls.zero({ cause });
const watch = new LoopStallWatch();
watch.subscribe((stall) => stalls.observe({ cause: stall.cause }, stall.stalledMs / 1000));
watch.start();

const http = createServer((request, response) => {
  if (request.url !== '/metrics') return void response.writeHead(404).end();
  registry.metrics().then(
    (text) => response.writeHead(200, { 'Content-Type': registry.contentType }).end(text),
    () => response.writeHead(500).end(),
  );
});
const server = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: 4 * 1_048_576 });
http.on('upgrade', (request, socket, head) => {
  server.handleUpgrade(request, socket, head, (ws) => {
    ws.on('message', (data) => {
      const text = data.toString();
      const idAt = text.indexOf('"id":');
      const id = idAt < 0 ? 'null' : text.slice(idAt + 5, text.indexOf(',', idAt));
      const methodAt = text.indexOf('"method":"');
      const method = methodAt < 0 ? '' : text.slice(methodAt + 10, text.indexOf('"', methodAt + 10));
      const result = canned.get(method);
      ws.send(result === undefined ? `{"jsonrpc":"2.0","id":${id},"error":${UNKNOWN}}` : `{"jsonrpc":"2.0","id":${id},"result":${result}}`);
    });
    ws.on('error', () => undefined);
  });
});
http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.stderr.write(`echo listening on ws://127.0.0.1:${port}/mcp\n`);
});
process.on('SIGTERM', () => process.exit(0));
