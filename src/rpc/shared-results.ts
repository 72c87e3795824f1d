/**
 * Results that many calls answer alike (`persona.list`, `persona.status` polled by every client): when a
 * handler's new result equals the one it returned last time for the same key, it returns that earlier
 * object again, frozen, and the transport serialises it once — `stringifyResponse` keeps its JSON text
 * and writes each response around it. Serialising the result was the largest cost left in those calls
 * (bench/README.md, round 4); comparing two small results costs a tenth of it.
 *
 * Only plain JSON data (objects, arrays, strings, numbers, booleans, null) is compared and shared.
 */
import { ExactNumber, stringifyMessage } from './exact-ids.js';
import type { JsonRpcId } from './registry.js';

/** JSON text of each shared result, made on first use. */
const texts = new WeakMap<object, string | null>();
/** The same text as UTF-8 bytes, for transports that write bytes (`encodeResponse`), made on first use. */
const encoded = new WeakMap<object, Buffer>();

export class SharedResults<T extends object> {
  private readonly last = new Map<string, T>();
  /** What each key's result was made from (`keep`): the same inputs again mean the same result. */
  private readonly madeFrom = new Map<string, unknown[]>();

  constructor(
    /** How many keys are kept (e.g. personas × 2); past it the oldest goes. */
    private readonly maxKeys = 1_000,
  ) {}

  /** `result`, or the equal result returned earlier under `key` (the same object, its JSON made once). */
  reuse(key: string, result: T): T {
    const previous = this.last.get(key);
    if (previous !== undefined && sameJson(previous, result)) return previous;
    if (previous === undefined && this.last.size >= this.maxKeys) {
      const oldest = this.last.keys().next().value as string;
      this.last.delete(oldest);
      this.madeFrom.delete(oldest);
    }
    deepFreeze(result);
    texts.set(result, null);
    this.last.set(key, result);
    return result;
  }

  /**
   * The result kept under `key` (by `keep`) when it was made from the same `inputs`, compared one by one
   * with `Object.is` (records by identity, figures by value); else undefined. A caller whose result is a
   * function of a few values checks them here instead of building the result and comparing it with
   * `sameJson` on every call: building and comparing were most of persona.list's and persona.status's
   * JavaScript (bench/README.md, round 9). `inputs` may be a scratch array the caller fills again each call.
   */
  lookup(key: string, inputs: readonly unknown[]): T | undefined {
    const kept = this.madeFrom.get(key);
    if (kept === undefined || kept.length !== inputs.length) return undefined;
    for (let index = 0; index < kept.length; index += 1) if (!Object.is(kept[index], inputs[index])) return undefined;
    return this.last.get(key);
  }

  /** `reuse(key, result)`, remembering that it was made from `inputs` (copied) for `lookup`. */
  keep(key: string, inputs: readonly unknown[], result: T): T {
    const shared = this.reuse(key, result);
    this.madeFrom.set(key, inputs.slice());
    return shared;
  }
}

/**
 * A single success response as JSON text, with a shared result's text reused; anything else (errors,
 * batches, results not shared) through `stringifyMessage`. Same text as `stringifyMessage` would make.
 */
export function stringifyResponse(response: unknown): string {
  const result = sharedResultOf(response);
  if (result === null) return stringifyMessage(response);
  return `{"jsonrpc":"2.0","id":${idText((response as { id?: JsonRpcId }).id ?? null)},"result":${textOf(result)}}`;
}

/**
 * The same response as `stringifyResponse`, as a socket will carry it: for a shared result, UTF-8 bytes
 * made by copying the result's bytes (encoded once) behind the short head, so no response string is
 * built, flattened and encoded for each request (~700 bytes of garbage per persona.list); anything else,
 * the text. Byte for byte what the text encodes to.
 */
export function encodeResponse(response: unknown): string | Buffer {
  const result = sharedResultOf(response);
  if (result === null) return stringifyMessage(response);
  let body = encoded.get(result);
  if (body === undefined) {
    body = Buffer.from(textOf(result));
    encoded.set(result, body);
  }
  // The head's fixed parts are copied as bytes too: only the id is written from text.
  const id = idText((response as { id?: JsonRpcId }).id ?? null);
  const idBytes = Buffer.byteLength(id);
  const resultAt = RESPONSE_HEAD.length + idBytes;
  const bodyAt = resultAt + RESULT_KEY.length;
  const frame = Buffer.allocUnsafe(bodyAt + body.length + 1);
  RESPONSE_HEAD.copy(frame, 0);
  frame.write(id, RESPONSE_HEAD.length);
  RESULT_KEY.copy(frame, resultAt);
  body.copy(frame, bodyAt);
  frame[frame.length - 1] = CLOSING_BRACE;
  return frame;
}

const RESPONSE_HEAD = Buffer.from('{"jsonrpc":"2.0","id":');
const RESULT_KEY = Buffer.from(',"result":');
const CLOSING_BRACE = 0x7d;

/** The shared result a plain single success response carries, or null when it carries none. */
function sharedResultOf(response: unknown): object | null {
  if (typeof response !== 'object' || response === null || Array.isArray(response)) return null;
  const { result } = response as { result?: unknown };
  if (typeof result !== 'object' || result === null || !texts.has(result) || !isPlainResponse(response)) return null;
  return result;
}

/** A shared result's JSON text, made once. */
function textOf(result: object): string {
  let text = texts.get(result) ?? null;
  if (text === null) {
    text = JSON.stringify(result);
    texts.set(result, text);
  }
  return text;
}

/** Exactly `jsonrpc`, `id` and `result`, in that order (what JSON.stringify would write around the result). */
function isPlainResponse(response: object): boolean {
  let index = 0;
  for (const key in response) {
    if (key !== (index === 0 ? 'jsonrpc' : index === 1 ? 'id' : index === 2 ? 'result' : '')) return false;
    index += 1;
  }
  return index === 3 && (response as { jsonrpc?: unknown }).jsonrpc === '2.0';
}

function idText(id: JsonRpcId): string {
  // A finite number (as ids are) prints the same either way; String is the cheaper call.
  if (typeof id === 'number') return String(id);
  return id instanceof ExactNumber ? id.text : JSON.stringify(id);
}

/** Whether two JSON values are equal (same members, same order of array items; key order ignored). */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return typeof a === 'number' && typeof b === 'number' && Number.isNaN(a) && Number.isNaN(b);
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let index = 0; index < a.length; index += 1) if (!sameJson(a[index], b[index])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  let count = 0;
  for (const key in a) {
    if (!Object.hasOwn(b, key) || !sameJson((a as Record<string, unknown>)[key], (b as Record<string, unknown>)[key])) return false;
    count += 1;
  }
  for (const key in b) if (Object.hasOwn(b, key)) count -= 1;
  return count === 0;
}

function deepFreeze(value: unknown): void {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return;
  Object.freeze(value);
  for (const member of Object.values(value)) deepFreeze(member);
}
