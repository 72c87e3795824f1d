/**
 * The address a request comes from, for limits and logs. Behind a load balancer every request comes
 * from the balancer: when the peer is one of `http.trustedProxies` the client's address is read from
 * `X-Forwarded-For` (the nearest address not itself a trusted proxy; proxy-addr), else the peer's.
 */
import type { IncomingMessage } from 'node:http';
import proxyaddr from 'proxy-addr';

export type ClientAddress = (request: IncomingMessage) => string;

/** `trustedProxies`: addresses, CIDR ranges, or `loopback`, `linklocal`, `uniquelocal`. */
export function clientAddressOf(trustedProxies: readonly string[]): ClientAddress {
  if (trustedProxies.length === 0) return (request) => request.socket.remoteAddress ?? 'unknown';
  let trust: (address: string, hop: number) => boolean;
  try {
    trust = proxyaddr.compile([...trustedProxies]);
  } catch (error) {
    throw new Error(`http.trustedProxies: ${(error as Error).message}; list addresses, CIDR ranges (10.0.0.0/8) or loopback, linklocal, uniquelocal.`, { cause: error });
  }
  return (request) => (request.socket.remoteAddress === undefined ? 'unknown' : proxyaddr(request, trust));
}
