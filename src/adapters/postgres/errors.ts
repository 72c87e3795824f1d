/**
 * PostgreSQL failures a user can fix (the server unreachable, a wrong password, a missing database, a
 * full disk, too many connections) become `storage_error` AppErrors that say what to do; a unique
 * violation from a race between nodes becomes a `conflict`. Anything else (a bad statement) is a bug
 * to see in the log and is returned unchanged.
 */
import { AppError, isAppError } from '../../domain/errors.js';

type Advice = (where: string) => string;

/** SQLSTATE (or Node error code) → message. */
const ADVICE: Record<string, Advice> = {
  ECONNREFUSED: (where) => `cannot connect to PostgreSQL at ${where}: nothing listens there; start PostgreSQL or fix PERSONA_MCP_DATABASE_URL`,
  ENOTFOUND: (where) => `cannot resolve the PostgreSQL host of ${where}; fix PERSONA_MCP_DATABASE_URL`,
  ETIMEDOUT: (where) => `connecting to PostgreSQL at ${where} timed out; check the network and the server`,
  ECONNRESET: (where) => `the connection to PostgreSQL at ${where} was reset; retry (is the server restarting?)`,
  '28P01': (where) => `PostgreSQL at ${where} refused the password; fix the credentials in PERSONA_MCP_DATABASE_URL`,
  '28000': (where) => `PostgreSQL at ${where} refused the login; allow it in pg_hba.conf or fix PERSONA_MCP_DATABASE_URL`,
  '3D000': (where) => `the database of ${where} does not exist; create it (createdb) or fix PERSONA_MCP_DATABASE_URL`,
  '53100': (where) => `the disk of the PostgreSQL server at ${where} is full; free space and retry`,
  '53300': (where) => `PostgreSQL at ${where} has no free connection; raise max_connections or lower database.poolSize on each node`,
  '57P01': (where) => `PostgreSQL at ${where} is shutting down; retry once it is back`,
  '57P03': (where) => `PostgreSQL at ${where} is starting up; retry in a moment`,
  '25006': (where) => `PostgreSQL at ${where} is read-only (a standby?); point PERSONA_MCP_DATABASE_URL at the primary`,
};

export function translatePgError(error: unknown, where: string): unknown {
  if (isAppError(error) || !(error instanceof Error)) return error;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== 'string') {
    if (/timeout exceeded when trying to connect|Connection terminated/i.test(error.message)) {
      return new AppError('storage_error', `the connection to PostgreSQL at ${where} failed (${error.message}); check the server and retry`, { detail: error });
    }
    return error;
  }
  if (code === '23505') {
    return new AppError('conflict', 'another request stored the same thing at the same moment; retry', { data: { code }, detail: error });
  }
  const advice = ADVICE[code] ?? (code.startsWith('08') ? ADVICE.ECONNRESET : undefined);
  if (advice === undefined) return error;
  return new AppError('storage_error', advice(where), { data: { code }, detail: error });
}
