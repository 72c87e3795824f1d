/**
 * The errors the SQLite adapter raises. SQLite failures a user can fix (a full disk, a lock held by
 * another process, a read-only file) become `storage_error` AppErrors that say what to do; anything
 * else from SQLite is returned unchanged: a constraint violation or a bad statement is a bug to see in
 * the log, not something to reword. Below them, the not-found and conflict errors the store reports.
 */
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { AppError, isAppError } from '../../domain/errors.js';

type Advice = (file: string, dir: string) => string;

/** Primary result code → message. better-sqlite3 reports extended codes (`SQLITE_IOERR_WRITE`), matched by prefix. */
const ADVICE: Record<string, Advice> = {
  SQLITE_FULL: (_file, dir) => `the disk holding ${dir} is full; free space and retry`,
  SQLITE_BUSY: (file) =>
    `the database ${file} is locked by another process (is a second persona-mcp using the same data directory?); ` +
    'stop it or retry in a moment',
  SQLITE_LOCKED: (file) => `the database ${file} is locked by another connection; retry in a moment`,
  SQLITE_READONLY: (file, dir) =>
    `the database ${file} is read-only; make it and ${dir} writable by the user running persona-mcp, then restart`,
  SQLITE_IOERR: (file, dir) =>
    `reading or writing ${file} failed with an I/O error; check the disk holding ${dir} and retry`,
  SQLITE_CANTOPEN: (file, dir) => `cannot open the database ${file}; check that ${dir} exists and is writable`,
  SQLITE_CORRUPT: (file) =>
    `the database ${file} is damaged; restore it from a backup, or move it away to start with an empty one`,
  SQLITE_NOTADB: (file) => `${file} is not a SQLite database; move it away or point --data-dir at another directory`,
};

/** Returns the error to throw for `error`, raised while using the database at `databasePath`. */
export function translateSqliteError(error: unknown, databasePath: string): unknown {
  if (isAppError(error) || !(error instanceof BetterSqlite3.SqliteError)) return error;
  const advice = adviceFor(error.code);
  if (advice === undefined) return error;
  const isMemory = databasePath === ':memory:' || databasePath === '';
  const file = isMemory ? 'in memory' : resolve(databasePath);
  const dir = isMemory ? 'memory' : dirname(file);
  return new AppError('storage_error', advice(file, dir), { data: { code: error.code }, detail: error });
}

function adviceFor(code: string): Advice | undefined {
  for (const [primary, advice] of Object.entries(ADVICE)) {
    if (code === primary || code.startsWith(`${primary}_`)) return advice;
  }
  return undefined;
}

export function personaNotFound(id: string): AppError {
  return new AppError('persona_not_found', `no persona with id "${id}"`, { data: { personaId: id } });
}

/** `takenBy` is the existing persona whose id or name the new definition repeats. */
export function personaConflict(wanted: { id: string; name: string }, takenBy: { id: string; name: string }): AppError {
  const clash =
    takenBy.id === wanted.id
      ? `the id "${wanted.id}" is already used by the persona "${takenBy.name}"; choose another id`
      : `the name "${wanted.name}" is already used by the persona "${takenBy.id}"; choose another name`;
  return new AppError('conflict', clash, { data: { personaId: takenBy.id } });
}

export function conversationNotFound(id: string): AppError {
  return new AppError('conversation_not_found', `no conversation "${id}"; start one with conversation.start`, {
    data: { conversationId: id },
  });
}

export function conversationConflict(id: string): AppError {
  return new AppError('conflict', `a conversation with id "${id}" already exists; choose another id or leave it out`, {
    data: { conversationId: id },
  });
}

/** A turn named a conversation that has ended or that the persona is not part of. */
export function conversationNotActive(id: string, personaId: string): AppError {
  return new AppError(
    'conversation_not_found',
    `no active conversation "${id}" with the persona "${personaId}"; start one with conversation.start`,
    { data: { conversationId: id } },
  );
}
