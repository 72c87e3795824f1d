/**
 * `persona-mcp doctor`: checks what `serve` needs (Node, configuration, data directory, database, disk,
 * port, persona files) and what chat needs (Ollama and the models), and prints a checklist with what to
 * do for each problem. Exit codes: 0 ready to serve (warnings allowed), 1 something must be fixed,
 * 2 the configuration is invalid. `--json` prints the same report for scripts.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnv } from 'node:util';
import type { Command } from 'commander';
import { CONFIG_FILE_NAME, ConfigError, ENVIRONMENT_VARIABLES } from '../config/load.js';
import type { Config } from '../config/schema.js';
import { describeUnknownSetting, type UnknownSetting } from '../config/unknown-settings.js';
import { SERVER_VERSION } from '../version.js';
import { addConfigFlags, configFromFlags, unknownSettingsOf, type ConfigFlagValues } from './config-flags.js';
import {
  checkDatabase,
  checkDataDir,
  checkDiskSpace,
  checkEmbeddingModel,
  checkModels,
  checkNode,
  checkOllama,
  checkPersonaFiles,
  checkPort,
  type Check,
  type CheckStatus,
} from './doctor-checks.js';
import { exitAfterFlush } from './exit.js';
import { checkOtherBackends, defaultBackendName, modelsInUse } from './doctor-backends.js';

export interface DoctorOptions extends ConfigFlagValues {
  json?: boolean;
}

export interface DoctorReport {
  /** True when `serve` can run (warnings allowed). */
  ok: boolean;
  exit_code: 0 | 1 | 2;
  version: string;
  /** Where the configuration came from; null when it is invalid. */
  config: ConfigSummary | null;
  checks: Check[];
}

export interface ConfigSummary {
  /** The config file read, or null. */
  file: string | null;
  /** Variables set by `.env` in the working directory (names only). */
  dot_env: string[];
  /** Variables set in the environment (names only). */
  environment: string[];
  flags: string[];
  effective: { host: string; port: number; data_dir: string; ollama_host: string; model: string; log_level: string };
}

const FLAG_NAMES: Record<keyof ConfigFlagValues, string> = {
  config: '--config',
  dataDir: '--data-dir',
  host: '--host',
  port: '--port',
  model: '--model',
  logLevel: '--log-level',
  ollamaHost: '--ollama-host',
};

const KNOWN_VARIABLES = ['PERSONA_MCP_CONFIG', ...ENVIRONMENT_VARIABLES.map((variable) => variable.name)];

