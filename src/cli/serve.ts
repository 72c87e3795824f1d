/** `persona-mcp serve`: runs the server until SIGINT/SIGTERM, then shuts down gracefully. */
import { startServer } from '../app/app.js';
import type { Config } from '../config/schema.js';
import { describeUnknownSetting, type UnknownSetting } from '../config/unknown-settings.js';
import { createLogger } from '../logger.js';

/** Shutdown that takes longer than this is cut short: the process exits anyway. */
const SHUTDOWN_DEADLINE_MS = 10_000;

/** A second signal while shutting down exits at once (the user really means it). */
export async function serve(config: Config, unknownSettings: readonly UnknownSetting[] = []): Promise<void> {
  const logger = createLogger(config.logLevel);
  // Warned, not refused: the rest of the configuration is valid, and a server that ran before a typo was
  // added keeps running (`persona-mcp doctor` lists them too).
  for (const setting of unknownSettings) logger.warn({ setting: setting.name, source: setting.source, suggestion: setting.suggestion }, describeUnknownSetting(setting));
  const server = await startServer(config, { logger });
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) {
      server.logger.warn({ signal }, 'second signal: exiting now');
      process.exit(130);
    }
    stopping = true;
    server.logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      server.logger.error({ deadlineMs: SHUTDOWN_DEADLINE_MS }, 'shutdown took too long: exiting now');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        server.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.stderr.write(`persona-mcp listening on ${server.websocketUrl} (health: ${server.httpUrl}/healthz), data in ${config.dataDir}\n`);
}
