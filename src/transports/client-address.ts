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
  const trust = compileTrust(trustedProxies);
  return (request) => (request.socket.remoteAddress === undefined ? 'unknown' : proxyaddr(request, trust));
}

/** Whether a request comes straight from one of `trustedProxies` (whose `X-Forwarded-*` headers are believed). */
export function isFromTrustedProxyOf(trustedProxies: readonly string[]): (request: IncomingMessage) => boolean {
  if (trustedProxies.length === 0) return () => false;
  const trust = compileTrust(trustedProxies);
  return (request) => request.socket.remoteAddress !== undefined && trust(request.socket.remoteAddress, 0);
}

function compileTrust(trustedProxies: readonly string[]): (address: string, hop: number) => boolean {
  try {
    return proxyaddr.compile([...trustedProxies]);
  } catch (error) {
    throw new Error(`http.trustedProxies: ${(error as Error).message}; list addresses, CIDR ranges (10.0.0.0/8) or loopback, linklocal, uniquelocal.`, { cause: error });
  }
}
