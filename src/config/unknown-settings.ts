/**
 * Settings the configuration does not know: a key of the config file no setting has (a typo such as
 * `jobs.thred`) and a `PERSONA_MCP_…` variable that sets nothing. The schema drops unknown keys silently
 * (zod objects strip them), so a misspelt setting would leave its default in force unseen: `doctor`
 * reports each one, and `serve` logs a warning at start (it still starts: the rest of the configuration
 * is valid), each with the known name nearest to it.
 */
import type { z } from 'zod';
import { configFilePath, ENVIRONMENT_VARIABLES, readConfigFile, readDotEnv, type ConfigSources } from './load.js';
import { configSchema } from './schema.js';

/** The prefix of our variables: one that sets nothing is most likely a typo of one that does. */
const VARIABLE_PREFIX = 'PERSONA_MCP_';

/** Our variables that are not settings: the config file's path, the client commands' key, the tests' PostgreSQL. */
const OTHER_VARIABLES = ['PERSONA_MCP_CONFIG', 'PERSONA_MCP_API_KEY', 'PERSONA_MCP_TEST_DATABASE_URL'];

export interface UnknownSetting {
  /** Where it was written: the config file's path, `.env` or `environment`. */
  source: string;
  /** The dotted key (`jobs.thred`) or the variable's name. */
  name: string;
  /** The known name nearest to it, or null when none is near. */
  suggestion: string | null;
}

/** The unknown settings of the config file, `.env` and the environment that `loadConfig(sources)` reads. */
export function findUnknownSettings(sources: ConfigSources = {}): UnknownSetting[] {
  const cwd = sources.cwd ?? process.cwd();
  // Problems reading them are the loader's to report.
  const unread: string[] = [];
  const dotEnv = readDotEnv(cwd, unread);
  const environment = sources.env ?? process.env;
  const explicitFile = sources.configFile ?? environment.PERSONA_MCP_CONFIG ?? dotEnv.PERSONA_MCP_CONFIG;
  const file = configFilePath(explicitFile, cwd);
  const variables = [...ENVIRONMENT_VARIABLES.map((variable) => variable.name), ...OTHER_VARIABLES];
  const unknownVariables = (names: string[], source: string): UnknownSetting[] =>
    names
      .filter((name) => name.startsWith(VARIABLE_PREFIX) && !variables.includes(name))
      .map((name) => ({ source, name, suggestion: nearest(name, variables) }));
  return [
    ...unknownConfigKeys(readConfigFile(explicitFile, cwd, unread)).map((key) => ({ source: file, ...key })),
    ...unknownVariables(Object.keys(dotEnv), '.env'),
    ...unknownVariables(Object.keys(environment), 'environment'),
  ];
}

/** One line for a user: what is ignored, and the name it probably meant. */
export function describeUnknownSetting(setting: UnknownSetting): string {
  const meant =
    setting.suggestion === null
      ? 'docs/configuration.md lists every setting'
      : setting.suggestion === setting.name
        ? `write it nested (${nested(setting.name)})`
        : `did you mean ${setting.suggestion}?`;
  return `${setting.name} (${setting.source}) is not a setting and is ignored: ${meant}`;
}

/** The keys of `layer` (a config file's object) that `schema` has no setting for, as dotted paths. */
export function unknownConfigKeys(layer: unknown, schema: z.ZodType = configSchema): Array<{ name: string; suggestion: string | null }> {
  const known = knownPaths(schema);
  const found: Array<{ name: string; suggestion: string | null }> = [];
  const visit = (value: unknown, at: z.ZodType, prefix: string): void => {
    const inner = unwrapped(at);
    const def = inner._zod.def as { type: string; shape?: Record<string, z.ZodType>; catchall?: z.ZodType; valueType?: z.ZodType; element?: z.ZodType; options?: z.ZodType[] };
    if (def.type === 'array' && Array.isArray(value)) {
      for (const [index, element] of value.entries()) visit(element, def.element!, `${prefix}${index}.`);
      return;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return;
    if (def.type === 'record') {
      for (const [key, entry] of Object.entries(value)) visit(entry, def.valueType!, `${prefix}${key}.`);
      return;
    }
    if (def.type !== 'object' || def.catchall !== undefined) return;
    const shape = (inner as z.ZodObject).shape;
    for (const [key, entry] of Object.entries(value)) {
      const setting = shape[key];
      if (setting !== undefined) visit(entry, setting, `${prefix}${key}.`);
      else found.push({ name: `${prefix}${key}`, suggestion: nearest(`${prefix}${key}`, [...Object.keys(shape).map((sibling) => `${prefix}${sibling}`), ...known]) });
    }
  };
  visit(layer, schema, '');
  return found;
}

/** The schema inside defaults, optionals and preprocessing. */
function unwrapped(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = current._zod.def as { type: string; innerType?: z.ZodType; in?: z.ZodType; out?: z.ZodType };
    if (def.innerType !== undefined) current = def.innerType;
    else if (def.type === 'pipe') current = def.in!._zod.def.type === 'transform' ? def.out! : def.in!;
    else return current;
  }
}

/** Every setting's dotted path (records' entries left out: their keys are the user's names). */
function knownPaths(schema: z.ZodType, prefix = ''): string[] {
  const inner = unwrapped(schema);
  if (inner._zod.def.type !== 'object') return [];
  return Object.entries((inner as z.ZodObject).shape).flatMap(([key, setting]) => [`${prefix}${key}`, ...knownPaths(setting as z.ZodType, `${prefix}${key}.`)]);
}

/** `{"a": {"b": …}}` for `a.b`. */
function nested(dotted: string): string {
  return dotted.split('.').reduceRight((inner, key) => `{"${key}": ${inner}}`, '…');
}

/**
 * The candidate nearest to `name` by edit distance, when near enough to be a typo of it: at most a third
 * of its characters, and 3, apart (`jobs.thred` → `jobs.thread`; `PERSONA_MCP_PROT` → `PERSONA_MCP_PORT`).
 */
export function nearest(name: string, candidates: readonly string[]): string | null {
  const most = Math.min(3, Math.floor(name.length / 3));
  let best: string | null = null;
  let bestDistance = most + 1;
  for (const candidate of candidates) {
    const distance = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Levenshtein distance, a transposition of neighbours counted as one edit ("prot" → "port"). */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let distance = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) distance = Math.min(distance, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = distance;
    }
  }
  return rows[a.length]![b.length]!;
}
