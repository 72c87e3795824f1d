/**
 * The memory repository port (issue 5): memories with their vectors, sharing, full-text and vector
 * search, decay and prune bookkeeping. `src/adapters/sqlite/memory-store.ts` implements it.
 */
import type { DecayPolicy } from '../domain/memory/decay.js';
import type { ImportanceSource, Memory, MemoryKind, MemoryVisibility, NewMemory } from '../domain/memory/memory.js';
import type { PruneCandidate } from '../domain/memory/pruning.js';
import type { JobCompletion } from './jobs.js';

export interface MemoryVector {
  embedder: string;
  vector: Float32Array;
}

/** Which memories a search may return. */
export interface MemoryScope {
  /**
   * The persona whose memories (and, with the flags below, visible others') are searched; null searches
   * every persona's memories (the user's own view, e.g. `memory.search` with no persona at all).
   */
  viewerId: string | null;
  /** Also other personas' memories shared with the viewer (directly or through a group). */
  includeShared?: boolean;
  /** Also other personas' public memories. */
  includePublic?: boolean;
  minImportance?: number;
  /** Only this user's memories (null: the anonymous local user); undefined: every user's. */
  userId?: string | null | undefined;
}

export interface RankingFacts {
  id: number;
  importance: number;
  lastAccessedAt: number;
}

export interface RankedId {
  id: number;
  /** BM25 (lower is better) for full-text hits, cosine similarity for vector hits. */
  score: number;
  /** Full-text hits: BM25 over the query's best possible BM25, 0..1 (absolute lexical relevance). */
  relevance?: number;
  /**
   * Full-text hits: the share of the query's own words the memory holds in its own text (IDF-weighted,
   * 0..1), without its recall terms or the query's thesaurus terms (`literalCoverage`).
   */
  literal?: number;
}

export interface MemoryChanges {
  content?: string;
  kind?: MemoryKind;
  /** The client's name for the type (null: none, the kind). */
  label?: string | null;
  importance?: number;
  importanceSource?: ImportanceSource;
  visibility?: MemoryVisibility;
  sharedWith?: string[];
  sharedGroups?: string[];
}

export interface MemoryListQuery {
  personaId?: string | undefined;
  kind?: MemoryKind | undefined;
  /** Only memories stored with exactly this memory_type label (one that is not a kind's name). */
  label?: string | undefined;
  sessionId?: string | undefined;
  /** Only this user's memories (null: the anonymous local user); undefined: every user's. */
  userId?: string | null | undefined;
  limit: number;
  offset: number;
}

export interface MemoryStatsRecord {
  total: number;
  byPersona: Record<string, number>;
  high: number;
  medium: number;
  low: number;
  averageImportance: number;
  storageBytes: number;
  shared: number;
  public: number;
  /** Share links (persona or group) of shared memories. */
  crossReferences: number;
}

export interface MaintenanceRun {
  kind: 'decay' | 'prune';
  personaId: string | null;
  startedAt: number;
  processingMs: number;
  personasProcessed: number;
  memoriesAffected: number;
  averageValue: number;
}

export interface DecayOutcome {
  personasProcessed: number;
  memoriesDecayed: number;
  /** Mean importance lost per decayed memory. */
  averageDecay: number;
}

export interface MessageText {
  id: number;
  conversationId: string;
  role: 'user' | 'assistant' | 'system';
  personaId: string | null;
  content: string;
  createdAt: number;
}

export interface MemoryStore {
  insert(memory: NewMemory, vectors: readonly MemoryVector[], now: number): Promise<Memory>;
  /**
   * Replaces the memories formed from `messageId` (kinds other than summary) with `memories`, in one
   * transaction: running formation twice for a message leaves one set. Skips a forgotten message
   * and returns [] for it. With `completes`, the formation job's completion is written in that
   * transaction when the store can ({@link JobCompletion}).
   */
  replaceFormed(
    messageId: number,
    memories: ReadonlyArray<{ memory: NewMemory; vectors: readonly MemoryVector[] }>,
    now: number,
    completes?: JobCompletion,
  ): Promise<Memory[]>;
  /**
   * {@link replaceFormed} for several messages in one transaction (a batch of formation jobs); returns
   * what each stored, in the order given.
   */
  replaceFormedMany(
    formations: ReadonlyArray<{ messageId: number; memories: ReadonlyArray<{ memory: NewMemory; vectors: readonly MemoryVector[] }> }>,
    now: number,
  ): Promise<Memory[][]>;
  get(id: number): Promise<Memory | null>;
  getMany(ids: readonly number[]): Promise<Memory[]>;
  /** The ids of every memory whose message is `messageId` (any kind; a summary names the last message it covers). */
  idsFromMessage(messageId: number): Promise<number[]>;
  /**
   * What ranking needs of each memory (importance, last access), for the candidates of a search: a
   * narrow read, so that only the few memories a search returns are loaded whole (getMany).
   */
  rankingFacts(ids: readonly number[]): Promise<RankingFacts[]>;
  update(id: number, changes: MemoryChanges, vectors: readonly MemoryVector[] | null, now: number): Promise<Memory | null>;
  /** Deletes memories with their vectors and shares; returns how many existed. */
  delete(ids: readonly number[]): Promise<number>;
  list(query: MemoryListQuery): Promise<{ memories: Memory[]; total: number }>;

