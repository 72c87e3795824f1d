/**
 * Cassettes: recorded LLM exchanges stored as files, one JSON file per request, named by a hash of the
 * *normalised* request. Normalising drops what must not decide a match — the queue priority, trailing
 * whitespace, Windows line ends, the order of option keys — so that only a change in what the model
 * would actually see (the prompt, the model, the limits, the sampling options) makes a new key.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createTwoFilesPatch } from 'diff';
import type { LlmChatRequest } from '../../ports/llm.js';

/** The request as it is hashed and stored. */
export interface NormalisedRequest {
  model: string;
  messages: Array<{ role: string; content: string }>;
  maxTokens: number;
  contextTokens: number;
  options: Record<string, number>;
}

/** One recorded exchange. */
export interface Cassette {
  /** Format version of this file. */
  version: 1;
  key: string;
  request: NormalisedRequest;
  response: {
    /** The streamed text pieces, in order (replayed as the same deltas). */
    chunks: string[];
    promptTokens: number | null;
    completionTokens: number | null;
    model: string;
  };
  /** Which backend answered when it was recorded (e.g. `ollama http://127.0.0.1:11434`). */
  recordedWith: string;
}

function normaliseText(text: string): string {
  return text
    .replace(/\r\n?/g, '\n')
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n')
    .trim();
}

/** The request reduced to what the model sees, in a stable shape. */
export function normaliseRequest(request: LlmChatRequest): NormalisedRequest {
  const options: Record<string, number> = {};
  for (const key of Object.keys(request.options ?? {}).sort()) options[key] = request.options![key]!;
  return {
    model: request.model,
    messages: request.messages.map((message) => ({ role: message.role, content: normaliseText(message.content) })),
    maxTokens: request.maxTokens,
    contextTokens: request.contextTokens,
    options,
  };
}

/** The cassette key: SHA-256 (hex, first 32 characters) of the normalised request's JSON. */
export function cassetteKey(request: NormalisedRequest): string {
  return createHash('sha256').update(JSON.stringify(request)).digest('hex').slice(0, 32);
}

/** The request as readable lines, for diffs: one header line, then each message with its role. */
export function renderRequest(request: NormalisedRequest): string {
  const lines = [`model: ${request.model}  maxTokens: ${request.maxTokens}  contextTokens: ${request.contextTokens}  options: ${JSON.stringify(request.options)}`];
  for (const message of request.messages) {
    lines.push(`--- ${message.role} ---`);
    lines.push(...message.content.split('\n'));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * How alike two rendered requests are, 0..2: the share of lines they have in common (as multisets),
 * plus how alike the remaining lines are as text (Dice coefficient of character bigrams). The second
 * term breaks ties between requests that differ in one line each: the nearer wording wins.
 */
function similarity(a: string[], b: string[]): number {
  const counts = new Map<string, number>();
  for (const line of b) counts.set(line, (counts.get(line) ?? 0) + 1);
  let shared = 0;
  const onlyA: string[] = [];
  for (const line of a) {
    const left = counts.get(line) ?? 0;
    if (left > 0) {
      shared += 1;
      counts.set(line, left - 1);
    } else onlyA.push(line);
  }
  const onlyB = [...counts].flatMap(([line, left]) => Array<string>(left).fill(line));
  const lines = a.length + b.length === 0 ? 1 : (2 * shared) / (a.length + b.length);
  return lines + dice(onlyA.join('\n'), onlyB.join('\n'));
}

/** Dice coefficient of character bigrams (first 4,000 characters of each; enough to rank). */
function dice(a: string, b: string): number {
  const bigrams = (text: string): Map<string, number> => {
    const found = new Map<string, number>();
    const cut = text.slice(0, 4000);
    for (let index = 0; index < cut.length - 1; index++) {
      const pair = cut.slice(index, index + 2);
      found.set(pair, (found.get(pair) ?? 0) + 1);
    }
    return found;
  };
  const left = bigrams(a);
  const right = bigrams(b);
  let total = 0;
  let common = 0;
  for (const count of left.values()) total += count;
  for (const [pair, count] of right) {
    total += count;
    common += Math.min(count, left.get(pair) ?? 0);
  }
  return total === 0 ? 1 : (2 * common) / total;
}

/** A folder of cassettes. Files are read once, on first use; recorded ones are added as they are written. */
export class CassetteShelf {
  private cassettes: Map<string, Cassette> | null = null;

  constructor(readonly directory: string) {}

  get(key: string): Cassette | undefined {
    return this.load().get(key);
  }

  get size(): number {
    return this.load().size;
  }

  /** The models the recorded requests used. */
  models(): string[] {
    return [...new Set([...this.load().values()].map((cassette) => cassette.request.model))].sort();
  }

  /** Writes a cassette (atomically: a reader never sees half a file). */
  put(cassette: Cassette): void {
    mkdirSync(this.directory, { recursive: true });
    const file = path.join(this.directory, `${cassette.key}.json`);
    const temporary = `${file}.${process.pid}.tmp`;
    writeFileSync(temporary, `${JSON.stringify(cassette, null, 2)}\n`);
    renameSync(temporary, file);
    this.load().set(cassette.key, cassette);
  }

  /** The recorded request most like `request` (by shared lines), or null when the shelf is empty. */
  nearest(request: NormalisedRequest): Cassette | null {
    const wanted = renderRequest(request).split('\n');
    let best: Cassette | null = null;
    let bestScore = -1;
    for (const cassette of this.load().values()) {
      const score = similarity(wanted, renderRequest(cassette.request).split('\n')) + (cassette.request.model === request.model ? 0.001 : 0);
      if (score > bestScore) {
        best = cassette;
        bestScore = score;
      }
    }
    return best;
  }

  /** A unified diff from the nearest recorded request to `request` ("" when the shelf is empty). */
  diffAgainstNearest(request: NormalisedRequest): { nearest: Cassette | null; diff: string } {
    const nearest = this.nearest(request);
    if (nearest === null) return { nearest, diff: '' };
    const patch = createTwoFilesPatch(`recorded ${nearest.key}`, 'requested now', renderRequest(nearest.request), renderRequest(request), undefined, undefined, {
      context: 2,
    });
    // Drop the "====" banner line the library puts first; the two file headers say it all.
    return { nearest, diff: patch.replace(/^=+\n/, '') };
  }

  private load(): Map<string, Cassette> {
    if (this.cassettes !== null) return this.cassettes;
    const loaded = new Map<string, Cassette>();
    let names: string[] = [];
    try {
      names = readdirSync(this.directory).filter((name) => name.endsWith('.json'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const name of names) {
      const file = path.join(this.directory, name);
      let cassette: Cassette;
      try {
        cassette = JSON.parse(readFileSync(file, 'utf8')) as Cassette;
      } catch (error) {
        throw new Error(`Cassette ${file} is not valid JSON (${(error as Error).message}); delete it and record again.`, { cause: error });
      }
      if (cassette.version !== 1 || typeof cassette.key !== 'string' || !Array.isArray(cassette.response?.chunks))
        throw new Error(`Cassette ${file} is not a version 1 cassette; delete it and record again.`);
      loaded.set(cassette.key, cassette);
    }
    this.cassettes = loaded;
    return loaded;
  }
}
