/**
 * MCP over stdio (`persona-mcp mcp`): the SDK's `serveStdio` entry picks the revision from the client's
 * opening message (a 2026-07-28 `server/discover` or request envelope, or the 2025-11-25 `initialize`
 * handshake) and pins one server instance to the connection. The connection is one client, so it has
 * one session: `persona_switch` sticks for the life of the process, and conversation ids work across
 * restarts.
 */
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import type { SessionBinding } from '../../rpc/registry.js';
import { newSessionId } from '../../services/session-service.js';
import { fixedBinding, PersonaMcpEndpoint, type McpDependencies } from './server.js';

export interface McpStdioServer {
  /** The session every request of this connection acts for. */
  sessionId: string;
  close(): Promise<void>;
}

export function serveMcpOverStdio(core: McpDependencies): McpStdioServer {
  const endpoint = new PersonaMcpEndpoint(core);
  // The process runs as the local user, like an unauthenticated local WebSocket client.
  const binding: SessionBinding = { id: newSessionId(), userId: null, role: 'admin' };
  const logger = core.logger.child({ transport: 'mcp-stdio', session: binding.id });
  const handle = serveStdio(
    ({ era }) => {
      logger.info({ era }, 'MCP client connected');
      return endpoint.createServer({ era, bindingFor: fixedBinding(binding), isLive: true });
    },
    {
      onerror: (error) => logger.warn({ err: error }, 'MCP stdio error'),
    },
  );
  return {
    sessionId: binding.id,
    async close() {
      await handle.close();
      endpoint.close();
    },
  };
}
