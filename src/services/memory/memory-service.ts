/**
 * Memory use cases: store, hybrid search (own and cross-persona), list, edit, delete, forget, stats.
 *
 * Hybrid search (docs/memory.md): FTS5/BM25 hits (with WordNet expansion) and vector hits (each embedder
 * in its own space) are fused by a convex combination into an absolute relevance (domain/memory/fusion.ts),
 * then ranked by relevance with importance and recency as tie-breaks (domain/memory/scoring.ts). A recall
 * counts as an access (recency, access count); it never raises importance.
 */
import type { Logger } from 'pino';
import { AppError } from '../../domain/errors.js';
import { SEMANTIC_BASELINE, unionFusion } from '../../domain/memory/fusion.js';
import { searchTextOf } from '../../domain/memory/question.js';
import {
  clampUnit,
  formatMemoryId,
  type ImportanceSource,
  type Memory,
  type MemoryKind,
  type MemoryVisibility,
} from '../../domain/memory/memory.js';
import { recency, retrievalScore, salienceScore } from '../../domain/memory/scoring.js';
import type { Clock } from '../../ports/clock.js';
import type { MemoryScope, MemoryStatsRecord, MemoryStore } from '../../ports/memory.js';
import type { PersonaService } from '../persona-service.js';
import type { MemoryEmbedders, RemoteModelState } from './embedders.js';
import type { MemoryMaintenance } from './maintenance.js';
import type { MemorySettings } from './settings.js';

/**
 * Chance-level cosine of the remote (Ollama) embedder: sentence embeddings of unrelated texts sit well
 * above 0 (nomic-embed-text: ~0.3–0.45), so only similarity above this counts as relevance.
 */
const REMOTE_SEMANTIC_BASELINE = 0.45;

/** Candidates each retriever contributes before fusion, per result wanted (at least 50). */
const POOL_PER_RESULT = 5;
const MIN_POOL = 50;
/** Newest memories considered when a search has no query. */
const SALIENT_POOL = 200;

export interface RecalledMemory {
  memory: Memory;
  /** Fused relevance, 0..1 (domain/memory/fusion.ts `unionFusion`). */
  relevance: number;
  /**
   * The same fusion without thesaurus evidence, 0..1: the query's words the memory holds in its own text
   * (`literal` of the full-text hit) or-ed with the vector evidence.
   */
  direct: number;
  recency: number;
  score: number;
}

/**
 * Whose memories a request may touch: a user id, null for the anonymous local user, or undefined for
 * every user's (internal callers and maintenance). RPC methods always pass the session's user.
 */
export type UserScope = string | null | undefined;

export interface SearchRequest {
  query: string;
  userId?: UserScope;
  limit: number;
  minImportance?: number;
  viewerId: string | null;
  includeShared?: boolean;
  includePublic?: boolean;
  /** Count the results as recalls (last access, access count). Defaults to true. */
  reinforce?: boolean;
  /** Leave out memories less relevant than this (0..1; the prompt uses RELEVANCE_FLOOR). Defaults to 0. */
  minRelevance?: number;
  /** Leave out memories whose `direct` relevance is below this (0..1; speaker.ts). Defaults to 0. */
  minDirectRelevance?: number;
  /**
   * Longest wait for the query's remote embedding, in ms; default the embedders' query time limit. A
   * chat turn passes 0: it recalls with what is at hand (offline vector, full-text search, a remote
   * vector already known) and never waits for a round trip to the embedding model.
   */
  remoteWaitMs?: number;
}

export interface StoreRequest {
  personaId: string;
  content: string;
  kind?: MemoryKind;
  /** The client's own name for the type (kept and returned as given). */
  label?: string;
  importance?: number;
  visibility?: MemoryVisibility;
  relatedPersonas?: string[];
  groups?: string[];
  userId?: string | null;
  sessionId?: string | null;
}

export interface UpdateRequest {
  content?: string;
  kind?: MemoryKind;
  label?: string;
  importance?: number;
  visibility?: MemoryVisibility;
  relatedPersonas?: string[];
  groups?: string[];
}

