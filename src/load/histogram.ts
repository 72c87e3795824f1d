/**
 * A log-linear latency histogram in microseconds (the HdrHistogram idea, small): values below 128 µs
 * have their own bucket, above that each power of two is cut into 64 buckets, so any recorded value
 * is reported within 1.6 %. Fixed size (a few KB), cheap to record, and mergeable across load
 * processes by adding the counts, which is why workers ship histograms rather than raw samples.
 */

const LINEAR_LIMIT = 128;
const SUB_BUCKETS = 64;
const SUB_BITS = 6;
/** Values up to 2^36 µs (~19 h) fit; larger ones land in the last bucket. */
const MAX_EXPONENT = 36;
const BUCKETS = LINEAR_LIMIT + (MAX_EXPONENT - 7 + 1) * SUB_BUCKETS;

export interface HistogramSnapshot {
  counts: number[];
  total: number;
  sum: number;
  max: number;
}

export class Histogram {
  private counts = new Float64Array(BUCKETS);
  private total = 0;
  private sum = 0;
  private max = 0;

  /** Records one value in microseconds (negative values count as 0). */
  record(microseconds: number): void {
    const value = microseconds > 0 ? Math.floor(microseconds) : 0;
    this.counts[bucketOf(value)]! += 1;
    this.total += 1;
    this.sum += value;
    if (value > this.max) this.max = value;
  }

  get count(): number {
    return this.total;
  }

  /** The value at quantile q (0..1), in microseconds (the bucket's midpoint). */
  quantile(q: number): number {
    if (this.total === 0) return Number.NaN;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let index = 0; index < BUCKETS; index++) {
      seen += this.counts[index]!;
      if (seen >= rank) return Math.min(midpointOf(index), this.max);
    }
    return this.max;
  }

  mean(): number {
    return this.total === 0 ? Number.NaN : this.sum / this.total;
  }

  maximum(): number {
    return this.max;
  }

  snapshot(): HistogramSnapshot {
    return { counts: Array.from(this.counts), total: this.total, sum: this.sum, max: this.max };
  }

  merge(other: HistogramSnapshot): void {
    for (let index = 0; index < BUCKETS; index++) this.counts[index]! += other.counts[index] ?? 0;
    this.total += other.total;
    this.sum += other.sum;
    if (other.max > this.max) this.max = other.max;
  }

  static from(snapshots: HistogramSnapshot[]): Histogram {
    const histogram = new Histogram();
    for (const snapshot of snapshots) histogram.merge(snapshot);
    return histogram;
  }

  /** p50/p90/p99/p99.9/max/mean in milliseconds, rounded to 0.01 ms, for tables and JSON. */
  summaryMs(): LatencySummary {
    const ms = (us: number): number => Math.round(us / 10) / 100;
    return {
      count: this.total,
      p50: ms(this.quantile(0.5)),
      p90: ms(this.quantile(0.9)),
      p99: ms(this.quantile(0.99)),
      p999: ms(this.quantile(0.999)),
      max: ms(this.max),
      mean: ms(this.mean()),
    };
  }
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

function bucketOf(value: number): number {
  if (value < LINEAR_LIMIT) return value;
  const exponent = Math.min(MAX_EXPONENT, Math.floor(Math.log2(value)));
  if (exponent === MAX_EXPONENT && value >= 2 ** (MAX_EXPONENT + 1)) return BUCKETS - 1;
  const sub = Math.floor(value / 2 ** (exponent - SUB_BITS)) - SUB_BUCKETS;
  return LINEAR_LIMIT + (exponent - 7) * SUB_BUCKETS + sub;
}

function midpointOf(index: number): number {
  if (index < LINEAR_LIMIT) return index;
  const exponent = Math.floor((index - LINEAR_LIMIT) / SUB_BUCKETS) + 7;
  const sub = (index - LINEAR_LIMIT) % SUB_BUCKETS;
  const width = 2 ** (exponent - SUB_BITS);
  return (SUB_BUCKETS + sub) * width + width / 2;
}
