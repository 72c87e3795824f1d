/**
 * The persona model: who a character is (definition) and how to find one by what a client sends.
 * Definitions are data (files under `personas/`, rows in the store); nothing here does I/O.
 */

/** Social-energy parameters: how much a persona enjoys talking and how fast it tires and recovers. */
export interface SocialEnergyProfile {
  /** Energy a fully rested persona has (and starts with). */
  maxEnergy: number;
  /** Seconds of conversation a fully rested persona is willing to give. */
  availableTime: number;
  /** Energy one exchange costs before adjustment for message length. */
  costPerTurn: number;
  /** Energy recovered per idle minute. */
  recoveryPerMinute: number;
}

export interface PersonaDefinition {
  /** Stable slug (`aria`), never changes after creation. */
  id: string;
  name: string;
  description: string;
  /** One-paragraph backstory used in the system prompt. */
  backstory: string;
  /** Trait name → 0..100. */
  personalityTraits: Record<string, number>;
  /** How the persona talks, in a few plain sentences. */
  speakingStyle: string;
  /** Topic → 0..100 preference. */
  topicPreferences: Record<string, number>;
  /** Example lines in the persona's voice (few-shot flavour for the prompt). */
  exampleLines: string[];
  /** D&D-style attributes kept from the old server (charisma, intelligence). */
  attributes: Record<string, number>;
  socialRank: string;
  /** Priority the persona gives conversations by default (`social`, `academic`, ...). */
  defaultPriority: string;
  socialEnergy: SocialEnergyProfile;
  /** Model name for the LLM backend; null means the server's default model. */
  model: string | null;
  /** Sampling options passed to the backend (temperature, top_p, ...). */
  modelOptions: Record<string, number>;
  /**
   * System-prompt template; `{{name}}`, `{{description}}`, `{{backstory}}`, `{{traits}}`,
   * `{{speaking_style}}`, `{{interests}}`, `{{examples}}` and `{{state}}` are filled in.
   * Empty string means the default template.
   */
  systemPromptTemplate: string;
  avatar: string | null;
}

const SLUG_MAX_LENGTH = 48;

/** Turns a display name into the persona id: lower-case ASCII words joined by `-` ("Sir Tobias" → `sir-tobias`). */
export function slugify(name: string): string {
  const slug = name
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, SLUG_MAX_LENGTH)
    .replace(/-+$/g, '');
  return slug.length > 0 ? slug : 'persona';
}

/**
 * Finds a persona by what a client sent: the id or the name, case-insensitively and ignoring
 * surrounding spaces (old clients send "aria", "Aria" and "Kira").
 */
export function matchPersona<T extends { id: string; name: string }>(personas: Iterable<T>, idOrName: string): T | undefined {
  const wanted = idOrName.trim().toLowerCase();
  let byName: T | undefined;
  for (const persona of personas) {
    if (persona.id === wanted) return persona;
    if (byName === undefined && (persona.name.toLowerCase() === wanted || slugify(persona.name) === wanted)) byName = persona;
  }
  return byName;
}