export async function runDoctor(options: DoctorOptions, cwd = process.cwd(), env: NodeJS.ProcessEnv = process.env): Promise<DoctorReport> {
  const checks: Check[] = [checkNode()];
  const unknownSettings = unknownSettingsOf(options).map(checkUnknownSetting);
  let config: Config;
  try {
    config = configFromFlags(options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    checks.push({
      id: 'config',
      status: 'fail',
      title: 'Configuration is invalid',
      details: error.problems,
      fix: 'Correct the values above; docs/configuration.md lists every setting.',
    });
    checks.push(...unknownSettings);
    return { ok: false, exit_code: 2, version: SERVER_VERSION, config: null, checks };
  }
  const summary = summarizeConfig(options, config, cwd, env);
  checks.push({ id: 'config', status: 'ok', title: 'Configuration is valid', details: describeSummary(summary) }, ...unknownSettings);

  const dataDir = checkDataDir(config.dataDir);
  checks.push(dataDir);
  const files = checkPersonaFiles(config);
  let personas = files.personas;
  if (dataDir.status === 'ok') {
    const database = await checkDatabase(config.dataDir, config.database.url === undefined ? undefined : { url: config.database.url, schema: config.database.schema });
    checks.push(database.check);
    // A new database has no personas until the first start seeds them from the files.
    if (database.personas.length > 0) personas = database.personas;
    checks.push(await checkDiskSpace(config.dataDir));
  } else {
    checks.push({ id: 'database', status: 'skip', title: 'Database not checked (the data directory is not usable)' });
  }
  checks.push(files.check);
  checks.push(await checkPort(config.host, config.port));
  // The built-in Ollama is checked with the models that run on it; other backends after it.
  const onOllama = modelsInUse(config, personas).filter((use) => use.ref.backend === 'ollama' && config.llm.backends['ollama'] === undefined);
  const usesOllama = onOllama.length > 0 || defaultBackendName(config) === 'ollama';
  const ollama = await checkOllama(config.llm.ollamaHost);
  if (usesOllama || ollama.check.status === 'ok') {
    checks.push(ollama.check);
    const defaultOnOllama = defaultBackendName(config) === 'ollama' ? config.llm.model : null;
    const ollamaPersonas = personas.flatMap((persona) => {
      const use = onOllama.find((candidate) => candidate.users.includes(persona.name));
      return use === undefined ? [] : [{ name: persona.name, model: use.ref.model }];
    });
    if (ollama.check.status !== 'fail' && defaultOnOllama !== null) checks.push(...checkModels(defaultOnOllama, ollamaPersonas, ollama.models));
  } else {
    checks.push({ id: 'ollama', status: 'skip', title: `Ollama not checked (no model in use runs on it; the default backend is ${defaultBackendName(config)})` });
  }
  if (ollama.check.status !== 'fail' && (usesOllama || ollama.check.status === 'ok')) checks.push(checkEmbeddingModel(config.memory, ollama.models));
  checks.push(...(await checkOtherBackends(config, personas)));

  const ok = checks.every((check) => check.status !== 'fail');
  return { ok, exit_code: ok ? 0 : 1, version: SERVER_VERSION, config: summary, checks };
}

/**
 * A warning, not a failure: `serve` runs without the setting (it warns in its log too), but what the user
 * meant to set keeps its default.
 */
function checkUnknownSetting(setting: UnknownSetting): Check {
  // Without a likely name the title already points to the settings' list: no second line saying it again.
  const fix = setting.suggestion === null ? {} : { fix: 'Correct or remove it; docs/configuration.md lists every setting.' };
  return { id: `unknown_setting:${setting.name}`, status: 'warn', title: describeUnknownSetting(setting), ...fix };
}

function summarizeConfig(options: ConfigFlagValues, config: Config, cwd: string, env: NodeJS.ProcessEnv): ConfigSummary {
  const explicitFile = options.config ?? env.PERSONA_MCP_CONFIG;
  const file = explicitFile !== undefined ? path.resolve(cwd, explicitFile) : path.join(cwd, CONFIG_FILE_NAME);
  let dotEnv: string[] = [];
  const dotEnvFile = path.join(cwd, '.env');
  if (existsSync(dotEnvFile)) {
    try {
      dotEnv = Object.keys(parseEnv(readFileSync(dotEnvFile, 'utf8'))).filter((name) => KNOWN_VARIABLES.includes(name));
    } catch {
      // the loader already reported an unreadable .env as a config problem
    }
  }
  return {
    file: existsSync(file) ? file : null,
    dot_env: dotEnv,
    environment: KNOWN_VARIABLES.filter((name) => env[name] !== undefined && env[name] !== ''),
    flags: (Object.keys(FLAG_NAMES) as Array<keyof ConfigFlagValues>)
      .filter((key) => options[key] !== undefined)
      .map((key) => FLAG_NAMES[key]),
    effective: {
      host: config.host,
      port: config.port,
      data_dir: config.dataDir,
      ollama_host: config.llm.ollamaHost,
      model: config.llm.model,
      log_level: config.logLevel,
    },
  };
}

function describeSummary(summary: ConfigSummary): string[] {
  const sources = [
    'defaults',
    summary.file ? `file ${summary.file}` : null,
    summary.dot_env.length > 0 ? `.env (${summary.dot_env.join(', ')})` : null,
    summary.environment.length > 0 ? `environment (${summary.environment.join(', ')})` : null,
    summary.flags.length > 0 ? `flags (${summary.flags.join(', ')})` : null,
  ].filter((source): source is string => source !== null);
  const { host, port, data_dir, ollama_host, model } = summary.effective;
  return [`sources: ${sources.join(' < ')}`, `listen ${host}:${port} · data ${data_dir} · Ollama ${ollama_host} · default model ${model}`];
}

const SYMBOLS: Record<CheckStatus, string> = { ok: '✓', warn: '⚠', fail: '✗', skip: '–' };
const COLORS: Record<CheckStatus, number> = { ok: 32, warn: 33, fail: 31, skip: 90 };

/** The checklist as text: one line per check, indented details and `→ what to do`, then a verdict. */
export function renderReport(report: DoctorReport, hasColor: boolean): string {
  const paint = (code: number, text: string): string => (hasColor ? `\x1b[${code}m${text}\x1b[0m` : text);
  const lines = [`persona-mcp doctor (${report.version})`, ''];
  for (const check of report.checks) {
    lines.push(`${paint(COLORS[check.status], SYMBOLS[check.status])} ${check.title}`);
    for (const detail of check.details ?? []) lines.push(`    ${detail}`);
    if (check.fix !== undefined && check.status !== 'ok') lines.push(`    → ${check.fix}`);
  }
  const failures = report.checks.filter((check) => check.status === 'fail').length;
  const warnings = report.checks.filter((check) => check.status === 'warn').length;
  lines.push('');
  if (report.exit_code === 2) lines.push(paint(31, 'The configuration must be fixed before anything else can be checked.'));
  else if (failures > 0)
    lines.push(paint(31, `${failures} problem${failures === 1 ? '' : 's'} to fix before \`persona-mcp serve\` works.`));
  else if (warnings > 0) {
    // Settings the server ignores do not stop chat; a model or Ollama warning may.
    const isIgnoredSettingsOnly = report.checks.every((check) => check.status !== 'warn' || check.id.startsWith('unknown_setting:'));
    const consequence = isIgnoredSettingsOnly ? 'settings the server ignores' : 'chat may not work until fixed';
    lines.push(paint(33, `Ready to serve, with ${warnings} warning${warnings === 1 ? '' : 's'} above (${consequence}).`));
  } else lines.push(paint(32, 'Everything is ready: start the server with `persona-mcp serve`.'));
  return `${lines.join('\n')}\n`;
}

/** Adds `persona-mcp doctor` (with the same config flags as `serve`) to the program. */
export function registerDoctorCommand(program: Command): void {
  addConfigFlags(
    program.command('doctor').description('check the setup (config, data dir, database, port, Ollama, models) and say what to fix'),
  )
    .option('--json', 'print the report as JSON')
    .action(async (options: DoctorOptions) => {
      const report = await runDoctor(options);
      process.stdout.write(
        options.json
          ? `${JSON.stringify(report, null, 2)}\n`
          : renderReport(report, Boolean(process.stdout.isTTY) && !process.env.NO_COLOR),
      );
      await exitAfterFlush(report.exit_code);
    });
}
