/**
 * The start-up warm-up's loopback listener (`WebSocketTransport.warmUp`) serves its sessions without
 * authentication, so it must serve only the warm-up's own connections: those that carry its key.
 */
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { silentLogger } from '../../src/logger.js';
import { JsonRpcEngine } from '../../src/rpc/jsonrpc.js';
import { MethodRegistry } from '../../src/rpc/registry.js';
import { standaloneTransport } from '../helpers/transport.js';

const shutdown = new AbortController();
const transport = standaloneTransport(new JsonRpcEngine(new MethodRegistry([]), { logger: silentLogger(), validateResults: true, maxBatchSize: 10 }), silentLogger(), shutdown.signal);

afterAll(async () => {
  shutdown.abort();
  await transport.close(100);
});

/** Whether a WebSocket to `url` opens (true) or is refused (false). */
function opens(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new WebSocket(url);
    socket.once('open', () => {
      socket.terminate();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('the warm-up listener', () => {
  it('opens WebSockets that carry its key and cuts off those without it or with another', async () => {
    const seen = await transport.warmUp(async (url) => {
      const withKey = new URL(url);
      const withoutKey = new URL(url);
      withoutKey.search = '';
      const otherKey = new URL(url);
      otherKey.searchParams.set([...withKey.searchParams.keys()][0]!, 'guessed');
      return { withKey: await opens(withKey.href), withoutKey: await opens(withoutKey.href), otherKey: await opens(otherKey.href) };
    });
    expect(seen).toEqual({ withKey: true, withoutKey: false, otherKey: false });
  });
});
