/**
 * MCP resources: each persona's card (`persona://{personaId}`) and conversation transcripts
 * (`persona://{personaId}/conversations/{conversationId}`), both as resource templates. Cards are
 * listed; transcripts are reached through the conversation ids that tools return.
 */
import {
  ResourceNotFoundError,
  ResourceTemplate,
  type McpServer,
  type ReadResourceResult,
  type Variables,
} from '@modelcontextprotocol/server';
import type { Logger } from 'pino';
import { isAppError } from '../../domain/errors.js';
import type { PersonaRecord } from '../../ports/store.js';
import { messageToWire } from '../../rpc/methods/wire.js';
import type { MethodContext, MethodRegistry, SessionBinding } from '../../rpc/registry.js';
import type { Services } from '../../services/index.js';

export const PERSONA_URI_TEMPLATE = 'persona://{personaId}';
export const TRANSCRIPT_URI_TEMPLATE = 'persona://{personaId}/conversations/{conversationId}';

/** Messages in a transcript resource: the newest ones, enough for any host's context window. */
const TRANSCRIPT_MESSAGES = 200;

export function personaUri(personaId: string): string {
  return `persona://${personaId}`;
}

export function transcriptUri(personaId: string, conversationId: string): string {
  return `persona://${personaId}/conversations/${conversationId}`;
}

const TRANSCRIPT_URI = /^persona:\/\/[^/]+\/conversations\/([^/]+)$/;

/**
 * Whether the caller may follow a resource's changes: a transcript only when its conversation is theirs
 * (as `resources/read` decides), anything else (persona cards) always. A subscription to another user's
 * transcript would tell when they chat.
 */
export async function mayFollowResource(
  conversations: Pick<Services['conversations'], 'accessible'>,
  bindingFor: (args: Record<string, unknown>) => Promise<SessionBinding>,
  uri: string,
): Promise<boolean> {
  const conversationId = TRANSCRIPT_URI.exec(uri)?.[1];
  if (conversationId === undefined) return true;
  try {
    await conversations.accessible(await bindingFor({ conversation_id: conversationId }), conversationId);
    return true;
  } catch (error) {
    if (isAppError(error)) return false;
    throw error;
  }
}

export interface ResourceRegistrationOptions {
  services: Pick<Services, 'personas' | 'conversations'>;
  registry: MethodRegistry;
  bindingFor: (args: Record<string, unknown>) => Promise<SessionBinding>;
  logger: Logger;
}

export function registerResources(server: McpServer, options: ResourceRegistrationOptions): void {
  const { services } = options;
  const completePersonaId = (value: string): string[] =>
    services.personas
      .list()
      .map((persona) => persona.id)
      .filter((id) => id.startsWith(value.toLowerCase()));

  server.registerResource(
    'persona-card',
    new ResourceTemplate(PERSONA_URI_TEMPLATE, {
      list: async () => ({ resources: services.personas.list().map(cardListing) }),
      complete: { personaId: completePersonaId },
    }),
    {
      title: 'Persona card',
      description: "A persona's character card: who it is, how it speaks, what it likes (markdown and JSON).",
      mimeType: 'text/markdown',
    },
    async (uri, variables) => readCard(uri, variables, options),
  );

  server.registerResource(
    'conversation-transcript',
    new ResourceTemplate(TRANSCRIPT_URI_TEMPLATE, { list: undefined, complete: { personaId: completePersonaId } }),
    {
      title: 'Conversation transcript',
      description:
        'The messages of a conversation with a persona (the newest 200), as markdown and JSON. Conversation ids come from persona_chat and conversation_start.',
      mimeType: 'text/markdown',
    },
    async (uri, variables) => readTranscript(uri, variables, options),
  );
}

function cardListing(persona: PersonaRecord): { uri: string; name: string; title: string; description: string; mimeType: string } {
  return {
    uri: personaUri(persona.id),
    name: persona.id,
    title: `${persona.name} — persona card`,
    description: persona.description,
    mimeType: 'text/markdown',
  };
}

function variable(variables: Variables, name: string): string {
  const value = variables[name];
  return decodeURIComponent(Array.isArray(value) ? (value[0] ?? '') : (value ?? ''));
}

function findPersona(services: Pick<Services, 'personas'>, uri: URL, id: string): PersonaRecord {
  try {
    return services.personas.resolve(id);
  } catch (error) {
    if (isAppError(error)) throw new ResourceNotFoundError(uri.href, `${error.message} Read the resource list for the persona cards.`);
    throw error;
  }
}

