/**
 * The checks behind `persona-mcp doctor`. Each one looks at one thing the server needs and returns a
 * `Check`: what it found and, for a problem, what to do. A `fail` means `persona-mcp serve` will not
 * work; a `warn` means it runs but something (usually chat, for lack of Ollama or a model) will not.
 */
import { accessSync, constants, existsSync, mkdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';
import { normalizeOllamaHost, OllamaProvider } from '../adapters/ollama/ollama-provider.js';
import { loadPersonaFiles, shippedPersonasDir } from '../adapters/persona-files.js';
import { openDatabase } from '../adapters/sqlite/database.js';
import { appliedSchemaVersion, currentSchemaVersion } from '../adapters/sqlite/migrations.js';
import { SqliteStore } from '../adapters/sqlite/sqlite-store.js';
import { PostgresStore } from '../adapters/postgres/pg-store.js';
import { redactUrl } from '../adapters/postgres/database.js';
import { currentPgSchemaVersion } from '../adapters/postgres/migrations.js';
import { DATABASE_FILE_NAME } from '../config/paths.js';
import type { Config } from '../config/schema.js';
import { isAppError } from '../domain/errors.js';
import type { LlmModel } from '../ports/llm.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface Check {
  /** Stable name for scripts reading `--json`: node, config, data_dir, database, ... */
  id: string;
  status: CheckStatus;
  /** One line saying what was found. */
  title: string;
  /** Further lines of information. */
  details?: string[];
  /** What to do about a `fail` or `warn`. */
  fix?: string;
}

/** Node's `fs.statfs` and `fetch` behave as we rely on from here on (and `package.json` says so). */
export const MINIMUM_NODE: readonly [number, number] = [20, 19];
/** Below this the database cannot grow for long: chats would start failing with storage errors. */
export const MINIMUM_FREE_BYTES = 100 * 1024 * 1024;
/** Below this we warn: a long-running server with memories and history outgrows it. */
export const LOW_FREE_BYTES = 1024 * 1024 * 1024;

export function checkNode(version = process.versions.node): Check {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  const [needMajor, needMinor] = MINIMUM_NODE;
  const isRecentEnough = major > needMajor || (major === needMajor && minor >= needMinor);
  const need = `${needMajor}.${needMinor}`;
  return isRecentEnough
    ? { id: 'node', status: 'ok', title: `Node.js ${version} (needs ≥ ${need})` }
    : {
        id: 'node',
        status: 'fail',
        title: `Node.js ${version} is too old (needs ≥ ${need})`,
        fix: `Install Node.js ${need} or newer (e.g. the current LTS from nodejs.org or nvm).`,
      };
}

export function checkDataDir(dataDir: string): Check {
  const id = 'data_dir';
  const fix = 'Create the directory or make it writable, or choose another with --data-dir / PERSONA_MCP_DATA_DIR.';
  let wasCreated = false;
  try {
    if (!existsSync(dataDir)) {
      mkdirSync(dataDir, { recursive: true });
      wasCreated = true;
    }
    if (!statSync(dataDir).isDirectory()) return { id, status: 'fail', title: `Data directory ${dataDir} is a file, not a directory`, fix };
    accessSync(dataDir, constants.W_OK);
    // access() can say yes on a read-only mount; writing a file is the real test.
    const probe = path.join(dataDir, `.doctor-probe-${process.pid}`);
    writeFileSync(probe, 'ok');
    unlinkSync(probe);
  } catch (error) {
    return { id, status: 'fail', title: `Data directory ${dataDir} is not usable: ${(error as Error).message}`, fix };
  }
  return { id, status: 'ok', title: `Data directory ${dataDir} ${wasCreated ? 'created' : 'exists'} and is writable` };
}

/** Opens the database as `serve` does (creating or migrating it) and returns the personas' models. */
export async function checkDatabase(
  dataDir: string,
  postgres?: { url: string; schema: string },
): Promise<{ check: Check; personas: Array<{ name: string; model: string | null }> }> {
  if (postgres !== undefined) return checkPostgres(postgres);
  const file = path.join(dataDir, DATABASE_FILE_NAME);
  const existed = existsSync(file);
  try {
    const db = openDatabase(file);
    const version = appliedSchemaVersion(db);
    const store = new SqliteStore(db, file);
    try {
      const personas = await store.listPersonas();
      const size = existed ? ` · ${(statSync(file).size / 1_048_576).toFixed(1)} MB` : '';
      const what = existed ? `opens` : 'created';
      return {
        check: {
          id: 'database',
          status: 'ok',
          title: `Database ${file} ${what} (schema version ${version} of ${currentSchemaVersion()}${size} · ${personas.length} personas)`,
        },
        personas: personas.map((persona) => ({ name: persona.name, model: persona.model })),
      };
    } finally {
      await store.close();
    }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      check: {
        id: 'database',
        status: 'fail',
        title: `Database ${file} cannot be opened: ${message}`,
        fix: 'Stop any other program using it, free disk space, or point --data-dir at another directory. Keep the file: it holds your conversations.',
      },
      personas: [],
    };
  }
}

