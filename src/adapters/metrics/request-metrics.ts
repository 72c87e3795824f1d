/**
 * `persona_mcp_requests_total{method,outcome}` and `persona_mcp_request_duration_seconds{method}`,
 * counted in plain numbers and arrays per method and turned into Prometheus families only when
 * scraped. prom-client's own Counter and Histogram hash a label object into a string key on every call
 * and file histogram buckets under their bounds as object keys (a number-to-string conversion per
 * observation): together ~1 µs of a cheap request's ~10 µs of JavaScript (bench/README.md). The
 * exposition has the same lines as theirs, in method order (request-metrics.test.ts renders both).
 */
import type { Metric, Registry } from 'prom-client';

/** Where the methods clients made up are counted: client-chosen names would make labels unbounded. */
export const UNKNOWN_METHOD = 'unknown';

class MethodTally {
  /** Requests answered `ok`: nearly all, so kept out of the map. */
  ok = 0;
  /** Other outcomes (error kinds: a fixed set in code). */
  readonly failures = new Map<string, number>();
  /** Observations per bucket: `counts[i]` are those ≤ bounds[i] and > bounds[i − 1]; the last is +Inf. */
  readonly counts: Float64Array;
  sum = 0;

  constructor(buckets: number) {
    this.counts = new Float64Array(buckets + 1);
  }
}

interface ExportedValue {
  value: number;
  labels: Record<string, string | number>;
  metricName?: string;
}

export class RequestMetrics {
  private readonly tallies = new Map<string, MethodTally>();
  private readonly unknown: MethodTally;

  constructor(
    knownMethods: Iterable<string>,
    /** Histogram bucket upper bounds in seconds, ascending. */
    private readonly bounds: readonly number[],
  ) {
    for (const method of knownMethods) this.tallies.set(method, new MethodTally(bounds.length));
    this.unknown = new MethodTally(bounds.length);
    this.tallies.set(UNKNOWN_METHOD, this.unknown);
  }

  /** Counts one finished request: by method and outcome, and its duration in the method's histogram. */
  observe(method: string, outcome: string, seconds: number): void {
    const tally = this.tallies.get(method) ?? this.unknown;
    if (outcome === 'ok') tally.ok += 1;
    else tally.failures.set(outcome, (tally.failures.get(outcome) ?? 0) + 1);
    const { bounds } = this;
    let bucket = 0;
    while (bucket < bounds.length && seconds > (bounds[bucket] as number)) bucket += 1;
    (tally.counts[bucket] as number) += 1;
    tally.sum += seconds;
  }

  /** Adds both families to a prom-client registry, rendered at scrape time like prom-client's own. */
  register(registry: Registry, names: { requests: string; duration: string }, help: { requests: string; duration: string }): void {
    registry.registerMetric(this.family(names.requests, help.requests, 'counter', () => this.requestValues()));
    registry.registerMetric(this.family(names.duration, help.duration, 'histogram', () => this.durationValues(names.duration)));
  }

  /**
   * A metric as the registry reads it (name, help, type, `get()`). prom-client has no public type for a
   * metric that is not one of its four classes, hence the cast; the registry uses only these members.
   */
  private family(name: string, help: string, type: 'counter' | 'histogram', values: () => ExportedValue[]): Metric {
    const family = {
      name,
      help,
      type,
      aggregator: 'sum' as const,
      get: async () => ({ name: family.name, help, type, aggregator: 'sum' as const, values: values() }),
    };
    return family as unknown as Metric;
  }

  private requestValues(): ExportedValue[] {
    const values: ExportedValue[] = [];
    for (const [method, tally] of this.tallies) {
      if (tally.ok > 0) values.push({ value: tally.ok, labels: { method, outcome: 'ok' } });
      for (const [outcome, count] of tally.failures) values.push({ value: count, labels: { method, outcome } });
    }
    return values;
  }

  private durationValues(name: string): ExportedValue[] {
    const values: ExportedValue[] = [];
    for (const [method, tally] of this.tallies) {
      let count = 0;
      for (const observed of tally.counts) count += observed;
      if (count === 0) continue; // as prom-client: a label set appears once observed
      let cumulative = 0;
      this.bounds.forEach((bound, index) => {
        cumulative += tally.counts[index] as number;
        values.push({ value: cumulative, labels: { le: bound, method }, metricName: `${name}_bucket` });
      });
      values.push({ value: count, labels: { le: '+Inf', method }, metricName: `${name}_bucket` });
      values.push({ value: tally.sum, labels: { method }, metricName: `${name}_sum` });
      values.push({ value: count, labels: { method }, metricName: `${name}_count` });
    }
    return values;
  }
}