async function readCard(uri: URL, variables: Variables, options: ResourceRegistrationOptions): Promise<ReadResourceResult> {
  const persona = findPersona(options.services, uri, variable(variables, 'personaId'));
  // The JSON form is exactly what `persona.get` returns: one declaration of the card's wire shape.
  const getMethod = options.registry.get('persona.get');
  const card =
    getMethod === undefined
      ? null
      : await getMethod.handler({ persona_id: persona.id }, internalContext(await options.bindingFor({}), options.logger));
  return {
    contents: [
      { uri: uri.href, mimeType: 'text/markdown', text: cardMarkdown(persona) },
      ...(card === null ? [] : [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify(card, null, 2) }]),
    ],
  };
}

async function readTranscript(uri: URL, variables: Variables, options: ResourceRegistrationOptions): Promise<ReadResourceResult> {
  const { services } = options;
  const persona = findPersona(services, uri, variable(variables, 'personaId'));
  const conversationId = variable(variables, 'conversationId');
  let conversation;
  try {
    conversation = await services.conversations.accessible(await options.bindingFor({ conversation_id: conversationId }), conversationId);
  } catch (error) {
    if (isAppError(error)) throw new ResourceNotFoundError(uri.href, error.message);
    throw error;
  }
  if (!conversation.personaIds.includes(persona.id)) {
    throw new ResourceNotFoundError(
      uri.href,
      `${persona.name} does not take part in conversation "${conversationId}"; it is with ${conversation.personaIds.join(', ')}.`,
    );
  }
  const page = await services.conversations.historyPage(conversation.id, TRANSCRIPT_MESSAGES);
  const messages = [...page.messages].reverse();
  const names = new Map(services.personas.list().map((known) => [known.id, known.name]));
  const markdown = [
    `# Conversation ${conversation.id}`,
    `With ${conversation.personaIds.map((id) => names.get(id) ?? id).join(', ')} — ${conversation.status}, started ${new Date(conversation.startedAt).toISOString()}.`,
    ...(conversation.topic ? [`Topic: ${conversation.topic}`] : []),
    ...(conversation.context ? [`Context: ${conversation.context}`] : []),
    ...(page.nextBeforeId !== null
      ? [`(Only the newest ${TRANSCRIPT_MESSAGES} messages; older ones: the conversation_history tool.)`]
      : []),
    '',
    ...messages.map(
      (message) =>
        `**${message.role === 'user' ? 'You' : (names.get(message.personaId ?? '') ?? message.personaId ?? message.role)}:** ${message.content}`,
    ),
  ].join('\n\n');
  const json = {
    conversation_id: conversation.id,
    participants: conversation.personaIds,
    status: conversation.status,
    messages: messages.map(messageToWire),
  };
  return {
    contents: [
      { uri: uri.href, mimeType: 'text/markdown', text: markdown },
      { uri: uri.href, mimeType: 'application/json', text: JSON.stringify(json, null, 2) },
    ],
  };
}

export function cardMarkdown(persona: PersonaRecord): string {
  const list = (values: Record<string, number>): string =>
    Object.entries(values)
      .sort(([, a], [, b]) => b - a)
      .map(([name, value]) => `- ${name}: ${value}/100`)
      .join('\n');
  const sections = [
    `# ${persona.name}`,
    persona.description,
    persona.backstory ? `## Story\n\n${persona.backstory}` : '',
    Object.keys(persona.personalityTraits).length > 0 ? `## Personality\n\n${list(persona.personalityTraits)}` : '',
    persona.speakingStyle ? `## How ${persona.name} speaks\n\n${persona.speakingStyle}` : '',
    Object.keys(persona.topicPreferences).length > 0 ? `## Topics\n\n${list(persona.topicPreferences)}` : '',
    persona.exampleLines.length > 0 ? `## Example lines\n\n${persona.exampleLines.map((line) => `> ${line}`).join('\n\n')}` : '',
    `Talk with ${persona.name}: the \`persona_chat\` tool with \`persona_id: "${persona.id}"\`, or the \`talk-with-${persona.id}\` prompt to role-play with your own model.`,
  ];
  return sections.filter((section) => section.length > 0).join('\n\n');
}

/** A context for calling a registry method from inside the MCP layer (nothing streams, nothing is sent). */
export function internalContext(
  session: SessionBinding,
  logger: Logger,
  signal: AbortSignal = new AbortController().signal,
): MethodContext {
  return {
    session,
    requestId: undefined,
    signal,
    transport: 'internal',
    logger,
    notify: () => undefined,
    sendPartialResult: () => undefined,
    attachSession: () => undefined,
  };
}
