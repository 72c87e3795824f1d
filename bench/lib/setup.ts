/** What every suite needs: a fresh data dir with a bench config, and the servers it compares. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The server's protective limits are meant for real clients; a load generator on loopback is one IP
 * sending far above 100 requests/s per connection, so the bench lifts them (they are config keys, see
 * docs/configuration.md). Everything else stays at its default.
 */
export const BENCH_LIMITS = {
  maxConnections: 1_000_000,
  maxConnectionsPerIp: 1_000_000,
  rateLimitPerSecond: 1_000_000_000,
  rateLimitBurst: 1_000_000_000,
  // Still checked on every request (the cost is measured), never reached.
  rateLimitPerKeyPerSecond: 1_000_000_000,
  rateLimitPerAddressPerSecond: 1_000_000_000,
};

export interface BenchDir {
  dataDir: string;
  configFile: string;
  remove(): void;
}

/**
 * A temp dir with `data/` and `bench.config.json`: the bench limits, then `PERSONA_BENCH_CONFIG`
 * (JSON, merged in; to measure a setting, e.g. `{"chat":{"historyMessages":50}}`).
 */
export function benchDir(name: string): BenchDir {
  const root = mkdtempSync(path.join(os.tmpdir(), `persona-bench-${name}-`));
  const dataDir = path.join(root, 'data');
  const configFile = path.join(root, 'bench.config.json');
  const override = JSON.parse(process.env.PERSONA_BENCH_CONFIG ?? '{}') as Record<string, unknown>;
  writeFileSync(configFile, JSON.stringify(deepMerge({ limits: BENCH_LIMITS }, override), null, 2));
  return { dataDir, configFile, remove: () => rmSync(root, { recursive: true, force: true }) };
}

export interface SuiteOptions {
  quick: boolean;
  isPinned: boolean;
  /** Extra node flags for the persona-mcp server (e.g. --cpu-prof). */
  serverNodeFlags: string[];
}

export function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function deepMerge(base: Record<string, unknown>, top: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(top)) {
    const under = merged[key];
    const isObject = (candidate: unknown): candidate is Record<string, unknown> =>
      typeof candidate === 'object' && candidate !== null && !Array.isArray(candidate);
    merged[key] = isObject(under) && isObject(value) ? deepMerge(under, value) : value;
  }
  return merged;
}
