/** `MediaBlobs` in a folder of the data directory (`<dataDir>/media`): one file per name, as with one node. */
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { MediaBlobs } from '../../ports/media.js';

export class DirectoryMediaBlobs implements MediaBlobs {
  constructor(private readonly directory: string) {}

  /** Writes through a temporary name, so a crash never leaves half a file under the real one. */
  async write(name: string, data: Buffer): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    const target = path.join(this.directory, name);
    const exists = await stat(target).then(
      () => true,
      () => false,
    );
    if (exists) return;
    const temporary = `${target}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(temporary, data);
    await rename(temporary, target);
  }

  async read(name: string): Promise<Buffer | null> {
    try {
      return await readFile(path.join(this.directory, name));
    } catch {
      return null;
    }
  }

  async remove(name: string): Promise<void> {
    await rm(path.join(this.directory, name), { force: true });
  }
}
