/**
 * Bytes the JavaScript heap allocated in stretches of an in-process bench, and the garbage collections
 * in them. Node 20 has no running "allocated bytes" counter, so a stretch's allocation is what the heap
 * grew by over it plus what each collection within it freed: one `v8.GCProfiler` over the whole run
 * reports the heap before and after every collection, and a `gc` PerformanceObserver (which sees the same
 * collections, in the same order) says when each began. Objects that die young are counted too — they
 * are what the scavenges work on. `cost` is the collections' time on the main thread (µs); V8's helper
 * threads' share is not in it. Marking a stretch costs ~2 µs (a `getHeapStatistics`); starting and
 * stopping a GCProfiler per stretch cost ~30.
 */
import { PerformanceObserver, performance, type PerformanceEntry } from 'node:perf_hooks';
import v8 from 'node:v8';

export interface Allocation {
  bytes: number;
  collections: number;
  /** µs of the collections' pauses on the main thread. */
  cost: number;
}

export const noAllocation = (): Allocation => ({ bytes: 0, collections: 0, cost: 0 });

interface Stretch {
  into: Allocation;
  from: number;
  to: number;
  usedAtStart: number;
}

export class AllocationMeter {
  private readonly profiler = new v8.GCProfiler();
  private readonly collections: PerformanceEntry[] = [];
  private readonly observer = new PerformanceObserver((list) => this.collections.push(...list.getEntries()));
  private readonly stretches: Stretch[] = [];
  private open: Stretch | null = null;

  constructor() {
    this.profiler.start();
    this.observer.observe({ entryTypes: ['gc'] });
  }

  /** Starts a stretch whose allocation is added to `into` (when `finish` runs). */
  start(into: Allocation): void {
    this.open = { into, from: performance.now(), to: 0, usedAtStart: v8.getHeapStatistics().used_heap_size };
  }

  /** Ends the stretch started last. */
  stop(): void {
    const stretch = this.open!;
    const usedAtEnd = v8.getHeapStatistics().used_heap_size;
    stretch.to = performance.now();
    stretch.into.bytes += usedAtEnd - stretch.usedAtStart;
    this.stretches.push(stretch);
    this.open = null;
  }

  /** Adds each collection's freed bytes and pause to the stretch it began in. False if the two sources disagree (nothing added). */
  finish(): boolean {
    this.collections.push(...this.observer.takeRecords());
    this.observer.disconnect();
    const { statistics } = this.profiler.stop();
    if (statistics.length !== this.collections.length) return false;
    let at = 0;
    for (const stretch of this.stretches) {
      while (at < statistics.length && this.collections[at]!.startTime < stretch.from) at++;
      for (; at < statistics.length && this.collections[at]!.startTime < stretch.to; at++) {
        const collection = statistics[at]!;
        stretch.into.bytes += collection.beforeGC.heapStatistics.usedHeapSize - collection.afterGC.heapStatistics.usedHeapSize;
        stretch.into.collections++;
        stretch.into.cost += collection.cost;
      }
    }
    return true;
  }
}

/** The sum of allocations. */
export function totalAllocation(parts: readonly Allocation[]): Allocation {
  const all = noAllocation();
  for (const part of parts) {
    all.bytes += part.bytes;
    all.collections += part.collections;
    all.cost += part.cost;
  }
  return all;
}
