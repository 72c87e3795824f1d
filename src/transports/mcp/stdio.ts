/**
 * MCP over stdio (`persona-mcp mcp`): the SDK's `serveStdio` entry picks the revision from the client's
 * opening message (a 2026-07-28 `server/discover` or request envelope, or the 2025-11-25 `initialize`
 * handshake) and pins one server instance to the connection. The connection is one client, so it has
 * one session: `persona_switch` sticks for the life of the process, and conversation ids work across
 * restarts.
 */
import { STDIO_DEFAULT_MAX_BUFFER_SIZE } from '@modelcontextprotocol/server';
import { serveStdio, StdioServerTransport } from '@modelcontextprotocol/server/stdio';
import type { SessionBinding } from '../../rpc/registry.js';
import { newSessionId } from '../../services/session-service.js';
import { markingExactIdLines, restoringExactIds } from './exact-ids-stdio.js';
import { fixedBinding, PersonaMcpEndpoint, type McpDependencies } from './server.js';

export interface McpStdioServer {
  /** The session every request of this connection acts for. */
  sessionId: string;
  close(): Promise<void>;
}

export interface McpStdioOptions {
  /** A longer line is answered -32020 `request_too_large` and not read (`limits.maxFrameBytes`, as a WebSocket frame). */
  maxLineBytes: number;
}

export function serveMcpOverStdio(core: McpDependencies, { maxLineBytes }: McpStdioOptions): McpStdioServer {
  const endpoint = new PersonaMcpEndpoint(core);
  // The process runs as the local user, like an unauthenticated local WebSocket client.
  const binding: SessionBinding = { id: newSessionId(), userId: null, role: 'admin' };
  const logger = core.logger.child({ transport: 'mcp-stdio', session: binding.id });
  // Request ids are echoed exactly (exact-ids-stdio.ts): lines pass through a marking stage on the way
  // in and a restoring one on the way out.
  const output = restoringExactIds();
  output.pipe(process.stdout);
  // A line that is no JSON-RPC message is answered here (-32700, -32600); the SDK would drop it unanswered.
  const refuse = (response: string, code: number): void => {
    output.write(response);
    logger.warn({ code }, 'answered an MCP stdio line that is not a JSON-RPC message with an error');
  };
  // The SDK gets whole lines of at most maxLineBytes; its own buffer (10 MB unless told) must hold one, and an
  // unfinished one left at the end of input, whatever limit is configured.
  const transport = new StdioServerTransport(process.stdin.pipe(markingExactIdLines(refuse, maxLineBytes)), output, {
    maxBufferSize: Math.max(STDIO_DEFAULT_MAX_BUFFER_SIZE, 2 * maxLineBytes + 2),
  });
  const handle = serveStdio(
    ({ era }) => {
      logger.info({ era }, 'MCP client connected');
      return endpoint.createServer({ era, bindingFor: fixedBinding(binding), isLive: true });
    },
    {
      transport,
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
