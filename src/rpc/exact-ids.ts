/**
 * Request ids echoed exactly. JSON-RPC asks the server to answer with the id the client sent, but
 * `JSON.parse` turns every number into a double: `9007199254740993` would come back as
 * `9007199254740992`, and the client would never match its answer. So when a parsed id is a number
 * that a double may not hold exactly (not a safe integer), the id's own text is taken from the frame
 * and written back verbatim — also `1.50` or `1e3`, which a double holds but would print otherwise.
 * Ordinary ids cost almost nothing: string ids are left alone, and a number whose usual spelling
 * follows `"id":` in the frame is taken as written that way; only other frames are scanned.
 */
import { randomBytes } from 'node:crypto';

/** A numeric id kept as the client wrote it. */
export class ExactNumber {
  constructor(readonly text: string) {}

  /** Serialised as a marker that `stringifyMessage` turns back into the bare number. */
  toJSON(): string {
    return `${MARKER_START}${this.text}${MARKER_END}`;
  }

  toString(): string {
    return this.text;
  }
}

// A random marker per process, so no client can write a string that becomes a raw number.
const NONCE = randomBytes(8).toString('hex');
const MARKER_START = `\u0000exact:${NONCE}:`;
const MARKER_END = '\u0000';
// As JSON.stringify writes the marker inside a string: control characters become \u0000.
const SERIALISED_MARKER = new RegExp(`"\\\\u0000exact:${NONCE}:([-+0-9.eE]+)\\\\u0000"`, 'g');

/** JSON.stringify, with exact numeric ids written as the client sent them. */
export function stringifyMessage(value: unknown): string {
  return restoreExactIds(JSON.stringify(value));
}

/**
 * Writes back, in serialised JSON (a response, or an SSE event holding one), every exact id's marker as
 * the bare number the client sent. Text without markers comes back unchanged.
 */
export function restoreExactIds(text: string): string {
  return text.includes(NONCE) ? text.replace(SERIALISED_MARKER, '$1') : text;
}

/**
 * For code that echoes ids it did not parse itself (the MCP SDK): in a freshly parsed message (or batch),
 * the numeric ids a double does not hold exactly become marker strings — a string is an id every
 * JSON-RPC library echoes as it is — which `restoreExactIds` turns back into the client's numbers.
 * Changes the message in place; true when any id was marked.
 */
export function markExactIds(text: string, message: unknown): boolean {
  const kept = keepExactIds(text, message);
  let isMarked = false;
  for (const member of Array.isArray(kept) ? kept : [kept]) {
    const id = (member as { id?: unknown } | null)?.id;
    if (id instanceof ExactNumber) {
      (member as { id: unknown }).id = id.toJSON();
      isMarked = true;
    }
  }
  return isMarked;
}

/** A marker string from `markExactIds` as the `ExactNumber` it stands for (for logs and contexts); other ids as they are. */
export function fromMarker<T>(id: T): T | ExactNumber {
  if (typeof id !== 'string' || !id.startsWith(MARKER_START) || !id.endsWith(MARKER_END)) return id;
  return new ExactNumber(id.slice(MARKER_START.length, -MARKER_END.length));
}

function needsExactId(member: unknown, text: string): member is { id: number } {
  if (typeof member !== 'object' || member === null || Array.isArray(member)) return false;
  const id = (member as { id?: unknown }).id;
  if (typeof id !== 'number') return false;
  // Not safe: beyond 2^53, a fraction, or beyond a double altogether (`1e400` parses as Infinity).
  if (!Number.isSafeInteger(id) || Object.is(id, -0)) return true;
  // Written the usual way ("id":7, or "id": 7 as Python's json writes it)? Then 7 echoes it exactly.
  return !isSpelledAfterIdKey(text, String(id));
}

const ID_KEY = '"id":';

/**
 * Whether `"id":` followed by `spelled` (right after it or after one space) occurs in `text` as a whole
 * number token (not the start of `7.5` or `70`). Looked up without building the two needles per frame.
 */
