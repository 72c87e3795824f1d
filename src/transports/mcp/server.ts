/**
 * Builds the MCP server — tools from the method registry, persona resources and prompts — for every
 * transport and both protocol revisions: one definition, handed to the SDK's serving entries as a
 * factory (`serveStdio` once per connection, `createMcpHandler` once per 2026-07-28 HTTP request, and
 * once per 2025-11-25 HTTP session).
 */
import { McpServer, ResourceNotFoundError, type ClientCapabilities } from '@modelcontextprotocol/server';
import type { Config } from '../../config/schema.js';
import type { Logger } from 'pino';
import type { EventBus } from '../../ports/events.js';
import type { HostModelPort } from '../../ports/host-model.js';
import { SERVER_VERSION } from '../../rpc/methods/system.js';
import type { JsonRpcEngine } from '../../rpc/jsonrpc.js';
import type { MethodRegistry, SessionBinding } from '../../rpc/registry.js';
import type { ConversationFeed } from '../../services/conversation-feed.js';
import type { Services } from '../../services/index.js';
import { newSessionId } from '../../services/session-service.js';
import { HostTurns } from './host-turns.js';
import { PersonaPrompts } from './prompts.js';
import { mayFollowResource, registerResources, transcriptUri } from './resources.js';
import { methodsOfProfiles } from './tool-profiles.js';
import { registerTools } from './tools.js';

export const MCP_SERVER_NAME = 'persona-mcp';

const INSTRUCTIONS = [
  'persona-mcp hosts characters (personas) you can talk with, such as Aria the elven bard and Kira the scholar.',
  'Call persona_list to see them. Talk with persona_chat {"persona_id": "aria", "message": "..."}; its result carries a',
  'conversation_id: pass it on the next persona_chat to continue the same conversation (the persona remembers it).',
  'Persona cards and transcripts are resources (persona://aria, persona://aria/conversations/ID); the talk-with-<persona>',
  'prompts let you role-play a persona with your own model.',
].join(' ');

export interface McpServerSetup {
  era: 'legacy' | 'modern';
  /** The session a request acts for; see the binding helpers below. */
  bindingFor: (args: Record<string, unknown>) => Promise<SessionBinding>;
  /**
   * A long-lived instance (a stdio connection, a 2025-11-25 HTTP session) sends change notifications
   * itself. Per-request instances do not: the HTTP transport publishes changes to listen streams.
   */
  isLive: boolean;
}

/** What the MCP server needs of the running server: the registry and services it exposes, and no more. */
export interface McpDependencies {
  logger: Logger;
  registry: MethodRegistry;
  /** The access check of each method's `requires`, the same as for WebSocket requests. */
  engine: Pick<JsonRpcEngine, 'authorize'>;
  /** Personas (resources, prompts), conversations (transcripts, notifications) and the turn pipeline's prompt builder. */
  services: Pick<Services, 'personas' | 'conversations' | 'turns'>;
  events: EventBus;
  /** Aborted on shutdown. */
  shutdownSignal: AbortSignal;
  /** Lends the host's model to chat turns (`llm.provider` `host` and `auto`). */
  hostModel: HostModelPort;
  /** Conversation updates: a new message updates the transcript resources of its participants. */
  feed: Pick<ConversationFeed, 'subscribe'>;
  /** The tool profiles and output-schema switch of `mcp` in the configuration. */
  config: { mcp: Pick<Config['mcp'], 'tools' | 'outputSchemas'> };
}

/** The MCP face of one running server; shared by all server instances of the process. */
export class PersonaMcpEndpoint {
  readonly hostTurns: HostTurns;
  /** The tools hosts see (`mcp.tools`); null for every tool. */
  private readonly profileMethods: ReadonlySet<string> | null;

  constructor(readonly core: McpDependencies) {
    this.hostTurns = new HostTurns(core.hostModel, core.events);
    this.profileMethods = methodsOfProfiles(core.config.mcp.tools);
  }

