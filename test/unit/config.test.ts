/** `loadConfig`: defaults < config file < .env < environment < flags, and every problem reported at once. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runsJobsInWorker } from '../../src/app/app.js';
import { ConfigError, CONFIG_FILE_NAME, loadConfig } from '../../src/config/load.js';

let cwd: string;

beforeEach(() => {
  cwd = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-config-'));
});
afterEach(() => {
  rmSync(cwd, { recursive: true, force: true });
});

function writeConfigFile(value: unknown, name = CONFIG_FILE_NAME): string {
  const file = path.join(cwd, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value));
  return file;
}

function writeDotEnv(lines: string[]): void {
  writeFileSync(path.join(cwd, '.env'), `${lines.join('\n')}\n`);
}

/** The problems of a configuration that must fail. */
function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig layering', () => {
  it('uses the defaults when nothing is set', () => {
    const config = loadConfig({ cwd, env: {}, flags: { dataDir: 'data' } });
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 8000,
      logLevel: 'info',
      llm: { ollamaHost: 'http://127.0.0.1:11434', model: 'llama3.1:8b', timeoutMs: 120_000 },
    });
    expect(config.chat.defaultTokenBudget).toBe(500);
  });

  it('lets each layer override the one below: file < .env < environment < flags', () => {
    writeConfigFile({ port: 1001, host: '127.0.0.2', logLevel: 'warn', llm: { model: 'from-file', contextTokens: 2048 } });
    writeDotEnv(['PERSONA_MCP_PORT=1002', 'PERSONA_MCP_HOST=127.0.0.3', 'PERSONA_MCP_MODEL=from-dotenv']);
    const config = loadConfig({
      cwd,
      env: { PERSONA_MCP_PORT: '1003', PERSONA_MCP_MODEL: 'from-env' },
      flags: { port: 1004 },
    });
    expect(config.port).toBe(1004); // flag beats env, .env and file
    expect(config.llm.model).toBe('from-env'); // env beats .env and file
    expect(config.host).toBe('127.0.0.3'); // .env beats file
    expect(config.logLevel).toBe('warn'); // file beats default
    expect(config.llm.contextTokens).toBe(2048); // nested keys merge: the file set one, the env another
    expect(config.llm.timeoutMs).toBe(120_000); // ... and the rest keep their defaults
  });

  it('accepts dotted flag keys and resolves dataDir against the working directory', () => {
    const config = loadConfig({ cwd, env: {}, flags: { 'llm.model': 'qwen3:4b', dataDir: 'relative/data' } });
    expect(config.llm.model).toBe('qwen3:4b');
    expect(config.dataDir).toBe(path.join(cwd, 'relative', 'data'));
  });

  it('reads the file named by configFile or PERSONA_MCP_CONFIG instead of the default name', () => {
    writeConfigFile({ port: 1111 });
    const other = writeConfigFile({ port: 2222 }, 'other.json');
    expect(loadConfig({ cwd, env: {}, configFile: 'other.json' }).port).toBe(2222);
    expect(loadConfig({ cwd, env: { PERSONA_MCP_CONFIG: other } }).port).toBe(2222);
    expect(loadConfig({ cwd, env: {} }).port).toBe(1111);
  });

  it('maps OLLAMA_HOST to llm.ollamaHost, as given (the adapter normalises it)', () => {
    expect(loadConfig({ cwd, env: { OLLAMA_HOST: '192.168.1.5:11434' } }).llm.ollamaHost).toBe('192.168.1.5:11434');
    writeDotEnv(['OLLAMA_HOST=from-dotenv:11434']);
    expect(loadConfig({ cwd, env: {} }).llm.ollamaHost).toBe('from-dotenv:11434');
    expect(loadConfig({ cwd, env: {}, flags: { 'llm.ollamaHost': 'http://flag:1' } }).llm.ollamaHost).toBe('http://flag:1');
  });

  it('ignores empty environment variables', () => {
    expect(loadConfig({ cwd, env: { PERSONA_MCP_PORT: '', OLLAMA_HOST: '' } })).toMatchObject({
      port: 8000,
      llm: { ollamaHost: 'http://127.0.0.1:11434' },
    });
  });
});

describe('loadConfig problems', () => {
  it('reports a config file that is not valid JSON, naming the file', () => {
    const file = writeConfigFile('{"port": 80,');
    const problems = problemsOf(() => loadConfig({ cwd, env: {} }));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON`));
  });

  it('reports a config file holding something other than an object', () => {
    writeConfigFile([1, 2]);
    expect(problemsOf(() => loadConfig({ cwd, env: {} }))[0]).toContain('must hold a JSON object');
  });

  it('reports an explicit config file that does not exist', () => {
    expect(problemsOf(() => loadConfig({ cwd, env: {}, configFile: 'missing.json' }))).toEqual([
      `config file ${path.join(cwd, 'missing.json')} does not exist`,
    ]);
  });

  it('names the variable when a numeric environment value is not a number', () => {
    expect(problemsOf(() => loadConfig({ cwd, env: { PERSONA_MCP_PORT: 'abc' } }))).toEqual(['PERSONA_MCP_PORT: "abc" is not a number']);
  });

  it('reports several problems at once, from different layers, one line each', () => {
    writeConfigFile({ llm: { contextTokens: 100 }, chat: { maxMessageChars: -1 } });
    const error = (() => {
      try {
        loadConfig({ cwd, env: { PERSONA_MCP_LLM_TIMEOUT_MS: 'soon' }, flags: { logLevel: 'loud', port: 70_000 } });
      } catch (caught) {
        return caught as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.problems).toHaveLength(5);
    expect(error.problems).toContain('PERSONA_MCP_LLM_TIMEOUT_MS: "soon" is not a number');
    for (const key of ['port', 'logLevel', 'llm.contextTokens', 'chat.maxMessageChars']) {
      expect(error.problems.some((problem) => problem.startsWith(`${key}: `))).toBe(true);
    }
    // The message is what `serve` prints: a heading, then one line per problem.
    expect(error.message.split('\n')).toEqual(['Invalid configuration:', ...error.problems.map((problem) => `  - ${problem}`)]);
  });
});

describe('jobs.thread', () => {
  it('auto: the jobs thread on a machine with two CPUs or more, the main thread on one', () => {
    const config = loadConfig({ cwd, env: { PERSONA_MCP_JOBS_THREAD: 'auto' } });
    expect(config.jobs.thread).toBe('auto');
    expect(runsJobsInWorker(config, {}, 2)).toBe(true);
    expect(runsJobsInWorker(config, {}, 1)).toBe(false);
    expect(runsJobsInWorker(loadConfig({ cwd, env: { PERSONA_MCP_JOBS_THREAD: 'main' } }), {}, 8)).toBe(false);
    expect(runsJobsInWorker(loadConfig({ cwd, env: { PERSONA_MCP_JOBS_THREAD: 'worker' } }), {}, 1)).toBe(true);
  });
});
