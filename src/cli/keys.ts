/**
 * `persona-mcp keys create|list|revoke`: manages API keys in the store (the data directory's database, or
 * PostgreSQL with PERSONA_MCP_DATABASE_URL). Works while the server runs; a revoked key is refused from
 * its next connection on, on every node.
 */
import path from 'node:path';
import type { Command } from 'commander';
import { DATABASE_FILE_NAME } from '../config/paths.js';
import { SqliteApiKeyStore } from '../adapters/sqlite/api-key-store.js';
import { SqliteStore } from '../adapters/sqlite/sqlite-store.js';
import { PostgresStore } from '../adapters/postgres/pg-store.js';
import { PostgresApiKeyStore } from '../adapters/postgres/pg-small-stores.js';
import { systemClock } from '../ports/clock.js';
import { AuthService } from '../services/auth-service.js';
import { addConfigFlags, configFromFlags, type ConfigFlagValues } from './config-flags.js';

async function withAuth<T>(flags: ConfigFlagValues, work: (auth: AuthService) => Promise<T>): Promise<T> {
  const config = configFromFlags(flags);
  if (config.database.url !== undefined) {
    const store = await PostgresStore.open(config.database.url, { poolSize: 2, schema: config.database.schema });
    try {
      return await work(new AuthService(new PostgresApiKeyStore(store.database), systemClock, true));
    } finally {
      await store.close();
    }
  }
  const databasePath = path.join(config.dataDir, DATABASE_FILE_NAME);
  const store = SqliteStore.open(databasePath);
  try {
    return await work(new AuthService(new SqliteApiKeyStore(store.database, databasePath), systemClock, true));
  } finally {
    await store.close();
  }
}

function iso(milliseconds: number | null): string {
  return milliseconds === null ? '-' : new Date(milliseconds).toISOString();
}

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('manage API keys (each key is a user; required when listening beyond loopback)');

  addConfigFlags(keys.command('create').description('create a key and print it once'))
    .option('-n, --name <name>', 'who or what the key is for', 'default')
    .option('-u, --user <user>', 'user the key acts as (default: the name as a slug); keys of one user share sessions')
    .option('--admin', 'may export, import and change settings')
    .action(async (options: ConfigFlagValues & { name: string; user?: string; admin?: boolean }) => {
      const { key, record } = await withAuth(options, (auth) =>
        auth.createKey({ name: options.name, ...(options.user ? { userId: options.user } : {}), role: options.admin ? 'admin' : 'user' }),
      );
      process.stdout.write(`${key}\n`);
      process.stderr.write(`Created ${record.id} for user "${record.userId}" (${record.role}). Keep the key: it is shown only once.\n`);
    });

  addConfigFlags(keys.command('list').description('list keys (never the secrets)')).action(async (options: ConfigFlagValues) => {
    const records = await withAuth(options, (auth) => auth.list());
    if (records.length === 0) {
      process.stdout.write('No API keys. Create one with `persona-mcp keys create --name NAME`.\n');
      return;
    }
    for (const record of records) {
      const state = record.revokedAt === null ? 'active' : `revoked ${iso(record.revokedAt)}`;
      process.stdout.write(
        `${record.id}  ${record.keyPrefix}…  user=${record.userId}  role=${record.role}  name=${record.name}  created=${iso(record.createdAt)}  last_used=${iso(record.lastUsedAt)}  ${state}\n`,
      );
    }
  });

  addConfigFlags(keys.command('revoke <id>').description('revoke a key by id or shown prefix')).action(async (id: string, options: ConfigFlagValues) => {
    const revoked = await withAuth(options, (auth) => auth.revoke(id));
    process.stdout.write(`Revoked ${revoked.id} (${revoked.keyPrefix}…, user ${revoked.userId}).\n`);
  });
}
