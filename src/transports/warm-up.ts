/**
 * The start-up warm-up: before the server listens it sends a few thousand read-only requests to itself
 * over loopback WebSockets, answered by the WebSocket transport as any client's (`WebSocketTransport.warmUp`:
 * the upgrade, `ws` framing, Node's sockets, frame parsing, the token bucket, dispatch through the
 * JSON-RPC engine to the handlers, the answer's bytes and corked write), so that V8 has compiled the
 * request path before the first client arrives. Cold, that path cost a freshly started server 160–290 µs
 * of CPU a request against ~35 warm, and the open loop's first 2 s after start-up a p99 of 305 ms against
 * echo's 28.5 (bench/README.md, rounds 7 and 8); warming only the engine in process and a bare `ws` pair
 * left the transport's own code cold (round 10).
 *
 * Only methods that change nothing are sent, on sessions minted for the purpose (never stored), and the
 * caller keeps them out of the metrics, the request log and the request counters.
 */
import { once } from 'node:events';
import { WebSocket } from 'ws';

/** Frames as clients send them: the read-only calls of the open loop, and the common refusals. */
function framesFor(personaIds: readonly string[]): string[] {
  const frames = [`{"jsonrpc":"2.0","id":ID,"method":"persona.list"}`];
  for (const id of personaIds) frames.push(`{"jsonrpc":"2.0","id":ID,"method":"persona.status","params":{"persona_id":${JSON.stringify(id)}}}`);
  frames.push(`{"jsonrpc":"2.0","id":"s-ID","method":"persona.status"}`);
  frames.push(`{"jsonrpc":"2.0","id":ID,"method":"no.such.method"}`);
  frames.push(`{"jsonrpc":"2.0","id":ID,"method":"persona.status","params":{"persona_id":7}}`);
  frames.push(`[{"jsonrpc":"2.0","id":ID,"method":"persona.list"},{"jsonrpc":"2.0","id":"b-ID","method":"persona.list"}]`);
  frames.push(`{"jsonrpc":"2.0","id":ID,"method":`);
  return frames;
}

/** Connections the warm-up over WebSockets opens at once, each sending its next frame when answered. */
const WARM_UP_CONNECTIONS = 32;
/** Frames each warm-up connection has in flight: a few, so most socket reads still bring one frame. */
const FRAMES_IN_FLIGHT = 4;
/** The warm-up over WebSockets gives up on answers missing this long (start-up must not hang on it). */
const WARM_UP_GIVE_UP_MS = 10_000;

export interface WarmUpOverWebSocketsOptions {
  /** Persona ids to ask `persona.status` about. */
  personaIds: readonly string[];
  /** Frames to send in all (fewer when the connections' burst does not allow them). */
  requests: number;
  /** Each connection's burst (`limits.rateLimitBurst`): a warm-up connection stays within it, never refused. */
  burst: number;
}

/**
 * Sends the warm-up's frames (`framesFor`) to `url` (the transport's warm-up listener,
 * `WebSocketTransport.warmUp`) on `WARM_UP_CONNECTIONS` connections, one frame in flight on each, as
 * clients polling at a steady rate send them: every frame a socket read and an answer a write of its own.
 * Resolves with how many frames were answered.
 */
export async function warmUpOverWebSockets(url: string, options: WarmUpOverWebSocketsOptions): Promise<number> {
  const frames = framesFor(options.personaIds);
  // A batch costs two tokens: half the burst keeps every frame within it.
  const perConnection = Math.min(Math.ceil(options.requests / WARM_UP_CONNECTIONS), Math.floor(options.burst / 2));
  if (perConnection === 0) return 0;
  const clients: WebSocket[] = [];
  let taken = 0;
  let giveUp: NodeJS.Timeout | undefined;
  try {
    const answered = await Promise.race([
      Promise.all(
        Array.from({ length: WARM_UP_CONNECTIONS }, async () => {
          const client = new WebSocket(url, { perMessageDeflate: false });
          clients.push(client);
          await once(client, 'open');
          return await new Promise<number>((resolve, reject) => {
            let sent = 0;
            const sendNext = (): void => {
              if (sent === perConnection || taken === options.requests) return;
              const index = taken++;
              client.send(frames[index % frames.length]!.replaceAll('ID', String(index)));
              sent += 1;
            };
            let answered = 0;
            client.on('message', () => {
              answered += 1;
              sendNext();
              if (answered === sent) resolve(sent);
            });
            client.once('close', () => reject(new Error('a warm-up connection closed')));
            for (let window = 0; window < FRAMES_IN_FLIGHT; window += 1) sendNext();
            // The other connections took all the frames.
            if (sent === 0) resolve(0);
          });
        }),
      ),
      new Promise<number[]>((resolve) => {
        giveUp = setTimeout(() => resolve([]), WARM_UP_GIVE_UP_MS);
      }),
    ]);
    return answered.reduce((total, count) => total + count, 0);
  } finally {
    clearTimeout(giveUp);
    for (const client of clients) client.terminate();
  }
}
