/**
 * `MediaFiles` on `MediaBlobs` (the data directory's `media/` folder, or PostgreSQL's `media_blobs` when
 * nodes share it): `<sha256>` holds the bytes as received, `<sha256>.thumb.webp` a thumbnail of a picture. The type is read from the bytes (file-type's magic numbers, then sharp's decoder
 * for pictures), never from a name or a client's claim, and only raster pictures and common audio formats
 * pass: no SVG or HTML is ever stored, so nothing stored can run script when served.
 */
import { createHash } from 'node:crypto';
import { loadSharp } from './sharp.js';
import { AppError } from '../../domain/errors.js';
import type { MediaBlobs, MediaFiles, MediaInfo, MediaKind, MediaRecords } from '../../ports/media.js';

/** Pictures people attach or upload. SVG is left out on purpose: it can carry script. */
export const IMAGE_TYPES: ReadonlySet<string> = new Set(['image/png', 'image/jpeg', 'image/webp', 'image/gif']);
/** Audio the browsers of today play. */
export const AUDIO_TYPES: ReadonlySet<string> = new Set(['audio/mpeg', 'audio/ogg', 'audio/wav', 'audio/x-wav', 'audio/webm', 'video/webm', 'audio/mp4', 'audio/x-m4a', 'audio/flac', 'audio/x-flac', 'audio/opus', 'audio/aac']);

/** Longest side of a thumbnail, in pixels. */
export const THUMBNAIL_SIDE = 256;
/** Pictures larger than this many pixels are refused (a decompression bomb would exhaust memory). */
export const MAX_IMAGE_PIXELS = 40_000_000;

export interface FileMediaOptions {
  /** Where the bytes go (`DirectoryMediaBlobs` on `<dataDir>/media`, or PostgreSQL's). */
  blobs: MediaBlobs;
  /** Largest file accepted, in bytes. */
  maxBytes: number;
  /** Remembers what a stored file is (the `media` table), so it is not decoded again on every read. */
  index: MediaRecords;
  now: () => number;
}

const ID_PATTERN = /^[0-9a-f]{64}$/;

export class FileMedia implements MediaFiles {
  constructor(private readonly options: FileMediaOptions) {}

  async put(data: Buffer, accept: readonly MediaKind[]): Promise<MediaInfo> {
    const { maxBytes } = this.options;
    if (data.length === 0) throw new AppError('invalid_media', 'The attachment is empty.');
    if (data.length > maxBytes) {
      throw new AppError('invalid_media', `The file has ${data.length} bytes; at most ${maxBytes} are accepted (media.maxBytes). Send a smaller or scaled-down file.`, {
        data: { limit: 'media.maxBytes', max: maxBytes, actual: data.length },
      });
    }
    const id = createHash('sha256').update(data).digest('hex');
    const known = await this.options.index.get(id);
    if (known !== null) {
      if (!accept.includes(known.kind)) throw wrongKind(known.mimeType, accept);
      return known;
    }
    // Loaded on first use, like sharp: most commands never store a file.
    const { fileTypeFromBuffer } = await import('file-type');
    const detected = await fileTypeFromBuffer(data);
    const mimeType = detected?.mime ?? null;
    let info: MediaInfo;
    if (mimeType !== null && IMAGE_TYPES.has(mimeType)) {
      if (!accept.includes('image')) throw wrongKind(mimeType, accept);
      info = await this.storeImage(id, data, mimeType);
    } else if (mimeType !== null && AUDIO_TYPES.has(mimeType)) {
      if (!accept.includes('audio')) throw wrongKind(mimeType, accept);
      info = { id, kind: 'audio', mimeType: mimeType === 'video/webm' ? 'audio/webm' : mimeType, bytes: data.length, width: null, height: null, hasThumbnail: false };
      await this.write(id, data);
    } else {
      throw new AppError(
        'invalid_media',
        `The file is ${mimeType === null ? 'of no recognised type' : mimeType}; accepted are ${describeAccepted(accept)}. The type is read from the file's content, not its name.`,
        { data: { detected: mimeType } },
      );
    }
    await this.options.index.put(info, this.options.now());
    return info;
  }

  private async storeImage(id: string, data: Buffer, mimeType: string): Promise<MediaInfo> {
    let width: number | null;
    let height: number | null;
    let thumbnail: Buffer;
    const sharp = await loadSharp();
    try {
      const image = sharp(data, { limitInputPixels: MAX_IMAGE_PIXELS, animated: false });
      const metadata = await image.metadata();
      width = metadata.width ?? null;
      height = metadata.height ?? null;
      // `rotate()` applies the EXIF orientation, so phone photos thumbnail upright.
      thumbnail = await image.rotate().resize(THUMBNAIL_SIDE, THUMBNAIL_SIDE, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }).toBuffer();
    } catch (error) {
      throw new AppError('invalid_media', `The picture could not be read (${(error as Error).message}); it may be damaged or too large (at most ${MAX_IMAGE_PIXELS} pixels).`, {
        detail: error,
      });
    }
    await this.write(id, data);
    await this.write(`${id}.thumb.webp`, thumbnail);
    return { id, kind: 'image', mimeType, bytes: data.length, width, height, hasThumbnail: true };
  }

  private write(name: string, data: Buffer): Promise<void> {
    return this.options.blobs.write(name, data);
  }

  async info(id: string): Promise<MediaInfo | null> {
    if (!ID_PATTERN.test(id)) return null;
    return this.options.index.get(id);
  }

  async read(id: string, variant: 'original' | 'thumbnail'): Promise<{ info: MediaInfo; data: Buffer } | null> {
    const info = await this.info(id);
    if (info === null) return null;
    if (variant === 'thumbnail' && !info.hasThumbnail) return null;
    const data = await this.options.blobs.read(variant === 'thumbnail' ? `${id}.thumb.webp` : id);
    return data === null ? null : { info, data };
  }

  async remove(id: string): Promise<void> {
    if (!ID_PATTERN.test(id)) return;
    // The record first: a file without a record is never served, and the next pass cannot miss it.
    await this.options.index.remove(id);
    await this.options.blobs.remove(id);
    await this.options.blobs.remove(`${id}.thumb.webp`);
  }

  async toPng(id: string): Promise<Buffer | null> {
    const stored = await this.read(id, 'original');
    if (stored === null || stored.info.kind !== 'image') return null;
    if (stored.info.mimeType === 'image/png') return stored.data;
    const sharp = await loadSharp();
    return sharp(stored.data, { limitInputPixels: MAX_IMAGE_PIXELS }).png().toBuffer();
  }
}

function describeAccepted(accept: readonly MediaKind[]): string {
  return accept.map((kind) => (kind === 'image' ? 'PNG, JPEG, WebP and GIF pictures' : 'MP3, Ogg, Opus, WAV, WebM, M4A, AAC and FLAC audio')).join(', or ');
}

function wrongKind(mimeType: string, accept: readonly MediaKind[]): AppError {
  return new AppError('invalid_media', `The file is ${mimeType}, but here only ${describeAccepted(accept)} are accepted.`, { data: { detected: mimeType } });
}
