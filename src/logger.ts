/**
 * Structured logs (pino) go to stderr, always: stdout belongs to the MCP stdio transport and to the
 * CLI's own output, and a log line there would corrupt either.
 */
import { pino, type Logger } from 'pino';

export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'persona-mcp' } }, pino.destination({ fd: 2, sync: false }));
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