export interface MemoryStatus {
  /** The embedder answering queries now (the remote one while it can, else the offline one). */
  embedder: string;
  offlineEmbedder: string;
  remoteEmbedder: string | null;
  embedModel: string | null;
  embedModelState: RemoteModelState;
  index: Array<{ embedder: string; vectors: number; loading: boolean }>;
}

export interface ForgetResult {
  memoriesRemoved: number;
  summariesRemoved: number;
  messagesBlocked: number;
}

export function memoryNotFound(id: number | string): AppError {
  const wire = typeof id === 'number' ? formatMemoryId(id) : id;
  return new AppError('memory_not_found', `no memory "${wire}"; list them with memory.list or memory.search`, {
    data: { memory_id: wire },
  });
}

export class MemoryService {
  constructor(
    private readonly deps: {
      memories: MemoryStore;
      personas: PersonaService;
      embedders: MemoryEmbedders;
      /** Applies the per-persona cap after a store; optional for callers that manage it themselves. */
      maintenance?: MemoryMaintenance;
      clock: Clock;
      logger: Logger;
      settings: MemorySettings;
    },
  ) {}

  get settings(): MemorySettings {
    return this.deps.settings;
  }

  /** Which embedder answers queries, the remote model's state, and the vector index's loading. */
  status(): MemoryStatus {
    const { embedders, memories, settings } = this.deps;
    return {
      embedder: embedders.answering,
      offlineEmbedder: embedders.offline.id,
      remoteEmbedder: embedders.remote?.id ?? null,
      embedModel: settings.embedder === 'offline' ? null : settings.embedModel,
      embedModelState: embedders.remoteModelState,
      index: memories.indexProgress(),
    };
  }

  /** A persona id (or name) as its canonical id; throws persona_not_found. */
  personaId(idOrName: string): string {
    return this.deps.personas.resolve(idOrName).id;
  }

  async store(request: StoreRequest): Promise<Memory> {
    const content = request.content.trim();
    if (content.length === 0)
      throw new AppError('limit_exceeded', 'The memory is empty; give it some content.', { data: { limit: 'memory.content' } });
    const related = (request.relatedPersonas ?? []).map((id) => this.personaId(id)).filter((id) => id !== request.personaId);
    const groups = request.groups ?? [];
    const visibility = request.visibility ?? (related.length > 0 || groups.length > 0 ? 'shared' : 'private');
    const [vectors] = await this.deps.embedders.embed([content]);
    const importanceSource: ImportanceSource = 'client';
    const memory = await this.deps.memories.insert(
      {
        personaId: request.personaId,
        kind: request.kind ?? 'observation',
        label: request.label ?? null,
        content,
        importance: clampUnit(request.importance ?? 0.5),
        importanceSource,
        visibility,
        sharedWith: related,
        sharedGroups: groups,
        userId: request.userId ?? null,
        sessionId: request.sessionId ?? null,
      },
      vectors ?? [],
      this.deps.clock.now(),
    );
    await this.deps.maintenance?.enforceCap(request.personaId);
    return memory;
  }

