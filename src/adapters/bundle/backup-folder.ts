/** The `BackupFolder` port on a folder of the local file system. */
import { readdir, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { BackupEntry, BackupFolder } from '../../ports/archive.js';

export class FileBackupFolder implements BackupFolder {
  async list(directory: string): Promise<BackupEntry[]> {
    let names: string[];
    try {
      names = await readdir(directory);
    } catch (error) {
      // No folder yet: no backups yet (it is made by the first one).
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const entries = await Promise.all(
      names.map(async (name) => {
        const file = path.join(directory, name);
        const info = await stat(file).catch(() => null); // removed meanwhile
        return info?.isFile() === true ? { name, file, bytes: info.size } : null;
      }),
    );
    return entries.filter((entry): entry is BackupEntry => entry !== null);
  }

  pathOf(directory: string, name: string): string {
    return path.join(directory, name);
  }

  remove(file: string): Promise<void> {
    return unlink(file);
  }
}