/** The shipped (or configured) persona files: a bad one stops `serve` at start-up. */
export function checkPersonaFiles(config: Config): { check: Check; personas: Array<{ name: string; model: string | null }> } {
  const directory = config.personasDir ?? shippedPersonasDir();
  try {
    const personas = loadPersonaFiles(directory);
    return {
      check: {
        id: 'persona_files',
        status: 'ok',
        title: `${personas.length} persona files in ${directory} (${personas.map((persona) => persona.name).join(', ')})`,
      },
      personas: personas.map((persona) => ({ name: persona.name, model: persona.model })),
    };
  } catch (error) {
    return {
      check: {
        id: 'persona_files',
        status: 'fail',
        title: `Persona files in ${directory} cannot be loaded: ${(error as Error).message}`,
        fix: 'Fix the file named above, or unset PERSONA_MCP_PERSONAS_DIR to use the shipped personas.',
      },
      personas: [],
    };
  }
}

export async function checkDiskSpace(dataDir: string): Promise<Check> {
  const id = 'disk_space';
  try {
    const stats = await statfs(dataDir);
    const free = stats.bavail * stats.bsize;
    const title = `${formatBytes(free)} free in ${dataDir}`;
    if (free < MINIMUM_FREE_BYTES)
      return {
        id,
        status: 'fail',
        title: `Only ${title}`,
        fix: `Free disk space: the database needs room to grow (at least ${formatBytes(MINIMUM_FREE_BYTES)}).`,
      };
    if (free < LOW_FREE_BYTES)
      return { id, status: 'warn', title: `Only ${title}`, fix: 'Free some disk space soon; conversations and memories grow over time.' };
    return { id, status: 'ok', title };
  } catch (error) {
    return { id, status: 'skip', title: `Free disk space unknown (${(error as Error).message})` };
  }
}

/** Free, or already serving persona-mcp (told apart from another program by `GET /healthz`). */
export async function checkPort(host: string, port: number): Promise<Check> {
  const id = 'port';
  if (port === 0) return { id, status: 'skip', title: 'Port 0: the server picks a free port at start' };
  const where = `${host}:${port}`;
  const code = await tryListen(host, port);
  if (code === null) return { id, status: 'ok', title: `Port ${port} on ${host} is free` };
  if (code === 'EADDRINUSE') {
    const probeHost = host === '0.0.0.0' ? '127.0.0.1' : host === '::' ? '::1' : host;
    const hostForUrl = probeHost.includes(':') ? `[${probeHost}]` : probeHost;
    if (await isPersonaMcp(`http://${hostForUrl}:${port}/healthz`)) {
      return {
        id,
        status: 'ok',
        title: `A persona-mcp is already listening on ${where}`,
        details: [`talk to it: persona-mcp chat --url ws://${hostForUrl}:${port}/mcp`],
      };
    }
    return {
      id,
      status: 'fail',
      title: `Port ${port} on ${host} is used by another program`,
      fix: 'Stop that program, or choose another port with --port / PERSONA_MCP_PORT.',
    };
  }
  if (code === 'EACCES')
    return {
      id,
      status: 'fail',
      title: `Not allowed to listen on ${where}`,
      fix: 'Ports below 1024 need privileges: choose a port above 1024 with --port.',
    };
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
    return {
      id,
      status: 'fail',
      title: `${host} is not an address of this machine`,
      fix: 'Use 127.0.0.1 (this machine only) or an address of one of its interfaces with --host.',
    };
  }
  return { id, status: 'fail', title: `Cannot listen on ${where} (${code})`, fix: 'Choose another --host or --port.' };
}

function tryListen(host: string, port: number): Promise<string | null> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(null)));
  });
}

async function isPersonaMcp(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { status?: unknown };
    return response.ok && body.status === 'ok';
  } catch {
    return false;
  }
}

export interface OllamaCheck {
  check: Check;
  /** The installed models, or null when Ollama could not be asked. */
  models: LlmModel[] | null;
}

export async function checkOllama(ollamaHost: string): Promise<OllamaCheck> {
  const id = 'ollama';
  let baseUrl: string;
  try {
    baseUrl = normalizeOllamaHost(ollamaHost);
  } catch (error) {
    // app.ts normalises the same value at start-up, so `serve` would stop here too.
    return {
      check: {
        id,
        status: 'fail',
        title: (error as Error).message,
        fix: 'Set OLLAMA_HOST / --ollama-host to host:port or http://host:port.',
      },
      models: null,
    };
  }
  const provider = new OllamaProvider({ baseUrl, listTimeoutMs: 3000, statusTimeoutMs: 2000 });
  try {
    const models = await provider.listModels();
    const version = await ollamaVersion(baseUrl);
    return {
      check: {
        id,
        status: 'ok',
        title: `Ollama${version ? ` ${version}` : ''} reachable at ${baseUrl} (${models.length} models installed)`,
      },
      models,
    };
  } catch (error) {
    const message = isAppError(error) ? error.message : (error as Error).message;
    return {
      check: {
        id,
        status: 'warn',
        title: `Ollama not reachable at ${baseUrl}`,
        details: [message],
        fix: 'Start Ollama (`ollama serve`) or set OLLAMA_HOST / --ollama-host. The server runs without it, but chats answer -32010 until it is up.',
      },
      models: null,
    };
  }
}