  async search(request: SearchRequest): Promise<RecalledMemory[]> {
    const { memories, embedders, settings, clock } = this.deps;
    const query = request.query.trim();
    if (request.limit <= 0) return [];
    if (query.length === 0) return this.mostSalient(request);
    const scope: MemoryScope = {
      viewerId: request.viewerId,
      includeShared: request.includeShared ?? false,
      includePublic: request.includePublic ?? false,
      minImportance: request.minImportance ?? 0,
      userId: request.userId,
    };
    const pool = Math.max(MIN_POOL, request.limit * POOL_PER_RESULT);
    const offlineQuery = (await embedders.offline.embed([query]))[0]!;
    const remoteQuery = settings.embedder === 'offline' ? null : await embedders.remoteQuery(query, request.remoteWaitMs);
    const useOffline = !(settings.embedder === 'ollama' && remoteQuery !== null);
    const [lexical, remoteHits, offlineHits] = await Promise.all([
      // Full text searches the question's idioms as the words facts say ("how old" → "age"); the vectors
      // embed the message as written.
      memories.fullTextSearch(searchTextOf(query), scope, pool),
      remoteQuery !== null && embedders.remote !== null
        ? memories.vectorSearch(embedders.remote.id, remoteQuery, scope, pool)
        : Promise.resolve([]),
      useOffline ? memories.vectorSearch(embedders.offline.id, offlineQuery, scope, pool) : Promise.resolve([]),
    ]);
    // The remote embedder first: where a memory has both vectors, its (better) similarity counts.
    const semantic = [remoteHits, offlineHits].map((list) => list.map((hit) => ({ id: hit.id, similarity: hit.score })));
    const baselines = [REMOTE_SEMANTIC_BASELINE, SEMANTIC_BASELINE];
    const fused = unionFusion(lexical, semantic, baselines);
    const minRelevance = request.minRelevance ?? 0;
    const minDirect = request.minDirectRelevance ?? 0;
    const relevant: number[] = [];
    for (let at = 0; at < fused.size; at++) {
      const relevance = fused.relevance[at]!;
      if (relevance > 0 && relevance >= minRelevance && fused.direct[at]! >= minDirect) relevant.push(fused.ids[at]!);
    }
    // Ranking reads two columns of each candidate; only the memories returned are loaded whole (at 100k
    // memories loading ~100 candidates whole was a search's slowest SQL after FTS5, docs/memory.md).
    const facts = await memories.rankingFacts(relevant);
    const now = clock.now();
    const minImportance = request.minImportance ?? 0;
    const best = facts
      .filter((memory) => memory.importance >= minImportance)
      .map((memory) => {
        const relevance = fused.relevanceOf(memory.id);
        const fresh = recency(memory.lastAccessedAt, now, settings.recencyDecayPerHour);
        return {
          id: memory.id,
          relevance,
          direct: fused.directOf(memory.id),
          recency: fresh,
          score: retrievalScore({ relevance, importance: memory.importance, recency: fresh }, settings.weights),
        };
      })
      .sort((a, b) => b.score - a.score || a.id - b.id)
      .slice(0, request.limit);
    const loaded = new Map((await memories.getMany(best.map((hit) => hit.id))).map((memory) => [memory.id, memory]));
    const ranked: RecalledMemory[] = [];
    for (const { id, ...hit } of best) {
      const memory = loaded.get(id);
      if (memory !== undefined) ranked.push({ memory, ...hit }); // gone between the two reads: left out
    }
    if (request.reinforce !== false)
      await memories.recordAccess(
        ranked.map((hit) => hit.memory.id),
        now,
      );
    return ranked;
  }

  /**
   * Without a query there is no relevance: the persona's own memories ranked by importance and recency
   * alone (among its newest `SALIENT_POOL`), e.g. `persona.memory` called with no query.
   */
  private async mostSalient(request: SearchRequest): Promise<RecalledMemory[]> {
    const { memories, settings, clock } = this.deps;
    const now = clock.now();
    const { memories: recent } = await memories.list({
      ...(request.viewerId !== null ? { personaId: request.viewerId } : {}),
      userId: request.userId,
      limit: SALIENT_POOL,
      offset: 0,
    });
    return recent
      .filter((memory) => memory.importance >= (request.minImportance ?? 0))
      .map((memory) => {
        const fresh = recency(memory.lastAccessedAt, now, settings.recencyDecayPerHour);
        return {
          memory,
          relevance: 0,
          direct: 0,
          recency: fresh,
          score: salienceScore({ importance: memory.importance, recency: fresh }, settings.weights),
        };
      })
      .sort((a, b) => b.score - a.score || b.memory.id - a.memory.id)
      .slice(0, request.limit);
  }

  /** The memory, when it exists and belongs to `userId` (another user's is reported as not found). */
  async get(id: number, userId?: UserScope): Promise<Memory> {
    const memory = await this.deps.memories.get(id);
    if (memory === null || (userId !== undefined && memory.userId !== userId)) throw memoryNotFound(id);
    return memory;
  }

  async list(query: {
    personaId?: string;
    kind?: MemoryKind;
    label?: string;
    sessionId?: string;
    userId?: UserScope;
    limit: number;
    offset: number;
  }): Promise<{ memories: Memory[]; total: number }> {
    return this.deps.memories.list(query);
  }