  /** Full-text (FTS5, BM25) hits, best first. */
  fullTextSearch(query: string, scope: MemoryScope, limit: number): Promise<RankedId[]>;
  /** Loads the vector index of these embedders now (start-up); searches never wait for it. */
  warmUp(embedders: readonly string[]): Promise<void>;
  /** Per embedder: vectors in the index so far, and whether it is still loading. */
  indexProgress(): Array<{ embedder: string; vectors: number; loading: boolean }>;
  /** Nearest vectors of `embedder`, best first (approximate; see domain/memory/vector-index.ts). */
  vectorSearch(embedder: string, vector: Float32Array, scope: MemoryScope, limit: number): Promise<RankedId[]>;
  /** Whether `viewerId` may see each memory (for re-checking fused results). */
  visibleTo(viewerId: string, memories: readonly Memory[]): Promise<boolean[]>;
  /**
   * Records recalls: last access now, access count + 1. Importance is not raised (no rich-get-richer). A
   * store may gather them and write them later (SQLite: with its next write, within a second at most);
   * its reads count them at once.
   */
  recordAccess(ids: readonly number[], now: number): Promise<void>;
  /** Writes the recalls `recordAccess` gathered and has not written yet (before shutdown). */
  flushAccess?(): Promise<void>;
  /** Stores the LLM's canonical fact and questions for a memory (into its recall terms); false when it is gone. */
  setDoc2Query(id: number, text: string | null): Promise<boolean>;
  /**
   * Brings the recall terms of up to `limit` memories after `afterId` (id order) to the current
   * thesaurus; null when there are none left.
   */
  expandStale(afterId: number, limit: number): Promise<{ lastId: number; expanded: number } | null>;
  /** A persona's `user_fact` memories about one user, most important first ("what I know about you"). */
  userFacts(personaId: string, userId: string | null | undefined, limit: number): Promise<Memory[]>;
  /** Memories that have no vector from `embedder` yet (re-embedding in the background). */
  missingVectors(embedder: string, limit: number): Promise<Array<{ id: number; content: string }>>;
  setVector(id: number, vector: MemoryVector): Promise<void>;

  /** Figures over every memory, or over one user's (`userId`). */
  stats(userId?: string): Promise<MemoryStatsRecord>;
  personaIdsWithMemories(): Promise<string[]>;
  pruneCandidates(personaId: string): Promise<PruneCandidate[]>;
  countFor(personaId: string | null): Promise<number>;
  applyDecay(now: number, policy: DecayPolicy): Promise<DecayOutcome>;
  recordRun(run: MaintenanceRun): Promise<void>;
  runs(kind: 'decay' | 'prune', limit: number): Promise<MaintenanceRun[]>;
  runTotals(kind: 'decay' | 'prune'): Promise<{ runs: number; affected: number }>;

  setGroup(groupId: string, personaIds: readonly string[]): Promise<void>;
  groups(): Promise<Record<string, string[]>>;

  markForgotten(messageIds: readonly number[], now: number): Promise<void>;
  message(id: number): Promise<MessageText | null>;
  /** Messages of a conversation after `afterId`, oldest first. */
  messagesAfter(conversationId: string, afterId: number, limit: number): Promise<MessageText[]>;
  /**
   * How many messages of a conversation come after `afterId`, counted up to `atMost` (a caller that asks
   * "are there n yet?" need not count a long unsummarised conversation's every message each turn).
   */
  countMessagesAfter(conversationId: string, afterId: number, atMost: number): Promise<number>;
  /** The newest summary memory of a conversation. */
  latestSummary(conversationId: string): Promise<Memory | null>;
  /** Summaries whose text contains any of `snippets` (forgetting removes what quoted the forgotten). */
  summariesQuoting(snippets: readonly string[]): Promise<number[]>;
}
