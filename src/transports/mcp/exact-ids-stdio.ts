/**
 * MCP over stdio with request ids echoed exactly, as over WebSocket and HTTP (`src/rpc/exact-ids.ts`):
 * the SDK's stdio transport parses each line with `JSON.parse`, so `9007199254740993` would come back as
 * `9007199254740992`. Lines on the way in have such ids turned into marker strings; what the SDK writes
 * on the way out has them turned back into the client's numbers.
 */
import { Transform } from 'node:stream';
import { markExactIds, restoreExactIds } from '../../rpc/exact-ids.js';

/**
 * Longest line rewritten. A longer one is passed on as it came (the SDK's own 10 MB buffer limit then
 * applies), so this stage never holds more than this much of an unfinished line.
 */
export const MAX_MARKED_LINE_BYTES = 4 * 1024 * 1024;

/** stdin → SDK: each line whose ids need it, with those ids marked. */
export function markingExactIdLines(maxLineBytes = MAX_MARKED_LINE_BYTES): Transform {
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
          const line = Buffer.concat([...pending, piece]);
          this.push(markLine(line));
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

function markLine(line: Buffer): Buffer {
  const text = line.toString('utf8');
  try {
    const message: unknown = JSON.parse(text);
    return markExactIds(text, message) ? Buffer.from(`${JSON.stringify(message)}\n`) : line;
  } catch {
    return line; // not JSON: the SDK reports it
  }
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
