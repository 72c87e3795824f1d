/** `process_open_fds` as the scrape reads it: the count of this process's open descriptors. */
import { closeSync, openSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { openFileDescriptors } from './prometheus-metrics.js';

describe.skipIf(process.platform !== 'linux')('openFileDescriptors', () => {
  it('counts the descriptors the process has open, as listing /proc/self/fd does', async () => {
    const before = await openFileDescriptors();
    // The listing holds one descriptor of its own while it reads.
    expect(before).toBe(readdirSync('/proc/self/fd').length - 1);
    const opened = Array.from({ length: 100 }, () => openSync('/dev/null', 'r'));
    try {
      expect(await openFileDescriptors()).toBe((before ?? 0) + 100);
    } finally {
      for (const fd of opened) closeSync(fd);
    }
    expect(await openFileDescriptors()).toBe(before);
  });
});
