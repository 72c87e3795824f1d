/**
 * Character cards inside PNG images. The card JSON is stored base64-encoded in a `tEXt` chunk: keyword
 * `chara` for Character Card V2, `ccv3` for V3 (the V3 spec asks writers to add a `chara` V2 copy for
 * older readers; readers prefer `ccv3`). Chunks are read and written with png-chunks-extract /
 * png-chunks-encode (which check and compute each chunk's CRC) and png-chunk-text.
 */
import { deflateSync } from 'node:zlib';
import extractChunks from 'png-chunks-extract';
import encodeChunks from 'png-chunks-encode';
import * as pngText from 'png-chunk-text';
import { BundleError } from '../bundle/errors.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
export const CARD_KEYWORDS = ['ccv3', 'chara'] as const;
export type CardKeyword = (typeof CARD_KEYWORDS)[number];

type Chunk = { name: string; data: Uint8Array };

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= PNG_SIGNATURE.length && Buffer.from(bytes.subarray(0, PNG_SIGNATURE.length)).equals(PNG_SIGNATURE);
}

/**
 * Walks the chunk headers and checks that every chunk lies within the data, before any chunk is read:
 * png-chunks-extract allocates whatever length a chunk claims, so 61 bytes claiming a 1 GiB chunk
 * would stall the process allocating and copying zeros.
 */
function checkChunkLengths(png: Uint8Array): void {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let offset = PNG_SIGNATURE.length;
  while (offset < png.length) {
    if (offset + 8 > png.length) throw new BundleError('corrupt', 'the PNG is damaged: it ends inside a chunk header');
    const length = view.getUint32(offset);
    // 4 length + 4 type + data + 4 CRC
    const end = offset + 12 + length;
    if (length > 0x7fffffff || end > png.length) {
      throw new BundleError('corrupt', `the PNG is damaged: a chunk claims ${length} bytes, but only ${Math.max(0, png.length - offset - 12)} follow`);
    }
    const type = String.fromCharCode(png[offset + 4] as number, png[offset + 5] as number, png[offset + 6] as number, png[offset + 7] as number);
    offset = end;
    if (type === 'IEND') return;
  }
}

function readChunks(png: Uint8Array): Chunk[] {
  if (!isPng(png)) throw new BundleError('corrupt', 'the data is not a PNG image (no PNG signature)');
  checkChunkLengths(png);
  let chunks: Chunk[];
  try {
    chunks = extractChunks(png);
  } catch (error) {
    throw new BundleError('corrupt', `the PNG is damaged: ${(error as Error).message}`);
  }
  // png-chunks-extract reads past a truncated end as zeros; a PNG always ends with IEND.
  if (chunks.at(-1)?.name !== 'IEND') throw new BundleError('corrupt', 'the PNG is damaged: it ends before its IEND chunk');
  return chunks;
}

/** The card texts (decoded from base64) of a PNG, by keyword; empty when it carries no card. */
export function readCardTexts(png: Uint8Array): Partial<Record<CardKeyword, string>> {
  const found: Partial<Record<CardKeyword, string>> = {};
  for (const chunk of readChunks(png)) {
    if (chunk.name !== 'tEXt') continue;
    const { keyword, text } = pngText.decode(chunk.data);
    const lower = keyword.toLowerCase();
    if (lower !== 'ccv3' && lower !== 'chara') continue;
    found[lower] = Buffer.from(text, 'base64').toString('utf8');
  }
  return found;
}

/** The PNG without its card chunks (what a card's image is when the card is taken out). */
export function stripCardChunks(png: Uint8Array): Buffer {
  const kept = readChunks(png).filter((chunk) => chunk.name !== 'tEXt' || !isCardKeyword(pngText.decode(chunk.data).keyword));
  return Buffer.from(encodeChunks(kept));
}

/** `image` (any PNG; its old card chunks are replaced) with the given card texts, just before IEND. */
export function writeCardTexts(image: Uint8Array, texts: Partial<Record<CardKeyword, string>>): Buffer {
  const chunks = readChunks(image).filter((chunk) => chunk.name !== 'tEXt' || !isCardKeyword(pngText.decode(chunk.data).keyword));
  const end = chunks.pop() as Chunk;
  // `chara` first, then `ccv3`, as the V3 spec's reference writers do.
  for (const keyword of ['chara', 'ccv3'] as const) {
    const text = texts[keyword];
    if (text !== undefined) chunks.push(pngText.encode(keyword, Buffer.from(text, 'utf8').toString('base64')));
  }
  chunks.push(end);
  return Buffer.from(encodeChunks(chunks));
}

function isCardKeyword(keyword: string): boolean {
  const lower = keyword.toLowerCase();
  return lower === 'ccv3' || lower === 'chara';
}

/**
 * A small plain PNG (RGB, one colour) for personas exported as PNG cards without an image of their own;
 * the colour comes from the persona's id so personas are told apart in a card list.
 */
export function placeholderImage(seed: string, size = 64): Buffer {
  let hash = 2166136261;
  for (const char of seed) hash = Math.imul(hash ^ char.charCodeAt(0), 16777619) >>> 0;
  const rgb = [96 + (hash & 0x7f), 96 + ((hash >> 8) & 0x7f), 96 + ((hash >> 16) & 0x7f)];
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB
  const row = Buffer.alloc(1 + size * 3); // filter byte 0, then pixels
  for (let x = 0; x < size; x += 1) row.set(rgb, 1 + x * 3);
  const pixels = Buffer.concat(Array.from({ length: size }, () => row));
  return Buffer.from(
    encodeChunks([
      { name: 'IHDR', data: header },
      { name: 'IDAT', data: deflateSync(pixels) },
      { name: 'IEND', data: new Uint8Array(0) },
    ]),
  );
}
