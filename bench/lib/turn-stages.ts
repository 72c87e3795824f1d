/**
 * Where a chat turn's server time goes: the server's `persona_mcp_turn_stage_seconds{stage}` histogram
 * (`/metrics`), read before and after a measured window; the difference of the cumulative buckets is the
 * window's own distribution, and p50/p99 are interpolated inside a bucket as Prometheus'
 * `histogram_quantile` does (the buckets are fine at the low end: 50 µs steps up to 0.3 ms).
 */
import type { scrapeMetrics } from './server-metrics.js';

type Samples = NonNullable<Awaited<ReturnType<typeof scrapeMetrics>>>;

export interface StageSummary {
  stage: string;
  count: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

/** Stages in the order a turn runs them (contributors' own times after their stage). */
const ORDER = ['admission', 'store_user', 'history', 'energy', 'contributors', 'contributor_', 'prompt', 'llm', 'store_reply', 'after_turn'];

const BUCKET = /^persona_mcp_turn_stage_seconds_bucket\{(.*)\}$/;

function label(labels: string, name: string): string | null {
  return new RegExp(`(?:^|,)${name}="([^"]*)"`).exec(labels)?.[1] ?? null;
}

function bucketsOf(samples: Samples): Map<string, Map<number, number>> {
  const stages = new Map<string, Map<number, number>>();
  for (const [key, value] of samples) {
    const labels = BUCKET.exec(key)?.[1];
    if (labels === undefined) continue;
    const stage = label(labels, 'stage');
    const le = label(labels, 'le');
    if (stage === null || le === null) continue;
    const buckets = stages.get(stage) ?? new Map<number, number>();
    buckets.set(le === '+Inf' ? Number.POSITIVE_INFINITY : Number(le), value);
    stages.set(stage, buckets);
  }
  return stages;
}

function quantile(bounds: number[], cumulative: number[], q: number): number {
  const total = cumulative.at(-1) ?? 0;
  if (total === 0) return 0;
  const rank = q * total;
  for (let index = 0; index < bounds.length; index++) {
    const upper = bounds[index] ?? 0;
    const count = cumulative[index] ?? 0;
    if (count < rank) continue;
    const lower = index === 0 ? 0 : (bounds[index - 1] ?? 0);
    const below = index === 0 ? 0 : (cumulative[index - 1] ?? 0);
    // Above the last finite bucket nothing can be interpolated: report its bound, as Prometheus does.
    if (!Number.isFinite(upper)) return lower;
    return lower + ((upper - lower) * (rank - below)) / Math.max(1, count - below);
  }
  return bounds.at(-2) ?? 0;
}

function rankOf(stage: string): number {
  const exact = ORDER.indexOf(stage);
  return exact >= 0 ? exact : ORDER.indexOf('contributor_');
}

/** Each stage's p50/p99 in the window between two scrapes; [] when either is missing. */
export function stagesBetween(before: Samples | null, after: Samples | null): StageSummary[] {
  if (before === null || after === null) return [];
  const old = bucketsOf(before);
  const summaries: StageSummary[] = [];
  for (const [stage, buckets] of bucketsOf(after)) {
    const bounds = [...buckets.keys()].sort((a, b) => a - b);
    const cumulative = bounds.map((bound) => (buckets.get(bound) ?? 0) - (old.get(stage)?.get(bound) ?? 0));
    const count = cumulative.at(-1) ?? 0;
    if (count === 0) continue;
    const sumKey = `persona_mcp_turn_stage_seconds_sum{stage="${stage}"}`;
    const sum = (after.get(sumKey) ?? 0) - (before.get(sumKey) ?? 0);
    summaries.push({
      stage,
      count,
      p50Ms: Math.round(quantile(bounds, cumulative, 0.5) * 1e5) / 100,
      p99Ms: Math.round(quantile(bounds, cumulative, 0.99) * 1e5) / 100,
      meanMs: Math.round((sum / count) * 1e5) / 100,
    });
  }
  return summaries.sort((a, b) => rankOf(a.stage) - rankOf(b.stage) || a.stage.localeCompare(b.stage));
}
