import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { describeUnknownSetting, findUnknownSettings, nearest, unknownConfigKeys } from './unknown-settings.js';

describe('unknownConfigKeys', () => {
  it('names a misspelt key with the setting it was meant to be', () => {
    expect(unknownConfigKeys({ port: 8000, jobs: { thred: 'worker' } })).toEqual([{ name: 'jobs.thred', suggestion: 'jobs.thread' }]);
  });

  it('finds nothing in a config of known settings, records of user-named entries included', () => {
    const config = {
      host: '0.0.0.0',
      llm: { model: 'qwen3:4b', backends: { vllm: { kind: 'openai', url: 'http://gpu:8000/v1' } }, modelContextTokens: { 'qwen3:4b': 8192 } },
      mcp: { tools: 'chat,memory' },
      jobs: { thread: 'worker' },
    };
    expect(unknownConfigKeys(config)).toEqual([]);
  });

  it("checks the settings inside a record's entries", () => {
    expect(unknownConfigKeys({ llm: { backends: { vllm: { kind: 'openai', urll: 'http://gpu:8000/v1' } } } })).toEqual([
      { name: 'llm.backends.vllm.urll', suggestion: 'llm.backends.vllm.url' },
    ]);
  });

  it('says to nest a dotted key written at the top (the form of flags and config.set)', () => {
    const [setting] = unknownConfigKeys({ 'jobs.thread': 'worker' });
    expect(setting).toEqual({ name: 'jobs.thread', suggestion: 'jobs.thread' });
    expect(describeUnknownSetting({ source: 'persona-mcp.config.json', ...setting! })).toBe(
      'jobs.thread (persona-mcp.config.json) is not a setting and is ignored: write it nested ({"jobs": {"thread": …}})',
    );
  });

  it('suggests nothing for a key far from every setting', () => {
    expect(unknownConfigKeys({ colour: 'blue' })).toEqual([{ name: 'colour', suggestion: null }]);
  });
});

describe('nearest', () => {
  it('takes a swap of neighbours as one edit, and leaves names too far apart', () => {
    expect(nearest('PERSONA_MCP_PROT', ['PERSONA_MCP_PORT', 'PERSONA_MCP_HOST'])).toBe('PERSONA_MCP_PORT');
    expect(nearest('tread', ['thread', 'tasks'])).toBe('thread');
    expect(nearest('abc', ['xyz'])).toBeNull();
  });
});

describe('findUnknownSettings', () => {
  it('reads the config file, .env and the environment as the loader does', () => {
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-unknown-'));
    try {
      writeFileSync(path.join(cwd, 'persona-mcp.config.json'), JSON.stringify({ jobs: { thred: 'worker' } }));
      writeFileSync(path.join(cwd, '.env'), 'PERSONA_MCP_PROT=9000\nOTHER=1\n');
      const env = { PERSONA_MCP_JOBS_THRED: 'worker', PERSONA_MCP_PORT: '8001', PERSONA_MCP_API_KEY: 'pmk_x', HOME: '/root' };
      expect(findUnknownSettings({ cwd, env })).toEqual([
        { source: path.join(cwd, 'persona-mcp.config.json'), name: 'jobs.thred', suggestion: 'jobs.thread' },
        { source: '.env', name: 'PERSONA_MCP_PROT', suggestion: 'PERSONA_MCP_PORT' },
        { source: 'environment', name: 'PERSONA_MCP_JOBS_THRED', suggestion: 'PERSONA_MCP_JOBS_THREAD' },
      ]);
    } finally {
      rmSync(cwd, { recursive: true, force: true });
    }
  });
});
