/** The chat's remembered sessions, in a real file in a temp dir. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { rememberedSession, rememberSession, sessionFilePath } from './session-file.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const tempFile = (): string => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-session-file-'));
  dirs.push(dir);
  return path.join(dir, 'nested', 'cli-session.json');
};

describe('session file', () => {
  it('lives under XDG_STATE_HOME, else ~/.local/state', () => {
    expect(sessionFilePath({ XDG_STATE_HOME: '/x/state' })).toBe('/x/state/persona-mcp/cli-session.json');
    expect(sessionFilePath({})).toBe(path.join(os.homedir(), '.local', 'state', 'persona-mcp', 'cli-session.json'));
  });

  it('remembers one session per server URL, private to the user', () => {
    const file = tempFile();
    expect(rememberedSession('ws://a/mcp', file)).toBeUndefined();
    rememberSession('ws://a/mcp', 'ses_a', file);
    rememberSession('ws://b/mcp', 'ses_b', file);
    rememberSession('ws://a/mcp', 'ses_a2', file);
    expect(rememberedSession('ws://a/mcp', file)).toBe('ses_a2');
    expect(rememberedSession('ws://b/mcp', file)).toBe('ses_b');
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('treats a damaged file as empty and replaces it whole', () => {
    const file = tempFile();
    rememberSession('ws://a/mcp', 'ses_a', file);
    writeFileSync(file, '{"ws://a/mcp": {"session_id": ');
    expect(rememberedSession('ws://a/mcp', file)).toBeUndefined();
    rememberSession('ws://c/mcp', 'ses_c', file);
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')) as object)).toEqual(['ws://c/mcp']);
  });
});
