/**
 * `MediaBlobs` in PostgreSQL (`media_blobs`, migration 0020): the bytes of every stored picture, sound and
 * thumbnail, so a file uploaded through one node is served by all of them. Sizes stay bounded by
 * `media.maxBytes` (checked before anything is stored); a thumbnail is a few kilobytes.
 *
 * `legacyDirectory`: where this node kept media before its store moved to PostgreSQL (`<dataDir>/media`).
 * A name missing in PostgreSQL but found there is copied in when first read, so files stored before the
 * upgrade keep working and then reach the other nodes too.
 */
import { DirectoryMediaBlobs } from '../media/directory-blobs.js';
import type { MediaBlobs } from '../../ports/media.js';
import type { PostgresDatabase } from './database.js';

export class PostgresMediaBlobs implements MediaBlobs {
  private readonly legacy: DirectoryMediaBlobs | null;
  private readonly now: () => number;

  constructor(
    private readonly db: PostgresDatabase,
    options: { legacyDirectory?: string; now?: () => number } = {},
  ) {
    this.legacy = options.legacyDirectory === undefined ? null : new DirectoryMediaBlobs(options.legacyDirectory);
    this.now = options.now ?? Date.now;
  }

  async write(name: string, data: Buffer): Promise<void> {
    await this.db.query('INSERT INTO media_blobs (name, data, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING', [name, data, this.now()]);
  }

  async read(name: string): Promise<Buffer | null> {
    const row = await this.db.one<{ data: Buffer }>('SELECT data FROM media_blobs WHERE name = $1', [name]);
    if (row !== null) return row.data;
    const local = (await this.legacy?.read(name)) ?? null;
    if (local !== null) await this.write(name, local);
    return local;
  }

  async remove(name: string): Promise<void> {
    await this.db.query('DELETE FROM media_blobs WHERE name = $1', [name]);
    await this.legacy?.remove(name);
  }
}