  async update(id: number, request: UpdateRequest, userId?: UserScope): Promise<Memory> {
    const existing = await this.get(id, userId);
    const related = request.relatedPersonas?.map((persona) => this.personaId(persona)).filter((persona) => persona !== existing.personaId);
    const content = request.content?.trim();
    if (content !== undefined && content.length === 0)
      throw new AppError('limit_exceeded', 'A memory cannot be emptied; delete it instead.', { data: { limit: 'memory.content' } });
    const vectors = content !== undefined && content !== existing.content ? (await this.deps.embedders.embed([content]))[0]! : null;
    const visibility = request.visibility ?? (related !== undefined || request.groups !== undefined ? 'shared' : undefined);
    const updated = await this.deps.memories.update(
      id,
      {
        ...(content !== undefined ? { content } : {}),
        ...(request.kind !== undefined ? { kind: request.kind } : {}),
        ...(request.label !== undefined ? { label: request.label === (request.kind ?? existing.kind) ? null : request.label } : {}),
        ...(request.importance !== undefined ? { importance: clampUnit(request.importance), importanceSource: 'client' as const } : {}),
        ...(visibility !== undefined ? { visibility } : {}),
        ...(related !== undefined ? { sharedWith: related } : {}),
        ...(request.groups !== undefined ? { sharedGroups: request.groups } : {}),
      },
      vectors,
      this.deps.clock.now(),
    );
    if (updated === null) throw memoryNotFound(id);
    return updated;
  }

  async delete(id: number, userId?: UserScope): Promise<void> {
    await this.get(id, userId);
    const removed = await this.deps.memories.delete([id]);
    if (removed === 0) throw memoryNotFound(id);
  }

  /** Memories matching a description, for the user to confirm before `forget` removes them. */
  async forgetCandidates(query: string, viewerId: string | null, limit: number, userId?: UserScope): Promise<RecalledMemory[]> {
    const hits = await this.search({ query, limit, viewerId, userId, reinforce: false });
    // Only real matches: a memory that merely is recent and important is not "about" the description.
    return hits.filter((hit) => hit.relevance > 0);
  }

  /**
   * Removes the confirmed memories everywhere: the rows and vectors, summaries that quoted them, and
   * blocks their source messages from being extracted again.
   */
  async forget(ids: readonly number[], userId?: UserScope): Promise<ForgetResult> {
    const { memories, clock } = this.deps;
    const found = (await memories.getMany(ids)).filter((memory) => userId === undefined || memory.userId === userId);
    if (found.length !== new Set(ids).size) {
      const missing = ids.find((id) => !found.some((memory) => memory.id === id));
      throw memoryNotFound(missing ?? ids[0] ?? 0);
    }
    const snippets = found.filter((memory) => memory.kind !== 'summary').map((memory) => quotedPart(memory.content));
    const summaries = (await memories.summariesQuoting(snippets)).filter((id) => !ids.includes(id));
    const messageIds = [
      ...new Set(found.flatMap((memory) => (memory.messageId === null || memory.kind === 'summary' ? [] : [memory.messageId]))),
    ];
    await memories.markForgotten(messageIds, clock.now());
    const removed = await memories.delete([...ids, ...summaries]);
    return { memoriesRemoved: removed - summaries.length, summariesRemoved: summaries.length, messagesBlocked: messageIds.length };
  }

  /** Figures over every memory, or over one user's (`userId`: memory.stats for a plain user). */
  async stats(userId?: string): Promise<MemoryStatsRecord> {
    return this.deps.memories.stats(userId);
  }

  async setGroup(groupId: string, personaIds: readonly string[]): Promise<string[]> {
    const ids = [...new Set(personaIds.map((persona) => this.personaId(persona)))];
    await this.deps.memories.setGroup(groupId, ids);
    return ids;
  }

  async groups(): Promise<Record<string, string[]>> {
    return this.deps.memories.groups();
  }
}

/** The user's words inside a formed memory ("The user said: X" → "X"), which summaries may quote. */
function quotedPart(content: string): string {
  return content.replace(/^The user said:\s*/, '').replace(/[.!?…]+$/, '');
}
