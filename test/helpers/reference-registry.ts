/** The registry of a real core on a throw-away data dir (what docs/API.md and the MCP tool list are made from). */
import { rmSync } from 'node:fs';
import { createCore } from '../../src/app/app.js';
import { silentLogger } from '../../src/logger.js';
import type { MethodRegistry } from '../../src/rpc/registry.js';
import { makeDataDir, testConfig } from './server.js';

export async function buildReferenceRegistry(): Promise<{ registry: MethodRegistry; close(): Promise<void> }> {
  const dataDir = makeDataDir();
  const core = await createCore(testConfig(dataDir), { logger: silentLogger() });
  return {
    registry: core.registry,
    async close() {
      await core.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
