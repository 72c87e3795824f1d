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
 */
import { Transform } from 'node:stream';
import { parseJSONRPCMessage } from '@modelcontextprotocol/server';
import { markExactIds, restoreExactIds } from '../../rpc/exact-ids.js';
import { INVALID_REQUEST, PARSE_ERROR } from '../../rpc/error-codes.js';

/** Answers a line that is no JSON-RPC message: the error response (a whole line) and its code. */
export type RefuseLine = (response: string, code: number) => void;

/**
 * Longest line rewritten. A longer one is passed on as it came (the SDK's own 10 MB buffer limit then
 * applies), so this stage never holds more than this much of an unfinished line.
 */
export const MAX_MARKED_LINE_BYTES = 4 * 1024 * 1024;

/** stdin → SDK: each line whose ids need it, with those ids marked; a line that is no JSON-RPC message answered through `refuse` instead. */
export function markingExactIdLines(refuse: RefuseLine, maxLineBytes = MAX_MARKED_LINE_BYTES): Transform {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  /** Inside a line too long to rewrite: its bytes go straight through up to its newline. */
  let isPassingThrough = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      let start = 0;
      for (let newline = chunk.indexOf(0x0a); newline !== -1; newline = chunk.indexOf(0x0a, start)) {
        const piece = chunk.subarray(start, newline + 1);
        if (isPassingThrough) {
          this.push(piece);
          isPassingThrough = false;
        } else {
          const line = markLine(Buffer.concat([...pending, piece]), refuse);
          if (line !== null) this.push(line);
        }
        pending = [];
        pendingBytes = 0;
        start = newline + 1;
      }
      const rest = chunk.subarray(start);
      if (rest.length > 0) {
        if (isPassingThrough) this.push(rest);
        else if (pendingBytes + rest.length > maxLineBytes) {
          for (const part of pending) this.push(part);
          this.push(rest);
          pending = [];
          pendingBytes = 0;
          isPassingThrough = true;
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
