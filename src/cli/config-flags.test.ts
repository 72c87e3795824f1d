/** The shared command-line flags: which commands get which, and how they become the top config layer. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { afterAll, describe, expect, it } from 'vitest';
import { addConfigFlags, configFromFlags, type ConfigFlagValues } from './config-flags.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-flags-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function parse(argv: string[], listens = true): ConfigFlagValues {
  const command = addConfigFlags(new Command('x').exitOverride(), { listens });
  command.parse(argv, { from: 'user' });
  return command.opts<ConfigFlagValues>();
}

describe('config flags', () => {
  it('gives --host and --port only to commands that listen', () => {
    expect(parse(['-H', '0.0.0.0', '-p', '9000'])).toMatchObject({ host: '0.0.0.0', port: '9000' });
    expect(() => parse(['--port', '9000'], false)).toThrow();
  });

  it('puts flags above the config file, and names a bad port', () => {
    const file = path.join(dir, 'persona-mcp.config.json');
    writeFileSync(file, JSON.stringify({ port: 7000, logLevel: 'warn', llm: { model: 'file-model' } }));
    const config = configFromFlags({ config: file, dataDir: dir, port: '9000', model: 'flag-model', ollamaHost: 'http://127.0.0.1:1' });
    expect(config).toMatchObject({ port: 9000, logLevel: 'warn', dataDir: dir, llm: { model: 'flag-model', ollamaHost: 'http://127.0.0.1:1' } });
    expect(() => configFromFlags({ config: file, dataDir: dir, port: 'eighty' })).toThrow(/port/);
  });
});
