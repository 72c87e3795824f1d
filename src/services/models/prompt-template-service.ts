/**
 * Personas' prompt templates per task, versioned (`persona.template.get`, `persona.template.set`):
 * `chat` is the system prompt template (also the persona's `system_prompt_template`), `post_history` the
 * instruction sent after the conversation, right before the model answers (a Character Card's
 * `post_history_instructions` until a version is saved). Templates are checked on save: an unknown macro
 * is an error listing the known ones.
 */
import { AppError } from '../../domain/errors.js';
import { templateProblem, type TemplateTask } from '../../domain/prompt-template.js';
import { renderCardText } from '../../domain/prompt.js';
import { SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH } from '../../domain/persona-schema.js';
import type { Clock } from '../../ports/clock.js';
import type { PromptTemplateStore, TemplateVersion } from '../../ports/prompt-templates.js';
import type { PersonaRecord } from '../../ports/store.js';
import type { CardRepository } from '../../ports/cards.js';
import type { PersonaService } from '../persona-service.js';

export interface TemplateView {
  personaId: string;
  task: TemplateTask;
  /** The template in effect ("" = the server's default for `chat`, nothing for `post_history`). */
  current: string;
  /** Where `current` comes from. */
  source: 'saved' | 'persona' | 'card' | 'default';
  versions: TemplateVersion[];
}

/** Personas whose post-history template is kept in memory at most (the most recently used). */
const KEPT_POST_HISTORY = 1_000;

export class PromptTemplateService {
  /**
   * Each persona's post-history template in effect, kept: every chat turn asks for it, and reading it is
   * a template read plus the persona's card (its JSON and picture). Dropped by {@link forget}: this
   * service's saves, a card written (the composition root wraps the card repository), persona changes
   * and imports. Not kept when other nodes share the store (`sharedStore`).
   */
  private readonly postHistory = new Map<string, string>();
  /** Counts forgets, so a read that began before one does not keep what it read. */
  private generation = 0;

  constructor(
    private readonly deps: {
      personas: PersonaService;
      templates: PromptTemplateStore;
      cards: CardRepository;
      clock: Clock;
      sharedStore?: boolean;
    },
  ) {}

  /** Drops kept post-history templates (one persona's, or all) after something changed them. */
  forget(personaId?: string): void {
    this.generation += 1;
    if (personaId === undefined) this.postHistory.clear();
    else this.postHistory.delete(personaId);
  }

  async get(personaIdOrName: string, task: TemplateTask): Promise<TemplateView> {
    const persona = this.deps.personas.resolve(personaIdOrName);
    const versions = await this.deps.templates.versions(persona.id, task);
    if (task === 'chat') {
      const current = persona.systemPromptTemplate;
      return { personaId: persona.id, task, current, source: current.trim().length === 0 ? 'default' : versions[0]?.template === current ? 'saved' : 'persona', versions };
    }
    const saved = versions[0];
    if (saved !== undefined) return { personaId: persona.id, task, current: saved.template, source: 'saved', versions };
    const fromCard = await this.cardPostHistory(persona);
    return { personaId: persona.id, task, current: fromCard, source: fromCard.length > 0 ? 'card' : 'default', versions };
  }

  /** Checks and saves a new version; for `chat` the persona's template changes too. */
  async set(personaIdOrName: string, task: TemplateTask, template: string, savedBy: string | null): Promise<TemplateVersion> {
    const persona = this.deps.personas.resolve(personaIdOrName);
    if (template.length > SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH) {
      throw new AppError('limit_exceeded', `The template has ${template.length} characters; at most ${SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH} are accepted.`, {
        data: { max: SYSTEM_PROMPT_TEMPLATE_MAX_LENGTH, actual: template.length },
      });
    }
    const problem = templateProblem(template);
    if (problem !== null) throw new AppError('conflict', problem, { data: { field: 'template' } });
    const version = await this.deps.templates.add(persona.id, task, template, this.deps.clock.now(), savedBy);
    if (task === 'post_history') this.forget(persona.id);
    if (task === 'chat') await this.deps.personas.update({ ...persona, systemPromptTemplate: template });
    return version;
  }

  /** The post-history instruction template in effect for a persona ("" for none). */
  async postHistoryTemplate(persona: PersonaRecord): Promise<string> {
    const isKept = this.deps.sharedStore !== true;
    const kept = isKept ? this.postHistory.get(persona.id) : undefined;
    if (kept !== undefined) return kept;
    const generation = this.generation;
    const saved = await this.deps.templates.current(persona.id, 'post_history');
    const template = saved !== null ? saved.template : await this.cardPostHistory(persona);
    if (isKept && generation === this.generation) {
      if (this.postHistory.size >= KEPT_POST_HISTORY) this.postHistory.delete(this.postHistory.keys().next().value as string);
      this.postHistory.set(persona.id, template);
    }
    return template;
  }

  /**
   * The persona's greetings from its Character Card, macros filled in: `first_mes` first (index 0), then
   * `alternate_greetings` (1, 2, ...). Empty when the persona has no card or the card no greeting.
   */
  async greetings(persona: PersonaRecord): Promise<string[]> {
    const data = (await this.deps.cards.get(persona.id))?.card['data'];
    if (typeof data !== 'object' || data === null) return [];
    const fields = data as Record<string, unknown>;
    const first = typeof fields['first_mes'] === 'string' ? [fields['first_mes']] : [];
    const alternates = Array.isArray(fields['alternate_greetings']) ? fields['alternate_greetings'].filter((text): text is string => typeof text === 'string') : [];
    return [...first, ...alternates].map((text) => renderCardText(persona, text)).filter((text) => text.length > 0);
  }

  private async cardPostHistory(persona: PersonaRecord): Promise<string> {
    const stored = await this.deps.cards.get(persona.id);
    const data = stored?.card['data'];
    const text = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)['post_history_instructions'] : undefined;
    return typeof text === 'string' ? text : '';
  }
}
