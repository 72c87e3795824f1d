/** The social store contract on PostgreSQL: the SQLite adapter's tests (`../sqlite/social-store.test.ts`) run unchanged on a PostgreSQL schema. */
import { describe, it } from 'vitest';
import { postgresAvailable, selectBackend } from '../../../test/helpers/store-backend.js';

const available = await postgresAvailable();
selectBackend('postgres');
if (available.ok) await import('../sqlite/social-store.test.js');
else describe('social-store on PostgreSQL', () => it.skip(`skipped: ${available.reason}`, () => {}));
