/** The media index contract on PostgreSQL: the SQLite adapter's tests (`../sqlite/media-index.test.ts`) run unchanged on a PostgreSQL schema. */
import { describe, it } from 'vitest';
import { postgresAvailable, selectBackend } from '../../../test/helpers/store-backend.js';

const available = await postgresAvailable();
selectBackend('postgres');
if (available.ok) await import('../sqlite/media-index.test.js');
else describe('media index on PostgreSQL', () => it.skip(`skipped: ${available.reason}`, () => {}));
