/** A WebSocket transport on its own, for tests that drive one directly: small limits, every caller the local user. */
import type { Logger } from 'pino';
import type { JsonRpcEngine } from '../../src/rpc/jsonrpc.js';
import { LOCAL_CALLER } from '../../src/services/auth-service.js';
import { ServerStats } from '../../src/services/system-service.js';
import { WebSocketTransport } from '../../src/transports/websocket.js';

export function standaloneTransport(engine: JsonRpcEngine, logger: Logger, shutdownSignal: AbortSignal): WebSocketTransport {
  return new WebSocketTransport({
    engine,
    logger,
    stats: new ServerStats(),
    maxFrameBytes: 1 << 20,
    shutdownSignal,
    maxConnections: 10,
    maxConnectionsPerIp: 10,
    maxConnectionsPerUser: 10,
    rateLimit: { ratePerSecond: 1000, burst: 1000 },
    authenticate: async () => LOCAL_CALLER,
    claimSession: async () => true,
    isKeyRevoked: () => false,
  });
}