  createServer(setup: McpServerSetup): McpServer {
    const { core } = this;
    const logger = core.logger.child({ transport: 'mcp', era: setup.era });
    const server = new McpServer(
      { name: MCP_SERVER_NAME, title: 'Persona MCP', version: SERVER_VERSION },
      {
        capabilities: {
          tools: { listChanged: false },
          // `subscribe`: `resources/subscribe` under 2025-11-25, `resourceSubscriptions` of listen streams under 2026-07-28.
          resources: { listChanged: true, subscribe: true },
          prompts: { listChanged: true },
        },
        instructions: INSTRUCTIONS,
        // The tool list only changes with a new server version, so 2026-07-28 clients may cache it; the
        // persona-dependent lists (resources, prompts) stay uncached and announce their changes.
        cacheHints: { 'tools/list': { ttlMs: 3_600_000, cacheScope: 'public' } },
        requestState: { verify: this.hostTurns.verify },
      },
    );
    const clientCapabilities = (): ClientCapabilities | undefined =>
      setup.era === 'legacy' ? server.server.getClientCapabilities() : undefined;
    registerTools(server, {
      registry: core.registry,
      profileMethods: this.profileMethods,
      outputSchemas: core.config.mcp.outputSchemas,
      bindingFor: setup.bindingFor,
      hostTurns: this.hostTurns,
      clientCapabilities,
      logger,
      shutdownSignal: core.shutdownSignal,
      authorize: (method, args, session) => core.engine.authorize(method, args, session),
    });
    registerResources(server, { services: core.services, registry: core.registry, bindingFor: setup.bindingFor, logger });
    const prompts = new PersonaPrompts(server, { services: core.services, bindingFor: setup.bindingFor });
    if (setup.isLive) this.pushChanges(server, prompts, setup);
    return server;
  }

  /** Sends list-changed and transcript-updated notifications for the life of the instance. */
  private pushChanges(server: McpServer, prompts: PersonaPrompts, { era, bindingFor }: McpServerSetup): void {
    const { core } = this;
    const logger = core.logger.child({ transport: 'mcp' });
    // 2025-11-25 sends `resources/updated` only for subscribed URIs; 2026-07-28 streams filter by what
    // each `subscriptions/listen` asked for (the SDK's stdio entry routes them).
    const subscribed = new Set<string>();
    if (era === 'legacy') {
      server.server.setRequestHandler('resources/subscribe', async (request) => {
        const { uri } = request.params;
        // Another user's transcript is refused as `resources/read` refuses it.
        if (!(await mayFollowResource(core.services.conversations, bindingFor, uri))) throw new ResourceNotFoundError(uri);
        subscribed.add(uri);
        return {};
      });
      server.server.setRequestHandler('resources/unsubscribe', (request) => {
        subscribed.delete(request.params.uri);
        return {};
      });
    }
    const send = (notification: Promise<void>): void => {
      notification.catch((error: unknown) => logger.debug({ err: error }, 'MCP notification not sent'));
    };
    const stopEvents = core.events.subscribe((event) => {
      if (!server.isConnected() || event.type !== 'personaChanged') return;
      prompts.sync();
      send(server.server.sendResourceListChanged());
      send(server.server.sendPromptListChanged());
    });
    const stopFeed = core.feed.subscribe((update) => {
      if (!server.isConnected() || update.kind !== 'turn') return;
      void update.participants().then(
        (personaIds) => {
          for (const personaId of personaIds) {
            const uri = transcriptUri(personaId, update.conversationId);
            if (era === 'modern' || subscribed.has(uri)) send(server.server.sendResourceUpdated({ uri }));
          }
        },
        (error: unknown) => logger.warn({ err: error }, 'transcript notification failed'),
      );
    });
    const unsubscribe = (): void => {
      stopEvents();
      stopFeed();
    };
    const previous = server.server.onclose;
    server.server.onclose = () => {
      unsubscribe();
      previous?.();
    };
  }

  close(): void {
    this.hostTurns.close();
  }
}

/** One session for the whole connection (stdio, a 2025-11-25 HTTP session). */
export function fixedBinding(binding: SessionBinding): () => Promise<SessionBinding> {
  return async () => binding;
}

/**
 * Stateless requests (2026-07-28 over HTTP): a request that names one of the caller's conversations acts
 * in that conversation's session, so the conversation handle carries the continuity; any other request
 * gets a fresh session of its own.
 */
export function conversationBinding(
  conversations: Pick<Services['conversations'], 'sessionOwnedBy'>,
  caller: { userId: string | null; role: 'user' | 'admin' },
): (args: Record<string, unknown>) => Promise<SessionBinding> {
  return async (args) => {
    const conversationId = args.conversation_id;
    if (typeof conversationId === 'string') {
      // Only the caller's own conversations lend their session; anyone else's stays out of reach.
      const sessionId = await conversations.sessionOwnedBy(conversationId, caller.userId);
      if (sessionId !== null) return { id: sessionId, ...caller };
    }
    return { id: newSessionId(), ...caller };
  };
}
