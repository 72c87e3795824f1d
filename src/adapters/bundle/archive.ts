/**
 * The bundle container: a gzip-compressed tar archive (tar-stream + node:zlib) holding `manifest.json`
 * first, then one `tables/<name>.jsonl` per table. Writing streams files from a staging directory;
 * reading unpacks into a staging directory, refusing anything that is not a plain file with an
 * expected name, and checks every file against the manifest's SHA-256, size and row count before
 * any of it is parsed.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import * as tar from 'tar-stream';
import { describeZodIssues } from '../../domain/persona-schema.js';
import { BundleError } from './errors.js';
import { MANIFEST_NAME, manifestSchema, TABLE_FILE_PATTERN, type BundleManifest } from './manifest.js';

/** Unpacked size above which a bundle is refused (a zip bomb, or not ours). Defaults to 8 GiB. */
export const DEFAULT_MAX_UNPACKED_BYTES = 8 * 1024 ** 3;
/** More entries than this is not a bundle we wrote. */
const MAX_ENTRIES = 10_000;
/**
 * Longest row (one JSON line) accepted. Rows are parsed one line at a time, and a line must fit in
 * one string (V8's limit is ~512 MiB; a 600 MB line crashed readline). Our largest rows — a persona
 * with its avatar, a long message — are a few MiB; 64 MiB is far beyond any we write.
 */
export const DEFAULT_MAX_LINE_BYTES = 64 * 1024 ** 2;
const MAX_MANIFEST_BYTES = 4 * 1024 ** 2;

