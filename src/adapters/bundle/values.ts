/**
 * How SQLite values travel in JSON lines. Text, null and numbers are plain JSON; the rest is tagged
 * so it comes back as the same SQLite type:
 * - BLOB (embeddings): `{"$base64": "..."}`
 * - an INTEGER beyond ±2^53 (JSON numbers would lose digits): `{"$int": "12345678901234567890"}`
 * - a REAL that JSON cannot write (Infinity, -Infinity): `{"$real": "Infinity"}`
 * Integers are read as BigInt (better-sqlite3 `safeIntegers`) so that no digit is lost on the way.
 */
import { BundleError } from './errors.js';

export type SqlValue = string | number | bigint | Buffer | null;
export type JsonValue = string | number | null | { $base64: string } | { $int: string } | { $real: string };

export function encodeValue(value: unknown): JsonValue {
  if (value === null || value === undefined || typeof value === 'string') return value ?? null;
  if (typeof value === 'bigint') {
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : { $int: value.toString() };
  }
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $real: String(value) };
  if (Buffer.isBuffer(value)) return { $base64: value.toString('base64') };
  throw new Error(`cannot export a value of type ${typeof value}`);
}

/** Throws a `BundleError` for anything that `encodeValue` cannot have written. */
export function decodeValue(value: unknown, where: string): SqlValue {
  if (value === null || typeof value === 'string') return value;
  if (typeof value === 'number') {
    // Integral numbers bind as INTEGER, others as REAL; a STRICT REAL column accepts both.
    return Number.isInteger(value) ? BigInt(value) : value;
  }
  if (typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    const tagged = value as Record<string, unknown>;
    if (keys.length === 1 && typeof tagged.$base64 === 'string') return Buffer.from(tagged.$base64, 'base64');
    if (keys.length === 1 && typeof tagged.$int === 'string' && /^-?\d+$/.test(tagged.$int)) return BigInt(tagged.$int);
    if (keys.length === 1 && (tagged.$real === 'Infinity' || tagged.$real === '-Infinity')) return Number(tagged.$real);
  }
  throw new BundleError('invalid_rows', `${where}: a value of an unknown form (${JSON.stringify(value).slice(0, 80)})`);
}

/** Compares two values as SQLite stores them (1 and 1n and 1.0 are equal; buffers by content). */
export function sameValue(a: SqlValue, b: SqlValue): boolean {
  if (a === null || b === null) return a === b;
  if (Buffer.isBuffer(a) || Buffer.isBuffer(b)) return Buffer.isBuffer(a) && Buffer.isBuffer(b) && a.equals(b);
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    // Loose equality compares a number and a BigInt by value.
    return a == b;
  }
  return a === b;
}

/** A stable text key for a set of values (primary keys in maps). */
export function keyOf(values: readonly SqlValue[]): string {
  return JSON.stringify(values.map((value) => encodeValue(value)));
}
