/** Export/import, backups, character cards and runtime configuration (built in `src/app/compose-state.ts`). */
import type { ConfigService } from '../config/config-service.js';
import type { CardService } from './card-service.js';
import type { StateService } from './state-service.js';

export interface StateServices {
  state: StateService;
  config: ConfigService;
  cards: CardService;
}
