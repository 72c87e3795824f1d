/**
 * What a scenario run produced: the transcript, the state samples after each turn, the facts told, the
 * probes for private memory, timings and how it ended. Assertions, the consistency score and the
 * reports are pure functions of this record.
 */

export interface TranscriptEntry {
  /** Persona turns completed when this entry was made (a persona's line has the number of its own turn). */
  turn: number;
  /** Simulated milliseconds since the start. */
  atMs: number;
  kind: 'user' | 'persona' | 'event';
  /** Persona id (persona lines), user id (user lines), or null (events). */
  speaker: string | null;
  speakerName: string | null;
  /** The user whose conversation this is (chat mode), or the group's owner. */
  user: string | null;
  content: string;
  /** The persona's continue score (0–100) with this line, when the server reports one. */
  continueScore?: number;
  /** Wall-clock milliseconds from the request to the reply (persona lines). */
  latencyMs?: number;
}

export interface StateSample {
  turn: number;
  atMs: number;
  /** persona id → mood figures. */
  moods: Record<string, { mood: string; valence: number; arousal: number; stress_level: number; curiosity: number; energy_level: number }>;
  /** "from→to" (persona ids, or `user:ID`) → relationship figures. */
  relationships: Record<string, { affinity: number; trust: number; respect: number; intimacy: number; relationship_strength: number; relationship_type: string }>;
}

export interface ToldFact {
  id: string;
  user: string;
  /** The persona it was told to (chat), or null in a group. */
  persona: string | null;
  text: string;
  keywords: string[];
  turn: number;
}

/** What another user could find of a fact (no_private_crossover). */
export interface CrossoverProbe {
  fact: string;
  owner: string;
  otherUser: string;
  persona: string;
  /** Memory contents the other user's memory.search returned that contain the fact's keywords. */
  leakedMemories: string[];
}

export interface PersonaInfo {
  id: string;
  name: string;
  description: string;
  speakingStyle: string;
  exampleLines: string[];
  traits: Record<string, number>;
}

export interface SimulationRun {
  scenario: string;
  file: string;
  mode: 'chat' | 'group';
  target: string;
  startedAt: string;
  wallMs: number;
  simulatedMs: number;
  turns: number;
  personas: PersonaInfo[];
  users: string[];
  transcript: TranscriptEntry[];
  samples: StateSample[];
  facts: ToldFact[];
  probes: CrossoverProbe[];
  /** Why the conversation ended: `nobody_wants_to_continue`, `turn_cap`, `stop: max_turns`, `script finished`, ... */
  endReason: string;
  /** True when the server ended the conversation by itself (nobody wanted to go on / nobody available). */
  endedByItself: boolean;
  /** An error that stopped the run early (the scenario then fails), with the turn it happened at. */
  error: { message: string; turn: number } | null;
  /** Events whose turn or time was never reached. */
  unfiredEvents: string[];
  /** Things a reader of the report should know (e.g. the judge fell back to offline). */
  notes: string[];
  /** LLM cassette use, when the embedded server replays. */
  cassettes?: { replayed: number; recorded: number; missed: number };
}
