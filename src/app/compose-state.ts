/**
 * Builds the state features (bundles, backups, character cards, runtime configuration) for `app.ts`,
 * on the store's SQLite database, and owns their start-up and shut-down: stored runtime settings are
 * applied, the backup schedule starts, and the data directory is marked as in use by a server (so
 * `persona-mcp restore` refuses to swap the database under it).
 */
import path from 'node:path';
import type { Logger } from 'pino';
import { FileBackupFolder } from '../adapters/bundle/backup-folder.js';
import { CharacterCardCodec } from '../adapters/cards/card-codec.js';
import { markServerRunning } from '../adapters/sqlite/backup.js';
import type { Config } from '../config/schema.js';
import type { StateArchive } from '../ports/archive.js';
import type { CardRepository } from '../ports/cards.js';
import type { Clock } from '../ports/clock.js';
import type { SettingsRepository } from '../ports/settings.js';
import type { EventBus } from '../ports/events.js';
import type { Store } from '../ports/store.js';
import { ConfigService } from '../services/config/config-service.js';
import type { LiveTargets } from '../services/config/live-settings.js';
import type { PersonaService } from '../services/persona-service.js';
import { CardService } from '../services/state/card-service.js';
import { StateService } from '../services/state/state-service.js';
import type { StateServices } from '../services/state/index.js';

export interface StateFeature {
  services: StateServices;
  /** Applies stored settings, starts the backup schedule, marks the data directory as in use. */
  start(): Promise<void>;
  stop(): void;
}

export function composeState(deps: {
  /** The store's repositories (compose-storage.ts). */
  settingsRepository: SettingsRepository;
  cardStore: CardRepository;
  archive: StateArchive;
  config: Config;
  appVersion: string;
  store: Store;
  personas: PersonaService;
  events: EventBus;
  clock: Clock;
  logger: Logger;
  /** The chat settings object the chat service reads on every turn. */
  chatSettings: LiveTargets['chat'];
  /** The retention policy object the retention service reads on every run. */
  retentionPolicy: LiveTargets['retention'];
  /** Called after `config.set` changed live settings. */
  onSettingsChanged?: () => void;
}): StateFeature {
  const { config, clock, logger } = deps;
  const backup = {
    directory: config.backup.directory ?? path.join(config.dataDir, 'backups'),
    intervalHours: config.backup.intervalHours,
    keep: config.backup.keep,
  };
  const { archive } = deps;
  const state = new StateService({ archive, folder: new FileBackupFolder(), store: deps.store, personas: deps.personas, events: deps.events, clock, logger, backup });
  const configService = new ConfigService({
    repository: deps.settingsRepository,
    targets: { chat: deps.chatSettings, retention: deps.retentionPolicy, backup, logger },
    personas: deps.personas,
    clock,
    logger,
    ...(deps.onSettingsChanged === undefined ? {} : { onChanged: deps.onSettingsChanged }),
  });
  const cards = new CardService({ codec: new CharacterCardCodec(), cards: deps.cardStore, personas: deps.personas, clock });
  // Settings brought in by `state.load` take effect at once, like those set with `config.set`.
  const unsubscribe = deps.events.subscribe((event) => {
    if (event.type === 'stateImported' && event.tables.includes('settings')) {
      configService.load().catch((error: unknown) => logger.error({ err: error }, 'reloading imported settings failed'));
    }
  });
  let release: (() => void) | null = null;
  return {
    services: { state, config: configService, cards },
    async start() {
      await configService.load();
      state.startSchedule();
      release = markServerRunning(config.dataDir);
    },
    stop() {
      unsubscribe();
      state.stopSchedule();
      release?.();
      release = null;
    },
  };
}
