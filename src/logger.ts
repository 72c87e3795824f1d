/**
 * Structured logs (pino) go to stderr, always: stdout belongs to the MCP stdio transport and to the
 * CLI's own output, and a log line there would corrupt either.
 */
import { pino, type DestinationStream, type Logger } from 'pino';

/** Writes to stderr unless given another destination (tests read the lines back). */
export function createLogger(level: string, destination: DestinationStream = pino.destination({ fd: 2, sync: false })): Logger {
  // ISO timestamps: readable in a raw log and parsed by every log shipper (epoch ms is neither).
  return pino({ level, base: { service: 'persona-mcp' }, timestamp: pino.stdTimeFunctions.isoTime }, destination);
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/**
 * A failure's cause in one line, without a stack: expected conditions (Ollama down, a model not pulled)
 * are logged like this, so the log shows what happened rather than where in our code it surfaced.
 * `TypeError: fetch failed (ECONNREFUSED 127.0.0.1:11434)`.
 */
export function causeOf(detail: unknown): string {
  if (!(detail instanceof Error)) return typeof detail === 'string' ? detail : JSON.stringify(detail) ?? String(detail);
  let text = `${detail.name}: ${detail.message}`;
  const cause: unknown = detail.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    text += ` (${code !== undefined ? `${code} ` : ''}${cause.message})`;
  }
  return text;
}
