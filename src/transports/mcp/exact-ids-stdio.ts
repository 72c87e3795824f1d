/**
 * MCP over stdio with request ids echoed exactly, as over WebSocket and HTTP (`src/rpc/exact-ids.ts`):
 * the SDK's stdio transport parses each line with `JSON.parse`, so `9007199254740993` would come back as
 * `9007199254740992`. Lines on the way in have such ids turned into marker strings; what the SDK writes
 * on the way out has them turned back into the client's numbers.
 *
 * The same stage answers the lines the SDK would drop without a word (JSON-RPC 2.0 §5.1, as the HTTP
 * transports do): a line that is not JSON gets a -32700 Parse error, and JSON that is not a JSON-RPC
 * message (the SDK's own schema: a request, notification or response) a -32600 Invalid Request, each with
 * id null unless the message carried a usable one. Such a line goes no further; the connection goes on.
 * Blank lines are framing, not messages: skipped, as the SDK does.
 *
 * A line over `limits.maxFrameBytes` (as a WebSocket frame or an MCP HTTP body) is not read: it gets a
 * -32020 `request_too_large` with `data.limit`, and the id of the message when its head names it (the
 * usual `{"jsonrpc":"2.0","id":…` order), else id null. Only its first bytes are kept while the rest goes
 * by, so an endless line costs no memory; the next line is served.
 */
import { Transform } from 'node:stream';
import { parseJSONRPCMessage } from '@modelcontextprotocol/server';
import { markExactIds, restoreExactIds } from '../../rpc/exact-ids.js';
import { APPLICATION_ERRORS, INVALID_REQUEST, PARSE_ERROR } from '../../rpc/error-codes.js';

/** Answers a line that is no JSON-RPC message: the error response (a whole line) and its code. */
export type RefuseLine = (response: string, code: number) => void;

/**
 * Bytes of an over-long line kept to read its id from: enough for `{"jsonrpc":"2.0","id":` and any id a
 * client makes (a UUID, a counter); an id further in is not looked for.
 */
const ID_HEAD_BYTES = 256;

/** The top-level id of a message that starts with it (after `"jsonrpc"` at most): a string or an integer, as written. */
const LEADING_ID = /^\s*\{\s*(?:"jsonrpc"\s*:\s*"2\.0"\s*,\s*)?"id"\s*:\s*(-?(?:0|[1-9]\d*)|"(?:[^"\\]|\\.)*")\s*[,}]/;

/** An over-long line being skipped: its head (for the id) and its length so far. */
interface SkippedLine {
  head: Buffer;
  bytes: number;
}

/**
 * stdin → SDK: each line whose ids need it, with those ids marked; a line that is no JSON-RPC message,
 * or one over `maxLineBytes` (`limits.maxFrameBytes`, newline not counted), answered through `refuse` instead.
 */
export function markingExactIdLines(refuse: RefuseLine, maxLineBytes: number): Transform {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** Inside a line over the limit: its bytes are dropped up to its newline, then it is answered. */
  let skipped: SkippedLine | null = null;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      let start = 0;
      for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
        const bytes = pendingBytes + newline - start;
        if (skipped !== null) {
          refuseTooLarge(refuse, skipped.head, skipped.bytes + newline - start, maxLineBytes);
          skipped = null;
        } else if (bytes > maxLineBytes) {
          pending.push(chunk.subarray(start, newline));
          refuseTooLarge(refuse, headOf(pending), bytes, maxLineBytes);
        } else {
          const line = markLine(Buffer.concat([...pending, chunk.subarray(start, newline + 1)]), refuse);
          if (line !== null) this.push(line);
        }
        pending = [];
        pendingBytes = 0;
        start = newline + 1;
      }
      const rest = chunk.subarray(start);
      if (rest.length > 0) {
        if (skipped !== null) skipped.bytes += rest.length;
        else if (pendingBytes + rest.length > maxLineBytes) {
          pending.push(rest);
          skipped = { head: headOf(pending), bytes: pendingBytes + rest.length };
          pending = [];
          pendingBytes = 0;
        } else {
          pending.push(Buffer.from(rest));
          pendingBytes += rest.length;
        }
      }
      callback();
    },
    flush(callback) {
      for (const part of pending) this.push(part);
      callback();
    },
  });
}

/** The first `ID_HEAD_BYTES` of a line's parts, copied (the chunks they come from are reused). */
function headOf(parts: Buffer[]): Buffer {
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  return Buffer.concat(parts, Math.min(total, ID_HEAD_BYTES));
}

function refuseTooLarge(refuse: RefuseLine, head: Buffer, bytes: number, limit: number): void {
  const { code } = APPLICATION_ERRORS.request_too_large;
  const error = {
    code,
    message: `Request too large: the line has ${bytes} bytes; the limit is ${limit} (limits.maxFrameBytes).`,
    data: { kind: 'request_too_large', limit, actual: bytes },
  };
  // The id goes out as the client wrote it (a big number stays exact), so the line is put together by hand.
  refuse(`{"jsonrpc":"2.0","id":${leadingId(head) ?? 'null'},"error":${JSON.stringify(error)}}\n`, code);
}

/** The id at the head of a line, as JSON text, when it can be read there; else null. */
function leadingId(head: Buffer): string | null {
  const id = LEADING_ID.exec(head.toString('utf8'))?.[1];
  if (id === undefined) return null;
  try {
    JSON.parse(id); // an escape JSON does not know would make the answer unreadable
    return id;
  } catch {
    return null;
  }
}

/** The line for the SDK (its ids marked where needed), or null when it was blank or refused. */
function markLine(line: Buffer, refuse: RefuseLine): Buffer | null {
  const text = line.toString('utf8');
  if (text.trim() === '') return null;
  let message: unknown;
  try {
    message = JSON.parse(text);
  } catch {
    refuse(errorLine(null, PARSE_ERROR, 'Parse error: the line is not valid JSON.'), PARSE_ERROR);
    return null;
  }
  const isMarked = markExactIds(text, message);
  try {
    parseJSONRPCMessage(message);
  } catch {
    refuse(errorLine(usableId(message), INVALID_REQUEST, 'Invalid Request: the line is not a JSON-RPC 2.0 message (a request, notification or response).'), INVALID_REQUEST);
    return null;
  }
  return isMarked ? Buffer.from(`${JSON.stringify(message)}\n`) : line;
}

/** The id of a refused message when it has one a client can match (a string or number; a marked one is restored on the way out). */
function usableId(message: unknown): string | number | null {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return null;
  const { id } = message as { id?: unknown };
  return typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null;
}

function errorLine(id: string | number | null, code: number, message: string): string {
  return `${JSON.stringify({ jsonrpc: '2.0', id, error: { code, message } })}\n`;
}

/** SDK → stdout: every marker written back as the number the client sent (the SDK writes whole messages). */
export function restoringExactIds(): Transform {
  return new Transform({
    transform(chunk: Buffer | string, _encoding, callback) {
      const text = typeof chunk === 'string' ? chunk : chunk.toString('utf8');
      callback(null, restoreExactIds(text));
    },
  });
}
