/**
 * Backpressure for HTTP: a request refused for its rate (429) holds its keep-alive connection, that is
 * its socket is not read until `Retry-After` has passed. A client sending request after request on one
 * connection (as `fetch` and most HTTP clients do) then costs one refusal per wait rather than one per
 * request; the WebSocket transport does the same with `InputGate`. Node's HTTP server answers pipelined
 * requests one at a time per socket and stops reading while answers queue, so the work one connection
 * can have waiting is already bounded there.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../ports/clock.js';

/**
 * Stops reading the request's connection, once its answer has been written, until `ms` have passed by
 * the clock (the clock port, so that a test's clock decides when the wait ends).
 */
export function holdConnection(request: IncomingMessage, response: ServerResponse, ms: number, clock: Clock): void {
  if (!Number.isFinite(ms) || ms <= 0) return;
  const { socket } = request;
  const until = clock.now() + ms;
  const hold = (): void => {
    if (socket.destroyed) return;
    socket.pause();
    let timer: NodeJS.Timeout;
    const forget = (): void => clearTimeout(timer);
    const check = (): void => {
      if (socket.destroyed) return;
      const remaining = until - clock.now();
      if (remaining > 0) {
        timer = setTimeout(check, Math.min(remaining, ms));
        return;
      }
      socket.off('close', forget);
      socket.resume();
    };
    timer = setTimeout(check, ms);
    socket.once('close', forget);
  };
  // After the answer, and after Node's HTTP server has read and dropped a body the route left unread:
  // both resume the socket (the drop on the next tick), which would undo the pause.
  response.once('finish', () => {
    if (request.complete) setImmediate(hold);
    else request.once('end', () => setImmediate(hold));
  });
}
