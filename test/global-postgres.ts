/**
 * Vitest global setup: a PostgreSQL cluster for the contract tests (the store tests run on SQLite and on
 * PostgreSQL), started in the background from Debian's binaries so it costs the suite no waiting; tests
 * that need it wait for it (test/helpers/store-backend.ts). With PERSONA_MCP_TEST_DATABASE_URL set, that
 * server is used instead. Without PostgreSQL installed the PostgreSQL runs are skipped with a message.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { findPostgresBin, startPostgres, type LocalPostgres } from './helpers/local-services.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Where the test PostgreSQL server is, or why there is none. */
    postgres: { url: string; statusFile: string | null } | { unavailable: string };
  }
}

export default function setup(project: TestProject): () => Promise<void> {
  const external = process.env.PERSONA_MCP_TEST_DATABASE_URL;
  if (external !== undefined && external !== '') {
    project.provide('postgres', { url: external, statusFile: null });
    // The contract tests make one t_* schema per test file; an external server keeps them otherwise.
    return async () => {
      const client = new pg.Client({ connectionString: external });
      await client.connect();
      try {
        const schemas = (await client.query<{ name: string }>("SELECT nspname AS name FROM pg_namespace WHERE nspname ~ '^t_[0-9a-f]{12}$'")).rows;
        for (const { name } of schemas) await client.query(`DROP SCHEMA ${name} CASCADE`);
      } finally {
        await client.end();
      }
    };
  }
  if (process.env.PERSONA_MCP_TEST_POSTGRES === 'off') {
    project.provide('postgres', { unavailable: 'PERSONA_MCP_TEST_POSTGRES=off' });
    return async () => {};
  }
  if (findPostgresBin() === null) {
    project.provide('postgres', { unavailable: 'PostgreSQL is not installed (apt-get install postgresql)' });
    return async () => {};
  }
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-pg-status-'));
  const statusFile = path.join(dir, 'status.json');
  // The URL is only known once the cluster runs; tests read it from the status file.
  project.provide('postgres', { url: '', statusFile });
  const starting: Promise<LocalPostgres | null> = startPostgres()
    .then((server) => {
      writeFileSync(statusFile, JSON.stringify({ url: server.url }));
      return server;
    })
    .catch((error: unknown) => {
      writeFileSync(statusFile, JSON.stringify({ error: error instanceof Error ? error.message : String(error) }));
      return null;
    });
  return async () => {
    const server = await starting;
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  };
}
