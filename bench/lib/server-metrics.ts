/**
 * What stalls the server's event loop during a measurement: its own `/metrics` (prom-client's default
 * Node.js metrics), read just before and just after the measured window.
 *
 * - Event-loop delay comes from `monitorEventLoopDelay`, whose histogram prom-client resets at every
 *   scrape: the scrape before the window starts it afresh, the one after reads the window alone.
 * - GC pauses come from prom-client's `PerformanceObserver` on `gc` entries, a cumulative histogram: the
 *   window is the difference of the two scrapes (count and total pause by kind, and pauses over 10 ms).
 *
 * - Stalls of 10 ms or more come from the server's own watch (`persona_mcp_event_loop_stall_seconds`,
 *   src/adapters/metrics/loop-stalls.ts), by cause: **busy** (the server used the CPU meanwhile: its code,
 *   a synchronous call, GC) or **starved** (it did not get a CPU: other load on the machine). On a shared
 *   machine the second kind is not the server's, and the latency table alone cannot tell them apart.
 *
 * The echo server answers `/metrics` with the same three (bench/echo-server.ts); a server without it gives `null`.
 */

export interface StallSummary {
  /** Event-loop delay over the window, in ms. */
  loopDelayMs: { p50: number; p99: number; max: number };
  /** GC pauses in the window. */
  gc: { count: number; totalMs: number; over10ms: number; majorCount: number };
  /** Stalls of 10 ms or more in the window, by cause (null when the server does not report them). */
  stalls: Record<'busy' | 'starved', { count: number; totalMs: number }> | null;
}

type Samples = Map<string, number>;

/** `ws://host:port/mcp` → `http://host:port/metrics`. */
function metricsUrl(serverUrl: string): string {
  const url = new URL(serverUrl);
  url.protocol = url.protocol === 'wss:' ? 'https:' : 'http:';
  url.pathname = '/metrics';
  url.search = '';
  return url.toString();
}

/** The text exposition format, one `name{labels} value` per line; comments skipped. */
function parseExposition(text: string): Samples {
  const samples: Samples = new Map();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    const value = Number(line.slice(space + 1));
    if (Number.isFinite(value)) samples.set(line.slice(0, space), value);
  }
  return samples;
}

export async function scrapeMetrics(serverUrl: string): Promise<Samples | null> {
  try {
    const response = await fetch(metricsUrl(serverUrl));
    if (!response.ok) return null;
    return parseExposition(await response.text());
  } catch {
    return null;
  }
}

function sumMatching(samples: Samples, prefix: string, contains = ''): number {
  let total = 0;
  for (const [key, value] of samples) if (key.startsWith(prefix) && key.includes(contains)) total += value;
  return total;
}

/** The window between two scrapes; null when either is missing. */
export function stallsBetween(before: Samples | null, after: Samples | null): StallSummary | null {
  if (before === null || after === null) return null;
  const ms = (key: string): number => Math.round((after.get(key) ?? Number.NaN) * 1e5) / 100;
  const delta = (prefix: string, contains = ''): number => sumMatching(after, prefix, contains) - sumMatching(before, prefix, contains);
  const count = delta('nodejs_gc_duration_seconds_count');
  // Buckets are cumulative: pauses over 10 ms are all pauses minus those at or under 10 ms.
  const atMost10ms = delta('nodejs_gc_duration_seconds_bucket', 'le="0.01"');
  const stallsOf = (cause: string): { count: number; totalMs: number } => ({
    count: delta('persona_mcp_event_loop_stall_seconds_count', `cause="${cause}"`),
    totalMs: Math.round(delta('persona_mcp_event_loop_stall_seconds_sum', `cause="${cause}"`) * 1e4) / 10,
  });
  const hasStalls = [...after.keys()].some((key) => key.startsWith('persona_mcp_event_loop_stall_seconds_count'));
  return {
    stalls: hasStalls ? { busy: stallsOf('busy'), starved: stallsOf('starved') } : null,
    loopDelayMs: { p50: ms('nodejs_eventloop_lag_p50_seconds'), p99: ms('nodejs_eventloop_lag_p99_seconds'), max: ms('nodejs_eventloop_lag_max_seconds') },
    gc: {
      count,
      totalMs: Math.round(delta('nodejs_gc_duration_seconds_sum') * 1e4) / 10,
      over10ms: count - atMost10ms,
      majorCount: delta('nodejs_gc_duration_seconds_count', 'kind="major"'),
    },
  };
}