/** Packs `manifest` and the table files it lists (found in `stagingDir`) into a .tar.gz at `outFile`. */
export async function writeArchive(outFile: string, manifest: BundleManifest, stagingDir: string): Promise<void> {
  const pack = tar.pack();
  const written = pipeline(pack, createGzip({ level: 6 }), createWriteStream(outFile));
  const mtime = new Date(manifest.createdAt);
  const manifestBytes = Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`);
  await addEntry(pack, { name: MANIFEST_NAME, size: manifestBytes.length, mtime }, manifestBytes);
  for (const entry of manifest.tables) {
    const file = path.join(stagingDir, path.basename(entry.file));
    await addEntry(pack, { name: entry.file, size: (await stat(file)).size, mtime }, createReadStream(file));
  }
  pack.finalize();
  await written;
}

function addEntry(pack: tar.Pack, header: Partial<tar.Header> & Pick<tar.Header, 'name'>, content: Buffer | Readable): Promise<void> {
  return new Promise((resolve, reject) => {
    if (Buffer.isBuffer(content)) {
      pack.entry(header, content, (error) => (error ? reject(error) : resolve()));
      return;
    }
    const sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
    content.on('error', reject);
    content.pipe(sink);
  });
}

export interface UnpackedBundle {
  manifest: BundleManifest;
  /** Absolute path of each table's JSON-lines file, by table name. */
  files: Map<string, string>;
}

/**
 * Unpacks `source` (the .tar.gz bytes) into `stagingDir` and verifies it: a manifest that parses,
 * exactly the files it lists, each with the listed size, SHA-256 and line count. Throws a
 * `BundleError` naming the first problem; nothing outside `stagingDir` is touched.
 */
export async function readArchive(
  source: Readable,
  stagingDir: string,
  options: { maxUnpackedBytes?: number; maxLineBytes?: number } = {},
): Promise<UnpackedBundle> {
  const maxBytes = options.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
  const maxLineBytes = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
  const extract = tar.extract();
  const gunzip = createGunzip();
  const fail = (error: unknown): void => {
    extract.destroy(error instanceof Error ? error : new Error(String(error)));
  };
  source.on('error', fail);
  gunzip.on('error', (error) => fail(new BundleError('corrupt', `the bundle is not a valid gzip file (${error.message})`)));
  source.pipe(gunzip).pipe(extract);

  const seen = new Map<string, { file: string; sha256: string; bytes: number; lines: number }>();
  let manifestText: string | null = null;
  let total = 0;
  try {
    for await (const entry of extract) {
      const { name, type } = entry.header;
      if (seen.size + 1 > MAX_ENTRIES) throw new BundleError('corrupt', `the bundle has more than ${MAX_ENTRIES} entries`);
      if (type !== 'file') throw new BundleError('corrupt', `the bundle holds "${name}" of type ${type}; only plain files are allowed`);
      if (name !== MANIFEST_NAME && !TABLE_FILE_PATTERN.test(name)) {
        throw new BundleError('corrupt', `the bundle holds an unexpected entry "${name}"`);
      }
      if (seen.has(name) || (name === MANIFEST_NAME && manifestText !== null)) throw new BundleError('corrupt', `the bundle holds "${name}" twice`);
      if (name === MANIFEST_NAME) {
        const chunks: Buffer[] = [];
        let size = 0;
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          size += chunk.length;
          if (size > MAX_MANIFEST_BYTES) throw new BundleError('corrupt', 'manifest.json is implausibly large');
          chunks.push(chunk);
        }
        manifestText = Buffer.concat(chunks).toString('utf8');
        continue;
      }
      const file = path.join(stagingDir, path.basename(name));
      const hash = createHash('sha256');
      let bytes = 0;
      let lines = 0;
      /** Bytes of the line being read so far. */
      let lineBytes = 0;
      const sink = createWriteStream(file);
      try {
        for await (const chunk of entry as AsyncIterable<Buffer>) {
          bytes += chunk.length;
          total += chunk.length;
          if (total > maxBytes) throw new BundleError('too_large', `the bundle unpacks to more than ${maxBytes} bytes`);
          hash.update(chunk);
          let offset = 0;
          for (;;) {
            const newline = chunk.indexOf(0x0a, offset);
            lineBytes += (newline === -1 ? chunk.length : newline) - offset;
            if (lineBytes > maxLineBytes) {
              throw new BundleError('too_large', `${name}: row ${lines + 1} is longer than ${maxLineBytes} bytes, more than any row persona-mcp writes; the bundle is damaged or not ours`);
            }
            if (newline === -1) break;
            lines += 1;
            lineBytes = 0;
            offset = newline + 1;
          }
          if (!sink.write(chunk)) await new Promise<void>((resolve) => sink.once('drain', () => resolve()));
        }
      } finally {
        await new Promise<void>((resolve, reject) => sink.end((error?: Error | null) => (error ? reject(error) : resolve())));
      }
      seen.set(name, { file, sha256: hash.digest('hex'), bytes, lines });
    }
  } catch (error) {
    source.unpipe();
    source.destroy();
    if (error instanceof BundleError) throw error;
    throw new BundleError('corrupt', `the bundle cannot be read: ${(error as Error).message}`, error);
  }

  if (manifestText === null) throw new BundleError('corrupt', 'the bundle has no manifest.json');
  const manifest = parseManifest(manifestText);
  const files = new Map<string, string>();
  for (const entry of manifest.tables) {
    const found = seen.get(entry.file);
    if (found === undefined) throw new BundleError('corrupt', `the manifest lists ${entry.file}, which the bundle does not contain`);
    if (TABLE_FILE_PATTERN.exec(entry.file)?.[1] !== entry.table) {
      throw new BundleError('corrupt', `the manifest names ${entry.file} for table ${entry.table}`);
    }
    if (found.bytes !== entry.bytes || found.sha256 !== entry.sha256) {
      throw new BundleError('checksum_mismatch', `${entry.file} does not match its checksum in the manifest: the bundle was changed or damaged`);
    }
    if (found.lines !== entry.rows) {
      throw new BundleError('corrupt', `${entry.file} has ${found.lines} rows, the manifest says ${entry.rows}`);
    }
    files.set(entry.table, found.file);
    seen.delete(entry.file);
  }
  const extra = [...seen.keys()];
  if (extra.length > 0) throw new BundleError('corrupt', `the bundle holds files the manifest does not list: ${extra.join(', ')}`);
  return { manifest, files };
}

/** Parses and checks `manifest.json`; the format version must be one this build reads. */
export function parseManifest(text: string): BundleManifest {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new BundleError('corrupt', `manifest.json is not valid JSON (${(error as Error).message})`);
  }
  if (typeof json === 'object' && json !== null && 'format' in json && json.format !== 'persona-mcp-bundle') {
    throw new BundleError('corrupt', `this is not a persona-mcp bundle (format "${String(json.format)}")`);
  }
  const parsed = manifestSchema.safeParse(json);
  if (!parsed.success) throw new BundleError('corrupt', `manifest.json is invalid: ${describeZodIssues(parsed.error)}`);
  return parsed.data;
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

