/**
 * Event-loop stalls, each one seen and judged: a timer that should fire every `tickMs` notices when it
 * fires late, and the process's CPU time over the late interval tells why.
 *
 * - **busy**: the process used the CPU for most of the stall (at least half of it): its own JavaScript,
 *   a synchronous SQLite call, a garbage collection. Those are the server's to fix.
 * - **starved**: the process hardly ran: the machine gave its CPU to something else (other processes on
 *   a shared host, a throttled container). No code change in the server shortens those.
 *
 * `monitorEventLoopDelay` (prom-client's `nodejs_eventloop_lag_*`) measures how late the loop is but
 * cannot tell the two apart, and it keeps no timestamps; on a shared machine the two look the same in a
 * latency table. Each stall also carries the GC pause time that fell inside it (from `gc` performance
 * entries, which arrive after the stall: a stall is reported 100 ms after it ends) and its time on the
 * monotonic clock that V8 CPU profiles use, so a stall in the log can be found in a `--cpu-prof` profile
 * (`bench/profile-stalls.ts` prints the same clock).
 *
 * The CPU clock is not read at every tick: `process.cpuUsage()` is a system call (~2 µs here, more with
 * busy threads) and a tick every 10 ms made it 1.5–2.3 % of a profiled server's samples. It is read about
 * ten times a second (`cpuSampleMs`) and at each late tick; the CPU of the on-time stretch between the
 * last reading and the tick before the stall is taken out as the time the event loop was active in it
 * (libuv's idle-time counter, read at every tick for the price of a clock read). A loop that was waiting
 * for I/O used no CPU; one that was running used at most the time it ran.
 */
import { PerformanceObserver, constants, performance, type PerformanceEntry } from 'node:perf_hooks';

export type StallCause = 'busy' | 'starved';

export interface LoopStall {
  cause: StallCause;
  /** Wall time of the stall: how late the timer fired (ms). */
  stalledMs: number;
  /**
   * CPU time the process used (all its threads) between the two timer ticks around the stall (ms): the
   * CPU clock's advance since its last reading (at most `cpuSampleMs` before the stall) less the time the
   * event loop was active between that reading and the stall.
   */
  cpuMs: number;
  /** Of the stall, time spent in garbage-collection pauses (ms), and their kinds (minor, major, ...). */
  gcMs: number;
  gcKinds: string[];
  /** When the stall ended, ms since the epoch. */
  endedAt: number;
  /** When the stall began on the monotonic clock of V8 CPU profiles (`process.hrtime`, in ms). */
  startedMonotonicMs: number;
}

export interface LoopStallOptions {
  /** Stalls shorter than this are not counted (ms); default 10. */
  minStallMs?: number;
  /** How often the watching timer fires (ms); default 10, the resolution prom-client's lag monitor uses. */
  tickMs?: number;
  /** Called for each stall, 100 ms after it ended (once its GC entries have arrived). */
  onStall?: (stall: LoopStall) => void;
  /**
   * How often the CPU clock is read between stalls (ms); default 100. Each late tick reads it too, so a
   * stall's CPU time is measured from at most this long before it.
   */
  cpuSampleMs?: number;
  /** The process's CPU time so far in µs (tests give their own); default `process.cpuUsage()`. */
  readCpuUs?: () => number;
}

/** Busy when the process used the CPU for at least half of the interval around the stall. */
export function stallCause(cpuMs: number, elapsedMs: number): StallCause {
  return cpuMs >= elapsedMs / 2 ? 'busy' : 'starved';
}

/**
 * How long a stall waits for its GC entries: Node creates them in a later turn of the loop and hands
 * them to observers in the turn after, which can be several busy turns after the stall.
 */
const GC_ENTRY_WAIT_MS = 100;

