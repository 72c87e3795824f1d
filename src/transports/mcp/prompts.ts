/**
 * MCP prompts: one per persona (`talk-with-aria`), returning the persona's system prompt and the recent
 * messages of a conversation, so a host can role-play the persona with its own model.
 */
import type { McpServer, GetPromptResult, PromptMessage, RegisteredPrompt } from '@modelcontextprotocol/server';
import { z } from 'zod';
import type { PersonaRecord } from '../../ports/store.js';
import type { SessionBinding } from '../../rpc/registry.js';
import type { Services } from '../../services/index.js';

/** Recent messages included with a prompt: enough to pick the thread up, small enough for any host. */
const PROMPT_HISTORY_MESSAGES = 20;

export function promptName(personaId: string): string {
  return `talk-with-${personaId}`;
}

const promptArgs = z.object({
  conversation_id: z
    .string()
    .optional()
    .describe('Include the recent messages of this conversation (from persona_chat or conversation_start).'),
  scene: z.string().optional().describe('Where the conversation takes place, e.g. "a busy tavern at night".'),
});

export interface PromptRegistrationOptions {
  services: Pick<Services, 'personas' | 'conversations' | 'turns'>;
  bindingFor: (args: Record<string, unknown>) => Promise<SessionBinding>;
}

/** The persona prompts of one server instance; `sync` follows personas created, changed or deleted. */
export class PersonaPrompts {
  private readonly registered = new Map<string, { prompt: RegisteredPrompt; updatedAt: number }>();

  constructor(
    private readonly server: McpServer,
    private readonly options: PromptRegistrationOptions,
  ) {
    this.sync();
  }

  /** Registers prompts for new personas, refreshes changed ones and removes deleted ones. */
  sync(): void {
    const personas = this.options.services.personas.list();
    const current = new Set(personas.map((persona) => persona.id));
    for (const [id, entry] of this.registered) {
      if (!current.has(id)) {
        entry.prompt.remove();
        this.registered.delete(id);
      }
    }
    for (const persona of personas) {
      const existing = this.registered.get(persona.id);
      if (existing !== undefined && existing.updatedAt === persona.updatedAt) continue;
      existing?.prompt.remove();
      this.registered.set(persona.id, { prompt: this.register(persona), updatedAt: persona.updatedAt });
    }
  }

  private register(persona: PersonaRecord): RegisteredPrompt {
    return this.server.registerPrompt(
      promptName(persona.id),
      {
        title: `Talk with ${persona.name}`,
        description: `Role-play ${persona.name} with your own model: ${persona.description}`,
        argsSchema: promptArgs,
      },
      async (args) => this.render(persona.id, args),
    );
  }

  private async render(personaId: string, args: z.infer<typeof promptArgs>): Promise<GetPromptResult> {
    const { personas, conversations, turns } = this.options.services;
    const persona = personas.resolve(personaId);
    const conversation =
      args.conversation_id === undefined
        ? null
        : await conversations.accessible(await this.options.bindingFor({ conversation_id: args.conversation_id }), args.conversation_id);
    // The same prompt builder as the persona's own turns, with its current energy.
    const systemPrompt = await turns.systemPrompt(persona, {
      scene: args.scene ?? null,
      conversationContext: conversation?.context ?? null,
      topic: conversation?.topic ?? null,
    });
    const history =
      conversation === null ? [] : (await conversations.historyPage(conversation.id, PROMPT_HISTORY_MESSAGES)).messages.reverse();
    // Prompt messages have no system role: the persona's brief opens the conversation as the user's turn.
    const messages: PromptMessage[] = [
      { role: 'user', content: { type: 'text', text: `${systemPrompt}\n\n---\nFrom now on, reply as ${persona.name}, in character.` } },
      ...history.flatMap((message): PromptMessage[] =>
        message.role === 'system' ? [] : [{ role: message.role, content: { type: 'text', text: message.content } }],
      ),
    ];
    return {
      description: `${persona.name}'s system prompt${history.length > 0 ? ` and the last ${history.length} messages` : ''}`,
      messages,
    };
  }
}
