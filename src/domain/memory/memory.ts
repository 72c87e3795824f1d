/**
 * The memory model (issue 5): what a persona remembers, who else may see it, and where it came from.
 * Plain data; the rules that act on it live beside this file (scoring, decay, pruning, visibility).
 */

/** What a memory is about. */
export type MemoryKind = 'observation' | 'user_fact' | 'summary' | 'reflection';
export const MEMORY_KINDS: readonly MemoryKind[] = ['observation', 'user_fact', 'summary', 'reflection'];

/**
 * Who may recall a memory besides its persona: nobody (`private`), the personas and groups it is
 * shared with (`shared`), or every persona (`public`).
 */
export type MemoryVisibility = 'private' | 'shared' | 'public';
export const MEMORY_VISIBILITIES: readonly MemoryVisibility[] = ['private', 'shared', 'public'];

/** How the current importance was first set. */
export type ImportanceSource = 'heuristic' | 'llm' | 'client';

export interface Memory {
  id: number;
  personaId: string;
  /** What ranking and the prompt treat it as. */
  kind: MemoryKind;
  /**
   * The memory type as the client named it (`memory_type`, returned as given: "local_knowledge",
   * "location"); the kind itself when none was given.
   */
  label: string;
  content: string;
  /** The LLM's canonical one-line fact and questions the memory answers (doc2query), when written. */
  doc2query: string | null;
  /** 0..1, decays over time and is reinforced by recall. */
  importance: number;
  importanceSource: ImportanceSource;
  visibility: MemoryVisibility;
  /** Personas a `shared` memory is shared with (besides its own). */
  sharedWith: string[];
  /** Named persona groups a `shared` memory is shared with. */
  sharedGroups: string[];
  /**
   * The user the memory is about and belongs to (null: the anonymous local user). Only that user's
   * requests and chats recall it.
   */
  userId: string | null;
  sessionId: string | null;
  conversationId: string | null;
  /** The message the memory was formed from (null for client-stored ones). */
  messageId: number | null;
  createdAt: number;
  lastAccessedAt: number;
  accessCount: number;
  /** When decay was last applied. */
  decayedAt: number;
}

/** A memory the store is asked to add. */
export interface NewMemory {
  personaId: string;
  kind: MemoryKind;
  /** The client's own name for the type, kept as given (see Memory.label). */
  label?: string | null;
  content: string;
  doc2query?: string | null;
  importance: number;
  importanceSource: ImportanceSource;
  visibility: MemoryVisibility;
  sharedWith?: string[];
  sharedGroups?: string[];
  userId?: string | null;
  sessionId?: string | null;
  conversationId?: string | null;
  messageId?: number | null;
}

/**
 * Our kinds and the old server's names for them (the label itself is kept and returned as given).
 * Any other label ("local_knowledge", "location") is an observation, unless it says it is about the user
 * ("user_…", "…preference…", "profile") — see `kindOfLabel`.
 */
const KIND_OF_LABEL: Readonly<Record<string, MemoryKind>> = {
  observation: 'observation',
  conversation: 'observation',
  interaction: 'observation',
  event: 'observation',
  user_fact: 'user_fact',
  fact: 'user_fact',
  preference: 'user_fact',
  personal: 'user_fact',
  summary: 'summary',
  reflection: 'reflection',
  insight: 'reflection',
};

/** Longest memory type label kept (a label is a name, not a text). */
export const MAX_LABEL_CHARS = 64;

/** Whether a label is one of the names `kindOfLabel` knows (a kind or an old alias), case aside. */
export function isKnownLabel(label: string): boolean {
  return KIND_OF_LABEL[label.trim().toLowerCase()] !== undefined;
}

/** The kind a memory type label ranks as: a known name's, else observation (user_fact for "user…", "…preference…"). */
export function kindOfLabel(label: string): MemoryKind {
  const key = label.trim().toLowerCase();
  const known = KIND_OF_LABEL[key];
  if (known !== undefined) return known;
  if (/^user|personal|preference|profile|biograph/.test(key)) return 'user_fact';
  if (/summar/.test(key)) return 'summary';
  if (/reflect|insight/.test(key)) return 'reflection';
  return 'observation';
}

/** Wire ids look like `mem_42`; the number alone is accepted too. Returns null for anything else. */
export function parseMemoryId(value: string): number | null {
  const match = /^(?:mem_)?(\d{1,15})$/.exec(value.trim());
  return match ? Number(match[1]) : null;
}

export function formatMemoryId(id: number): string {
  return `mem_${id}`;
}

/** Clamps to 0..1 (importance, similarity). NaN becomes 0. */
export function clampUnit(value: number): number {
  if (!Number.isFinite(value)) return 0;
  return Math.min(1, Math.max(0, value));
}