async function ollamaVersion(baseUrl: string): Promise<string | null> {
  try {
    const response = await fetch(`${baseUrl}/api/version`, { signal: AbortSignal.timeout(2000) });
    const body = (await response.json()) as { version?: unknown };
    return typeof body.version === 'string' ? body.version : null;
  } catch {
    return null;
  }
}

/** One check per model in use: the default model and each persona's own. */
export function checkModels(
  defaultModel: string,
  personas: Array<{ name: string; model: string | null }>,
  installed: LlmModel[] | null,
): Check[] {
  const users = new Map<string, string[]>([[defaultModel, []]]);
  for (const persona of personas) {
    const model = persona.model ?? defaultModel;
    users.set(model, [...(users.get(model) ?? []), persona.name]);
  }
  const names = new Set(installed?.map((model) => model.name) ?? []);
  const isInstalled = (model: string): boolean => names.has(model) || (!model.includes(':') && names.has(`${model}:latest`));
  return [...users].map(([model, personaNames]) => {
    const roles = [model === defaultModel ? 'default' : null, personaNames.length > 0 ? `used by ${personaNames.join(', ')}` : null]
      .filter(Boolean)
      .join('; ');
    const id = `model:${model}`;
    if (installed === null)
      return {
        id,
        status: 'skip',
        title: `Model ${model} not checked (Ollama unreachable) — ${roles}`,
        fix: `Once Ollama runs: ollama pull ${model}`,
      };
    if (isInstalled(model)) return { id, status: 'ok', title: `Model ${model} installed — ${roles}` };
    return { id, status: 'warn', title: `Model ${model} is not installed — ${roles}`, fix: `ollama pull ${model}` };
  });
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * The embedding model memory asks the backend for (memory.embedModel), unless memory uses the offline
 * embedder only. Missing, memory search still works with the offline embedder, without meaning-based
 * recall of paraphrases beyond WordNet's.
 */
export function checkEmbeddingModel(memory: { embedder: string; embedModel: string }, installed: LlmModel[] | null): Check {
  const id = 'embedding_model';
  const model = memory.embedModel;
  if (memory.embedder === 'offline') return { id, status: 'ok', title: 'Memory uses the offline embedder only (memory.embedder "offline")' };
  if (installed === null)
    return { id, status: 'skip', title: `Embedding model ${model} not checked (Ollama unreachable)`, fix: `Once Ollama runs: ollama pull ${model}` };
  const names = new Set(installed.map((entry) => entry.name));
  if (names.has(model) || (!model.includes(':') && names.has(`${model}:latest`)))
    return { id, status: 'ok', title: `Embedding model ${model} installed — memory search uses it` };
  return {
    id,
    status: 'warn',
    title: `Embedding model ${model} is not installed — memory search uses the offline embedder meanwhile`,
    fix: `ollama pull ${model}`,
  };
}

/** PostgreSQL (database.url): connects and migrates as `serve` does, and reports its size and personas. */
async function checkPostgres(postgres: { url: string; schema: string }): Promise<{ check: Check; personas: Array<{ name: string; model: string | null }> }> {
  const where = redactUrl(postgres.url);
  try {
    const store = await PostgresStore.open(postgres.url, { poolSize: 1, schema: postgres.schema });
    try {
      const personas = await store.listPersonas();
      const health = await store.checkHealth();
      return {
        check: {
          id: 'database',
          status: 'ok',
          title: `PostgreSQL ${where} (schema "${postgres.schema}", version ${currentPgSchemaVersion()} · ${(health.sizeBytes / 1_048_576).toFixed(1)} MB · ${personas.length} personas · ${describeVectors(health.vectors.pgvector)})`,
        },
        personas: personas.map((persona) => ({ name: persona.name, model: persona.model })),
      };
    } finally {
      await store.close();
    }
  } catch (error) {
    return {
      check: {
        id: 'database',
        status: 'fail',
        title: `PostgreSQL ${where} cannot be used: ${error instanceof Error ? error.message : String(error)}`,
        fix: 'Start PostgreSQL, create the database and role, or fix PERSONA_MCP_DATABASE_URL (docs/operations.md).',
      },
      personas: [],
    };
  }
}

/** The doctor's words for where memory vectors are searched (docs/operations.md, pgvector). */
function describeVectors(pgvector: 'installed' | 'available' | 'absent' | null): string {
  const where = 'vectors in PostgreSQL, searched by each node\'s in-memory index';
  return pgvector === null || pgvector === 'absent' ? `${where}; pgvector not on this server` : `${where}; pgvector ${pgvector}, not used`;
}
