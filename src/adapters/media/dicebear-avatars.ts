/**
 * Generated avatars with DiceBear's "lorelei" style (CC0 artwork): an SVG drawn from a seed (the
 * persona id) entirely offline, the same face for the same persona on every machine.
 */
import { createAvatar } from '@dicebear/core';
import * as lorelei from '@dicebear/lorelei';
import type { AvatarGenerator } from '../../ports/media.js';
import { loadSharp } from './sharp.js';

/** Soft backgrounds, chosen by the seed; dark enough text contrast is not needed (no text). */
const BACKGROUNDS = ['e0dbff', 'd1f0e0', 'fde68a', 'fbd5d5', 'cfe8fc'];

export class DiceBearAvatars implements AvatarGenerator {
  private readonly cache = new Map<string, string>();

  svg(seed: string): string {
    let svg = this.cache.get(seed);
    if (svg === undefined) {
      svg = createAvatar(lorelei, { seed, backgroundColor: BACKGROUNDS, radius: 50 }).toString();
      // Bounded: one entry per persona id asked for, and ids are short slugs.
      if (this.cache.size > 1_000) this.cache.clear();
      this.cache.set(seed, svg);
    }
    return svg;
  }

  async png(seed: string, size: number): Promise<Buffer> {
    const sharp = await loadSharp();
    return sharp(Buffer.from(this.svg(seed)), { density: 300 }).resize(size, size).png().toBuffer();
  }
}
