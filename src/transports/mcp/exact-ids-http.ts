/**
 * MCP over HTTP with request ids echoed exactly, as the WebSocket API does (`src/rpc/exact-ids.ts`). The
 * SDK parses bodies with `JSON.parse`, so an id of `9007199254740993` would come back as
 * `9007199254740992` (and `1.50` as `1.5`), and the client would never match its answer. A POST whose
 * ids a double does not hold exactly is handed on with each such id as a marker string (an id the SDK
 * echoes as it is); the response — JSON or an SSE stream — has the markers written back as the bare
 * numbers the client sent. Other requests pass through untouched.
 */
import { APPLICATION_ERRORS } from '../../rpc/error-codes.js';
import { markExactIds, restoreExactIds } from '../../rpc/exact-ids.js';

export type ExactIdRequest =
  | { kind: 'request'; request: Request; restore: (response: Response) => Response }
  /** Answered here: a body over the size limit, or one too deeply nested to hand on. */
  | { kind: 'answered'; response: Response };

const unchanged = (response: Response): Response => response;

/**
 * Reads a POST body (at most `maxBytes`, `limits.maxFrameBytes` as for a WebSocket frame) and returns the
 * request to hand on plus the step that restores exact ids in its response; a bigger body is answered
 * HTTP 413 with the JSON-RPC error a frame over the limit gets (`request_too_large`).
 */
export async function withExactIds(request: Request, maxBytes: number): Promise<ExactIdRequest> {
  if (request.method !== 'POST' || request.body === null) return { kind: 'request', request, restore: unchanged };
  const declared = Number(request.headers.get('content-length'));
  const text = declared > maxBytes ? null : await readText(request.body, maxBytes);
  if (text === null) {
    return {
      kind: 'answered',
      // The rest of the body is left unread, so the connection cannot carry another request.
      response: Response.json(
        {
          jsonrpc: '2.0',
          id: null,
          error: {
            code: APPLICATION_ERRORS.request_too_large.code,
            message: `Request too large: the body is over ${maxBytes} bytes (limits.maxFrameBytes).`,
            data: { kind: 'request_too_large', limit: maxBytes },
          },
        },
        { status: 413, headers: { connection: 'close' } },
      ),
    };
  }
  let body = text;
  let restore = unchanged;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined; // not JSON: the SDK answers it with its parse error
  }
  if (parsed !== undefined && markExactIds(text, parsed)) {
    try {
      body = JSON.stringify(parsed);
      restore = restoreInBody;
    } catch {
      // Nested too deeply to write out again (thousands of levels): no tool takes such arguments.
      const id = Array.isArray(parsed) ? null : ((parsed as { id?: unknown } | null)?.id ?? null);
      const error = { code: -32600, message: 'Invalid Request: the message nests thousands of levels deep; send flatter data.' };
      return { kind: 'answered', response: new Response(restoreExactIds(JSON.stringify({ jsonrpc: '2.0', id, error })), { status: 400, headers: { 'content-type': 'application/json' } }) };
    }
  }
  const headers = new Headers(request.headers);
  headers.delete('content-length');
  return { kind: 'request', request: new Request(request.url, { method: 'POST', headers, body, signal: request.signal }), restore };
}

/** The response with every marker written back as the client's number; chunks stay as the SDK sent them. */
function restoreInBody(response: Response): Response {
  if (response.body === null) return response;
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  const body = response.body
    .pipeThrough(new TextDecoderStream())
    .pipeThrough(
      new TransformStream<string, string>({
        // The SDK writes each message (or SSE event) as one chunk, so a marker is never split.
        transform: (chunk, controller) => controller.enqueue(restoreExactIds(chunk)),
      }),
    )
    .pipeThrough(new TextEncoderStream());
  return new Response(body, { status: response.status, statusText: response.statusText, headers });
}

async function readText(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<string | null> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let received = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    received += value.byteLength;
    if (received > maxBytes) {
      await reader.cancel().catch(() => undefined);
      return null;
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
