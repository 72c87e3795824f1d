/**
 * Loads the configuration: defaults < config file < `.env` / environment < command-line flags.
 * Every problem is collected and reported at once, one line each, before anything starts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import { configSchema, type Config } from './schema.js';

export const CONFIG_FILE_NAME = 'persona-mcp.config.json';

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

type Layer = Record<string, unknown>;

/** Environment variables and the config key each sets. */
export const ENVIRONMENT_VARIABLES: ReadonlyArray<{ name: string; key: string; type: 'string' | 'number' }> = [
  { name: 'PERSONA_MCP_HOST', key: 'host', type: 'string' },
  { name: 'PERSONA_MCP_PORT', key: 'port', type: 'number' },
  { name: 'PERSONA_MCP_DATA_DIR', key: 'dataDir', type: 'string' },
  { name: 'PERSONA_MCP_LOG_LEVEL', key: 'logLevel', type: 'string' },
  { name: 'PERSONA_MCP_LOG_STALLS_MS', key: 'logStallsMs', type: 'number' },
  { name: 'PERSONA_MCP_MODEL', key: 'llm.model', type: 'string' },
  { name: 'PERSONA_MCP_LLM_TIMEOUT_MS', key: 'llm.timeoutMs', type: 'number' },
  { name: 'PERSONA_MCP_CONTEXT_TOKENS', key: 'llm.contextTokens', type: 'number' },
  { name: 'PERSONA_MCP_PERSONAS_DIR', key: 'personasDir', type: 'string' },
  { name: 'PERSONA_MCP_AUTH', key: 'auth.mode', type: 'string' },
  { name: 'PERSONA_MCP_LLM_PROVIDER', key: 'llm.provider', type: 'string' },
  { name: 'PERSONA_MCP_TOOLS', key: 'mcp.tools', type: 'string' },
  { name: 'PERSONA_MCP_DATABASE_URL', key: 'database.url', type: 'string' },
  { name: 'PERSONA_MCP_REDIS_URL', key: 'redis.url', type: 'string' },
  { name: 'PERSONA_MCP_JOBS_THREAD', key: 'jobs.thread', type: 'string' },
  { name: 'PERSONA_MCP_TRUSTED_PROXIES', key: 'http.trustedProxies', type: 'string' },
  { name: 'OLLAMA_HOST', key: 'llm.ollamaHost', type: 'string' },
  { name: 'OPENAI_BASE_URL', key: 'llm.openai.baseUrl', type: 'string' },
  { name: 'OPENAI_API_KEY', key: 'llm.openai.apiKey', type: 'string' },
];

export interface ConfigSources {
  /** Working directory where `persona-mcp.config.json` and `.env` are looked for. */
  cwd?: string;
  /** Explicit config file (`--config`); missing is then an error. */
  configFile?: string;
  /** The process environment (defaults to `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags, as dotted keys (`llm.model`) or nested objects. */
  flags?: Layer;
}

export function loadConfig(sources: ConfigSources = {}): Config {
  const cwd = sources.cwd ?? process.cwd();
  const problems: string[] = [];
  const environment = { ...readDotEnv(cwd, problems), ...(sources.env ?? process.env) };

  const configFile = sources.configFile ?? environment.PERSONA_MCP_CONFIG;
  const fileLayer = readConfigFile(configFile, cwd, problems);
  const envLayer = environmentLayer(environment, problems);
  const flagLayer = expandDottedKeys(sources.flags ?? {});

  const merged = deepMerge(deepMerge(fileLayer, envLayer), flagLayer);
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) problems.push(`${issue.path.join('.') || '(config)'}: ${issue.message}`);
  }
  if (parsed.success) resolveBackendKeys(parsed.data, environment, problems);
  if (problems.length > 0 || !parsed.success) throw new ConfigError(problems);
  return { ...parsed.data, dataDir: path.resolve(cwd, parsed.data.dataDir) };
}

/** Reads `llm.backends.*.apiKeyEnv` from the environment into `apiKey`, so keys stay out of config files. */
function resolveBackendKeys(config: Config, environment: NodeJS.ProcessEnv, problems: string[]): void {
  for (const [name, backend] of Object.entries(config.llm.backends)) {
    if (backend.apiKeyEnv === undefined || backend.apiKey !== undefined) continue;
    const key = environment[backend.apiKeyEnv];
    if (key === undefined || key === '') problems.push(`llm.backends.${name}.apiKeyEnv: the environment variable ${backend.apiKeyEnv} is not set`);
    else backend.apiKey = key;
  }
}

/** The variables of `.env` in `cwd` ({} when there is none; a problem reading it goes to `problems`). */
export function readDotEnv(cwd: string, problems: string[]): Record<string, string> {
  const file = path.join(cwd, '.env');
  if (!existsSync(file)) return {};
  try {
    return parseEnv(readFileSync(file, 'utf8')) as Record<string, string>;
  } catch (error) {
    problems.push(`.env: cannot be read (${(error as Error).message})`);
    return {};
  }
}

/** The config file read: `explicit` (resolved against `cwd`), else `persona-mcp.config.json` in `cwd`. */
export function configFilePath(explicit: string | undefined, cwd: string): string {
  return explicit ? path.resolve(cwd, explicit) : path.join(cwd, CONFIG_FILE_NAME);
}

/** The config file's object as written: `explicit`, else `persona-mcp.config.json` in `cwd` when present ({} when none). */
export function readConfigFile(explicit: string | undefined, cwd: string, problems: string[]): Layer {
  const file = configFilePath(explicit, cwd);
  if (!existsSync(file)) {
    if (explicit) problems.push(`config file ${file} does not exist`);
    return {};
  }
  try {
    const value: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      problems.push(`${file}: must hold a JSON object`);
      return {};
    }
    return value as Layer;
  } catch (error) {
    problems.push(`${file}: not valid JSON (${(error as Error).message})`);
    return {};
  }
}

function environmentLayer(environment: NodeJS.ProcessEnv, problems: string[]): Layer {
  const layer: Layer = {};
  for (const variable of ENVIRONMENT_VARIABLES) {
    const raw = environment[variable.name];
    if (raw === undefined || raw === '') continue;
    if (variable.type === 'number') {
      const value = Number(raw);
      if (!Number.isFinite(value)) {
        problems.push(`${variable.name}: "${raw}" is not a number`);
        continue;
      }
      layer[variable.key] = value;
    } else {
      layer[variable.key] = raw;
    }
  }
  return expandDottedKeys(layer);
}

function expandDottedKeys(layer: Layer): Layer {
  const result: Layer = {};
  for (const [key, value] of Object.entries(layer)) {
    if (value === undefined) continue;
    const parts = key.split('.');
    let target = result;
    for (const part of parts.slice(0, -1)) {
      const next = target[part];
      target = typeof next === 'object' && next !== null ? (next as Layer) : (target[part] = {});
    }
    const last = parts[parts.length - 1] as string;
    const existing = target[last];
    target[last] = isPlainObject(existing) && isPlainObject(value) ? deepMerge(existing, value) : value;
  }
  return result;
}

function isPlainObject(value: unknown): value is Layer {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: Layer, override: Layer): Layer {
  const result: Layer = { ...base };
  for (const [key, value] of Object.entries(override)) {
    const existing = result[key];
    result[key] = isPlainObject(existing) && isPlainObject(value) ? deepMerge(existing, value) : value;
  }
  return result;
}
