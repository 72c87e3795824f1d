/** The mood history contract on PostgreSQL: the SQLite adapter's tests (`../sqlite/mood-history.test.ts`) run unchanged on a PostgreSQL schema. */
import { describe, it } from 'vitest';
import { postgresAvailable, selectBackend } from '../../../test/helpers/store-backend.js';

const available = await postgresAvailable();
selectBackend('postgres');
if (available.ok) await import('../sqlite/mood-history.test.js');
else describe('mood history on PostgreSQL', () => it.skip(`skipped: ${available.reason}`, () => {}));