function isSpelledAfterIdKey(text: string, spelled: string): boolean {
  let from = 0;
  for (;;) {
    const at = text.indexOf(ID_KEY, from);
    if (at === -1) return false;
    let start = at + ID_KEY.length;
    if (text[start] === ' ') start += 1;
    if (text.startsWith(spelled, start)) {
      const next = text[start + spelled.length];
      if (next === undefined || next === ',' || next === '}' || next === ' ' || next === '\n' || next === '\r' || next === '\t') return true;
    }
    from = at + 1;
  }
}

/**
 * Replaces, in a freshly parsed message (or batch), every numeric id a double does not hold exactly
 * with an `ExactNumber` carrying its text from `text`, the frame it was parsed from.
 */
export function keepExactIds(text: string, message: unknown): unknown {
  // A single request (nearly every frame) is checked without an array and a closure around it.
  if (!Array.isArray(message)) {
    if (!needsExactId(message, text)) return message;
  } else if (!message.some((member) => needsExactId(member, text))) return message;
  const members = Array.isArray(message) ? message : [message];
  const texts = topLevelIdTexts(text);
  members.forEach((member, index) => {
    const raw = texts[index];
    const id = (member as { id?: unknown } | null)?.id;
    if (typeof id === 'number' && raw !== undefined && raw !== String(id)) (member as { id: unknown }).id = new ExactNumber(raw);
  });
  return message;
}

/**
 * The text of the numeric `id` member of the frame's request object, or of each object in a batch
 * (undefined where there is none). `text` must be valid JSON (it has been parsed already).
 */
export function topLevelIdTexts(text: string): Array<string | undefined> {
  let index = skipSpace(text, 0);
  if (text[index] === '{') return [objectIdText(text, index).idText];
  if (text[index] !== '[') return [];
  const ids: Array<string | undefined> = [];
  index = skipSpace(text, index + 1);
  while (index < text.length && text[index] !== ']') {
    if (text[index] === '{') {
      const { idText, end } = objectIdText(text, index);
      ids.push(idText);
      index = end;
    } else {
      ids.push(undefined);
      index = skipValue(text, index);
    }
    index = skipSpace(text, index);
    if (text[index] === ',') index = skipSpace(text, index + 1);
  }
  return ids;
}

/** Reads the object starting at `start`; its last `"id"` member's text when that is a number. */
function objectIdText(text: string, start: number): { idText: string | undefined; end: number } {
  let idText: string | undefined;
  let index = skipSpace(text, start + 1);
  while (index < text.length && text[index] !== '}') {
    const keyEnd = skipString(text, index);
    const key = JSON.parse(text.slice(index, keyEnd)) as string;
    index = skipSpace(text, keyEnd);
    index = skipSpace(text, index + 1); // the colon
    const valueEnd = skipValue(text, index);
    if (key === 'id') {
      const value = text.slice(index, valueEnd).trim();
      idText = /^-?[0-9]/.test(value) ? value : undefined;
    }
    index = skipSpace(text, valueEnd);
    if (text[index] === ',') index = skipSpace(text, index + 1);
  }
  return { idText, end: index + 1 };
}

function skipSpace(text: string, index: number): number {
  while (index < text.length && (text[index] === ' ' || text[index] === '\n' || text[index] === '\r' || text[index] === '\t')) index += 1;
  return index;
}

/** The index after the string that starts (with its quote) at `start`. */
function skipString(text: string, start: number): number {
  let index = start + 1;
  while (index < text.length) {
    const char = text[index];
    if (char === '\\') index += 2;
    else if (char === '"') return index + 1;
    else index += 1;
  }
  return index;
}

/** The index after the JSON value that starts at `start`. */
function skipValue(text: string, start: number): number {
  const first = text[start];
  if (first === '"') return skipString(text, start);
  if (first !== '{' && first !== '[') {
    let index = start;
    while (index < text.length && !',}] \n\r\t'.includes(text[index] as string)) index += 1;
    return index;
  }
  let depth = 0;
  let index = start;
  while (index < text.length) {
    const char = text[index];
    if (char === '"') {
      index = skipString(text, index);
      continue;
    }
    if (char === '{' || char === '[') depth += 1;
    else if (char === '}' || char === ']') {
      depth -= 1;
      if (depth === 0) return index + 1;
    }
    index += 1;
  }
  return index;
}