const GC_KIND_NAMES: Record<number, string> = {
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

/** A stall being judged: kept until the GC entries of its window have had time to arrive. */
interface PendingStall {
  /** Window on the `performance.now()` clock: from the tick before the stall to the late tick. */
  windowStart: number;
  windowEnd: number;
  stall: LoopStall;
}

export class LoopStallWatch {
  private readonly minStallMs: number;
  private readonly tickMs: number;
  private readonly onStall: ((stall: LoopStall) => void) | undefined;
  private readonly readCpuUs: () => number;
  private readonly cpuSampleMs: number;
  private timer: NodeJS.Timeout | null = null;
  private observer: PerformanceObserver | null = null;
  private lastTick = 0;
  /** Time the loop had spent idle (waiting for I/O) by the last tick, on libuv's counter (ms). */
  private lastIdleMs = 0;
  /** The last reading of the CPU clock (µs), when it was taken, and the loop's idle time then. */
  private cpuUs = 0;
  private cpuReadAt = 0;
  private idleMsAtCpuRead = 0;
  private pending: PendingStall[] = [];
  /** Stalls so far and their total time, by cause. */
  readonly totals: Record<StallCause, { count: number; stalledMs: number; maxMs: number }> = {
    busy: { count: 0, stalledMs: 0, maxMs: 0 },
    starved: { count: 0, stalledMs: 0, maxMs: 0 },
  };
  private readonly listeners: Array<(stall: LoopStall) => void> = [];

  constructor(options: LoopStallOptions = {}) {
    this.minStallMs = options.minStallMs ?? 10;
    this.tickMs = options.tickMs ?? 10;
    this.onStall = options.onStall;
    this.readCpuUs = options.readCpuUs ?? cpuUs;
    this.cpuSampleMs = options.cpuSampleMs ?? 100;
  }

  /** Also tells `listener` about each stall (the metrics count them). */
  subscribe(listener: (stall: LoopStall) => void): void {
    this.listeners.push(listener);
  }

  start(): void {
    if (this.timer !== null) return;
    this.lastTick = performance.now();
    this.lastIdleMs = loopIdleMs();
    this.readCpu(this.lastTick, this.lastIdleMs);
    this.timer = setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
    this.observer = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) this.attributeGc(entry.startTime, entry.duration, (entry as PerformanceEntry & { detail?: { kind?: number } }).detail);
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.observer?.disconnect();
    this.observer = null;
    for (const pending of this.pending) this.onStall?.(pending.stall);
    this.pending = [];
  }

  private tick(): void {
    const now = performance.now();
    const idleMs = loopIdleMs();
    const lateMs = now - this.lastTick - this.tickMs;
    if (this.pending.length > 0) this.flush(now);
    if (lateMs >= this.minStallMs) {
      const cpuBeforeUs = this.cpuUs;
      // CPU the on-time stretch before the stall may have used: the loop's active time in it.
      const onTimeActiveMs = Math.max(0, this.lastTick - this.cpuReadAt - (this.lastIdleMs - this.idleMsAtCpuRead));
      this.readCpu(now, idleMs);
      const cpuMs = Math.max(0, (this.cpuUs - cpuBeforeUs) / 1000 - onTimeActiveMs);
      const elapsedMs = now - this.lastTick;
      const stall: LoopStall = {
        cause: stallCause(cpuMs, elapsedMs),
        stalledMs: round(lateMs),
        cpuMs: round(cpuMs),
        gcMs: 0,
        gcKinds: [],
        endedAt: Date.now(),
        startedMonotonicMs: round(monotonicMs() - lateMs),
      };
      const totals = this.totals[stall.cause];
      totals.count += 1;
      totals.stalledMs += lateMs;
      totals.maxMs = Math.max(totals.maxMs, lateMs);
      for (const listener of this.listeners) listener(stall);
      this.pending.push({ windowStart: this.lastTick, windowEnd: now, stall });
    } else if (now - this.cpuReadAt >= this.cpuSampleMs) {
      this.readCpu(now, idleMs);
    }
    this.lastTick = now;
    this.lastIdleMs = idleMs;
  }

  private readCpu(now: number, idleMs: number): void {
    this.cpuUs = this.readCpuUs();
    this.cpuReadAt = now;
    this.idleMsAtCpuRead = idleMs;
  }

  /** GC entries are queued and delivered later: each one is added to the stall whose window holds it. */
  private attributeGc(startTime: number, duration: number, detail: { kind?: number } | undefined): void {
    for (const pending of this.pending) {
      if (startTime + duration < pending.windowStart || startTime > pending.windowEnd) continue;
      pending.stall.gcMs = round(pending.stall.gcMs + duration);
      const kind = detail?.kind === undefined ? 'unknown' : (GC_KIND_NAMES[detail.kind] ?? String(detail.kind));
      if (!pending.stall.gcKinds.includes(kind)) pending.stall.gcKinds.push(kind);
    }
  }

  /** Reports the stalls that ended long enough ago for their GC entries to be in. */
  private flush(now: number): void {
    const ready = this.pending.filter((pending) => now - pending.windowEnd >= GC_ENTRY_WAIT_MS);
    if (ready.length === 0) return;
    this.pending = this.pending.filter((pending) => now - pending.windowEnd < GC_ENTRY_WAIT_MS);
    for (const pending of ready) this.onStall?.(pending.stall);
  }
}

/** A stall as log fields. */
export function stallLogFields(stall: LoopStall): Record<string, unknown> {
  return {
    cause: stall.cause,
    stalledMs: stall.stalledMs,
    cpuMs: stall.cpuMs,
    gcMs: stall.gcMs,
    gcKinds: stall.gcKinds,
    monotonicMs: stall.startedMonotonicMs,
    endedAt: stall.endedAt,
  };
}

function cpuUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** Time the event loop has spent waiting for I/O since it started (libuv's counter; a read, no system call). */
function loopIdleMs(): number {
  return performance.nodeTiming.idleTime;
}

function monotonicMs(): number {
  return Number(process.hrtime.bigint() / 1000n) / 1000;
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
