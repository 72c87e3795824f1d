/** Starts the real server on an ephemeral port with a temp data dir (and usually the fake Ollama). */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, type RunningServer } from '../../src/app/app.js';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';
import type { Clock } from '../../src/ports/clock.js';
import { silentLogger } from '../../src/logger.js';
import { TestClient } from './ws-client.js';

export interface TestServer {
  server: RunningServer;
  dataDir: string;
  connect(query?: string): Promise<TestClient>;
  /** Stops the server (the data dir stays until `cleanup`). */
  stop(): Promise<void>;
  /** Stops and deletes the data dir. */
  cleanup(): Promise<void>;
}

export function makeDataDir(): string {
  return mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-test-'));
}

export function testConfig(dataDir: string, flags: Record<string, unknown> = {}, ollamaUrl = 'http://127.0.0.1:9'): Config {
  return loadConfig({ cwd: dataDir, env: {}, flags: { dataDir, port: 0, 'llm.ollamaHost': ollamaUrl, validateResults: true, warmUpRequests: 0, ...flags } });
}

export async function startTestServer(options: { ollamaUrl?: string; dataDir?: string; flags?: Record<string, unknown>; clock?: Clock } = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? makeDataDir();
  const server = await startServer(testConfig(dataDir, options.flags, options.ollamaUrl), { logger: silentLogger(), ...(options.clock ? { clock: options.clock } : {}) });
  const clients: TestClient[] = [];
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await Promise.all(clients.map((client) => client.close().catch(() => undefined)));
    await server.close();
  };
  return {
    server,
    dataDir,
    async connect(query = '') {
      const client = await TestClient.connect(`${server.websocketUrl}${query}`);
      clients.push(client);
      return client;
    },
    stop,
    async cleanup() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
