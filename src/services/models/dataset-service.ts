/**
 * Fine-tuning datasets (`persona.export_dataset`, `persona-mcp model dataset`): a persona's conversations
 * with one user, as chat JSONL. Consent: only the requesting user's own one-to-one conversations, never
 * group conversations (other people's words) and never recalled memories (they may be about others).
 */
import { chatExample, toJsonl, DEFAULT_MIN_REPLIES } from '../../domain/fine-tune-dataset.js';
import { buildSystemPrompt } from '../../domain/prompt.js';
import type { DatasetSource } from '../../ports/dataset-source.js';
import type { PersonaService } from '../persona-service.js';

export interface DatasetExport {
  personaId: string;
  /** Chat JSONL, one example per line. */
  jsonl: string;
  examples: number;
  /** Conversations left out (too few replies). */
  skipped: number;
}

export class DatasetService {
  constructor(private readonly deps: { personas: PersonaService; source: DatasetSource }) {}

  async export(personaIdOrName: string, userId: string | null, options: { minReplies?: number } = {}): Promise<DatasetExport> {
    const persona = this.deps.personas.resolve(personaIdOrName);
    const system = buildSystemPrompt(persona);
    const conversations = await this.deps.source.userConversations(persona.id, userId);
    const examples = conversations.flatMap((conversation) => {
      const example = chatExample(system, conversation.turns, options.minReplies ?? DEFAULT_MIN_REPLIES);
      return example === null ? [] : [example];
    });
    return { personaId: persona.id, jsonl: toJsonl(examples), examples: examples.length, skipped: conversations.length - examples.length };
  }
}
