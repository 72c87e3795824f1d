import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BundleError } from '../bundle/errors.js';
import { placeholderImage, readCardTexts, stripCardChunks, writeCardTexts } from './png.js';

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('PNG card chunks', () => {
  it('round-trips card texts', () => {
    const png = writeCardTexts(placeholderImage('aria'), { chara: '{"spec":"chara_card_v2"}' });
    expect(readCardTexts(png)).toEqual({ chara: '{"spec":"chara_card_v2"}' });
  });

  it('refuses a chunk that claims more bytes than the file holds, before allocating them', () => {
    const png = Buffer.concat([SIGNATURE, Buffer.from([0x40, 0, 0, 0]), Buffer.from('tEXt'), Buffer.alloc(20)]);
    // Memory, not time, shows it (a timed bound failed on a loaded machine): a gigabyte allocated and dropped
    // still counts in `arrayBuffers` until a collection frees it.
    const before = process.memoryUsage().arrayBuffers;
    expect(() => readCardTexts(png)).toThrow(/claims 1073741824 bytes/);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024 * 1024);
  });

  it('refuses such a chunk in a stored image too, when a card is written into it or stripped (export_card)', () => {
    const image = Buffer.concat([SIGNATURE, Buffer.from([0x40, 0, 0, 0]), Buffer.from('tEXt'), Buffer.alloc(20)]);
    expect(() => writeCardTexts(image, { chara: 'e30=' })).toThrow(/claims 1073741824 bytes/);
    expect(() => stripCardChunks(image)).toThrow(/claims 1073741824 bytes/);
  });

  it('answers any damaged PNG with a BundleError (property)', () => {
    const valid = writeCardTexts(placeholderImage('kira'), { chara: 'e30=' });
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }).map((bytes) => Buffer.concat([SIGNATURE, bytes])),
          // A valid card with some bytes overwritten (lengths, types, CRCs) or cut short.
          fc.tuple(fc.nat(valid.length - 1), fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.boolean()).map(([at, bytes, cut]) => {
            const copy = Buffer.from(valid);
            copy.set(bytes.subarray(0, copy.length - at), at);
            return cut ? copy.subarray(0, at + 1) : copy;
          }),
        ),
        (png) => {
          try {
            readCardTexts(png);
          } catch (error) {
            expect(error).toBeInstanceOf(BundleError);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
