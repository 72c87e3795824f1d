import { z } from 'zod';
import type { Services } from '../../services/index.js';
import { buildOpenRpcDocument } from '../openrpc.js';
import { defineMethod, MethodRegistry, type MethodDefinition } from '../registry.js';
import { cardMethods } from './card.js';
import { chatMethods } from './chat.js';
import { configMethods } from './config.js';
import { conversationMethods } from './conversation.js';
import { conversationFeedMethods } from './conversation-feed.js';
import { conversationGroupMethods } from './conversation-group.js';
import { conversationThreadMethods } from './conversation-threads.js';
import { emotionalMethods } from './emotional.js';
import { memoryMethods } from './memory.js';
import { mediaMethods } from './media.js';
import { personaMethods } from './persona.js';
import { personaKnowledgeMethods } from './persona-knowledge.js';
import { relationshipMethods } from './relationship.js';
import { sessionMethods } from './session.js';
import { personaModelMethods } from './persona-models.js';
import { stateMethods } from './state.js';
import { SERVER_VERSION, systemMethods } from './system.js';

/** Every RPC method of the server, in one registry. */
export function buildRegistry(services: Services): MethodRegistry {
  const registry = new MethodRegistry([
    ...personaMethods(services),
    ...chatMethods(services),
    ...personaKnowledgeMethods(services),
    ...personaModelMethods(services),
    ...memoryMethods(services),
    ...conversationMethods(services),
    ...sessionMethods(services),
    ...conversationFeedMethods(services),
    ...conversationGroupMethods(services),
    ...conversationThreadMethods(services),
    ...relationshipMethods(services),
    ...emotionalMethods(services),
    ...systemMethods(services),
    ...stateMethods(services),
    ...cardMethods(services),
    ...configMethods(services),
    ...mediaMethods(services),
  ]);
  registry.add(discoverMethod(registry));
  return registry;
}

function discoverMethod(registry: MethodRegistry): MethodDefinition {
  let cached: Record<string, unknown> | null = null;
  return defineMethod({
    name: 'rpc.discover',
    requires: 'user',
    summary: 'The OpenRPC document describing every method, its params and its result.',
    params: z.object({}),
    result: z.record(z.string(), z.unknown()),
    hints: { readOnly: true, idempotent: true },
    exposeAsTool: false,
    handler: async () => (cached ??= buildOpenRpcDocument(registry, SERVER_VERSION)),
  });
}
