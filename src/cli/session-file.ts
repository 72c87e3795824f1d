/**
 * Remembers the session id `persona-mcp chat` used last, per server URL, so the next `chat` resumes the
 * same conversations. The file is `$XDG_STATE_HOME/persona-mcp/cli-session.json` (default
 * `~/.local/state/persona-mcp/cli-session.json`): `{"ws://127.0.0.1:8000/mcp": {"session_id", "updated_at"}}`.
 */
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export function sessionFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const stateHome = env.XDG_STATE_HOME && env.XDG_STATE_HOME.length > 0 ? env.XDG_STATE_HOME : path.join(os.homedir(), '.local', 'state');
  return path.join(stateHome, 'persona-mcp', 'cli-session.json');
}

type SessionFile = Record<string, { session_id: string; updated_at: string }>;

function readAll(file: string): SessionFile {
  try {
    const value: unknown = JSON.parse(readFileSync(file, 'utf8'));
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as SessionFile) : {};
  } catch {
    return {}; // missing or damaged: we only lose the convenience of resuming
  }
}

/** The session id remembered for `url`, if any. */
export function rememberedSession(url: string, file = sessionFilePath()): string | undefined {
  const entry = readAll(file)[url];
  return typeof entry?.session_id === 'string' ? entry.session_id : undefined;
}

/** Stores `sessionId` for `url`. Throws when the file cannot be written (the caller reports it). */
export function rememberSession(url: string, sessionId: string, file = sessionFilePath()): void {
  const all = readAll(file);
  all[url] = { session_id: sessionId, updated_at: new Date().toISOString() };
  mkdirSync(path.dirname(file), { recursive: true });
  // Write-then-rename so two chats finishing at once never leave half a file.
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(all, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, file);
}
