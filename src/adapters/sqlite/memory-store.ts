/**
 * The memory repository (src/ports/memory.ts) on the store's SQLite connection: rows and FTS5 in
 * SQLite, vectors as Float32 BLOBs in `memory_vectors`, and an in-memory approximate index over them
 * (domain/memory/vector-index.ts), loaded per embedder on first use and kept in step with every write.
 * Partitions are per embedder and persona, so a persona's search scans only its own vectors plus the
 * few shared or public ones of others it may see.
 */
import { stemmer } from 'stemmer';
import { decayDue, type DecayPolicy } from '../../domain/memory/decay.js';
import { contentWords } from '../../domain/memory/text.js';
import type { ImportanceSource, Memory, MemoryKind, MemoryVisibility, NewMemory } from '../../domain/memory/memory.js';
import type { PruneCandidate } from '../../domain/memory/pruning.js';
import { VectorIndex } from '../../domain/memory/vector-index.js';
import type {
  DecayOutcome,
  MaintenanceRun,
  MemoryChanges,
  MemoryListQuery,
  MemoryScope,
  MemoryStatsRecord,
  MemoryStore,
  MemoryVector,
  MessageText,
  RankedId,
} from '../../ports/memory.js';
import type { Database } from './database.js';
import { translateSqliteError } from './errors.js';
import { MEMORY_SELECT, prepareMemoryStatements, type MemoryRow, type MemoryStatements, type ScopeParams } from './memory-statements.js';

/** Vectors read per step when the index loads. */
const INDEX_PAGE = 2_000;

/** Full-text matches ranked per result wanted before visibility filtering (see fullTextSearch). */
const FULL_TEXT_SCAN = 20;

function toMemory(row: MemoryRow): Memory {
  return {
    id: row.id,
    personaId: row.persona_id,
    kind: row.kind as MemoryKind,
    content: row.content,
    importance: row.importance,
    importanceSource: row.importance_source as ImportanceSource,
    visibility: row.visibility as MemoryVisibility,
    sharedWith: row.shared_with ? (JSON.parse(row.shared_with) as string[]) : [],
    sharedGroups: row.shared_groups ? (JSON.parse(row.shared_groups) as string[]) : [],
    userId: row.user_id,
    sessionId: row.session_id,
    conversationId: row.conversation_id,
    messageId: row.message_id,
    createdAt: row.created_at,
    lastAccessedAt: row.last_accessed_at,
    accessCount: row.access_count,
    decayedAt: row.decayed_at,
  };
}

function toMessage(row: {
  id: number;
  conversation_id: string;
  role: MessageText['role'];
  persona_id: string | null;
  content: string;
  created_at: number;
}): MessageText {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    role: row.role,
    personaId: row.persona_id,
    content: row.content,
    createdAt: row.created_at,
  };
}

export function vectorToBlob(vector: Float32Array): Buffer {
  return Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength);
}

export function blobToVector(blob: Buffer): Float32Array {
  // Copy: the Buffer may be a view into a pooled allocation that is not 4-byte aligned.
  const copy = new Uint8Array(blob.byteLength);
  copy.set(blob);
  return new Float32Array(copy.buffer);
}

function scopeParams(scope: MemoryScope): ScopeParams {
  return {
    viewer: scope.viewerId,
    includeShared: scope.includeShared ? 1 : 0,
    includePublic: scope.includePublic ? 1 : 0,
    minImportance: scope.minImportance ?? 0,
    anyUser: scope.userId === undefined ? 1 : 0,
    userId: scope.userId ?? null,
  };
}

/**
 * A user's words as an FTS5 query: content words only (no stopwords), each quoted (no operator
 * injection), any of them may match. Null when nothing is left to search for.
 */
export function toFtsQuery(text: string, isTooCommon: (word: string) => boolean = () => false): string | null {
  const words = [...new Set(contentWords(text))].slice(0, 32);
  if (words.length === 0) return null;
  const kept = words.filter((word) => !isTooCommon(word));
  // A query made only of common words still searches for them (slow, but what was asked).
  return (kept.length > 0 ? kept : words).map((word) => `"${word}"`).join(' OR ');
}

/**
 * A query term found in more than this share of the memories is left out of the full-text query:
 * its BM25 weight is close to zero (IDF ≈ ln 10 ≈ 2.3 at 10%, against ≈ 11 for a rare term), and
 * matching it would make FTS5 rank a large part of the table. The vector part still sees it.
 */
export const COMMON_TERM_SHARE = 0.1;
/**
 * At most this many postings (documents matching a query word, summed over the words kept) are ranked
 * by FTS5: `ORDER BY rank LIMIT n` still scores every matching row, so its cost grows with the matches,
 * not with n. Rarest words are kept first (they carry the most BM25 weight: IDF falls with the count);
 * the more common ones add little to the ranking and the vector part still sees them. With 2 000, the
 * full-text stage takes p50 2.7 / p99 7.7 ms at 100k memories (bench/memory/stages.ts; docs/memory.md).
 */
export const FULL_TEXT_POSTINGS_BUDGET = 2_000;
/**
 * The hard bound behind the budget: FTS5 ranks at most this many matches (the newest) of any query,
 * e.g. one made only of common words (toFtsQuery keeps them then). See `fullText` in memory-statements.ts.
 */
export const FULL_TEXT_MAX_POSTINGS = 5_000;
/** Below this many memories every term is kept (ranking everything is cheap). */
const COMMON_TERM_MIN_MEMORIES = 1_000;
/**
 * How long the memory count and the words' document frequencies used for COMMON_TERM_SHARE and
 * FULL_TEXT_POSTINGS_BUDGET are reused. Counting a word's documents reads its whole doclist (fts5vocab),
 * ~0.6 ms for a word in half of 100k memories, and the common words are the ones queries repeat; a count
 * some seconds old is as good for deciding which words are common.
 */
const COUNT_CACHE_MS = 10_000;

export class SqliteMemoryStore implements MemoryStore {
  private readonly sql: MemoryStatements;
  private readonly index = new VectorIndex();
  /** Embedders whose vectors are in the index (or being loaded into it). */
  private readonly loadedEmbedders = new Set<string>();
  private readonly indexLoads = new Map<string, Promise<void>>();
  private countCache: { at: number; count: number; documents: Map<string, number> } | null = null;
  /** Memory id → persona, for the vectors in the index (visibility checks during a scan). */
  private readonly ownerOf = new Map<number, string>();
  /** Memory id → user, for the vectors in the index (user scoping during a scan). */
  private readonly userOf = new Map<number, string | null>();

  constructor(
    private readonly db: Database,
    private readonly path = db.name,
  ) {
    this.sql = prepareMemoryStatements(db);
  }

  private static partition(embedder: string, personaId: string): string {
    return `${embedder}\u0000${personaId}`;
  }

  async insert(memory: NewMemory, vectors: readonly MemoryVector[], now: number): Promise<Memory> {
    return this.write(() => this.insertRow(memory, vectors, now));
  }

  async replaceFormed(
    messageId: number,
    memories: ReadonlyArray<{ memory: NewMemory; vectors: readonly MemoryVector[] }>,
    now: number,
  ): Promise<Memory[]> {
    return this.write(() => {
      if (this.sql.isForgotten.get(messageId) !== undefined) return [];
      this.deleteRows(this.sql.formedFrom.all(messageId));
      return memories.map(({ memory, vectors }) => this.insertRow({ ...memory, messageId }, vectors, now));
    });
  }

  async get(id: number): Promise<Memory | null> {
    return this.read(() => {
      const row = this.sql.get.get(id);
      return row === undefined ? null : toMemory(row);
    });
  }

  async getMany(ids: readonly number[]): Promise<Memory[]> {
    if (ids.length === 0) return [];
    return this.read(() => this.sql.getMany.all(JSON.stringify(ids)).map(toMemory));
  }

  async update(id: number, changes: MemoryChanges, vectors: readonly MemoryVector[] | null, now: number): Promise<Memory | null> {
    return this.write(() => {
      const before = this.sql.get.get(id);
      if (before === undefined) return null;
      const sets: string[] = [];
      const params: Record<string, unknown> = { id };
      const columns: Array<[keyof MemoryChanges, string]> = [
        ['content', 'content'],
        ['kind', 'kind'],
        ['importance', 'importance'],
        ['importanceSource', 'importance_source'],
        ['visibility', 'visibility'],
      ];
      for (const [key, column] of columns) {
        if (changes[key] === undefined) continue;
        sets.push(`${column} = @${column}`);
        params[column] = changes[key];
      }
      if (changes.importance !== undefined) {
        sets.push('decayed_at = @now');
        params.now = now;
      }
      if (sets.length > 0) this.db.prepare(`UPDATE memories SET ${sets.join(', ')} WHERE id = @id`).run(params);
      if (
        changes.sharedWith !== undefined ||
        changes.sharedGroups !== undefined ||
        changes.visibility === 'private' ||
        changes.visibility === 'public'
      ) {
        const current = toMemory(before);
        const sharedWith = changes.sharedWith ?? current.sharedWith;
        const sharedGroups = changes.sharedGroups ?? current.sharedGroups;
        this.sql.clearShares.run(id);
        const visibility = changes.visibility ?? current.visibility;
        if (visibility === 'shared') this.addShares(id, sharedWith, sharedGroups);
      }
      if (vectors !== null) {
        this.sql.deleteVectors.run(id);
        this.index.removeEverywhere(id);
        for (const vector of vectors) this.putVector(id, before.persona_id, before.user_id, vector);
      }
      return toMemory(this.sql.get.get(id)!);
    });
  }

  async delete(ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.write(() => this.deleteRows(ids));
  }

  async list(query: MemoryListQuery): Promise<{ memories: Memory[]; total: number }> {
    return this.read(() => {
      const where: string[] = [];
      const params: Record<string, unknown> = { limit: query.limit, offset: query.offset };
      if (query.personaId !== undefined) {
        where.push('m.persona_id = @personaId');
        params.personaId = query.personaId;
      }
      if (query.kind !== undefined) {
        where.push('m.kind = @kind');
        params.kind = query.kind;
      }
      if (query.userId !== undefined) {
        where.push('m.user_id IS @userId');
        params.userId = query.userId;
      }
      if (query.sessionId !== undefined) {
        where.push('m.session_id = @sessionId');
        params.sessionId = query.sessionId;
      }
      const clause = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
      const total = this.db.prepare(`SELECT count(*) FROM memories m ${clause}`).pluck().get(params) as number;
      const rows = this.db
        .prepare(`${MEMORY_SELECT} ${clause} ORDER BY m.created_at DESC, m.id DESC LIMIT @limit OFFSET @offset`)
        .all(params) as MemoryRow[];
      return { memories: rows.map(toMemory), total };
    });
  }

  async fullTextSearch(query: string, scope: MemoryScope, limit: number): Promise<RankedId[]> {
    const match = this.read(() => toFtsQuery(query, this.commonTermFilter(query)));
    if ((await match) === null) return [];
    // The viewer's own memories are usually most of what it may see; scanning FULL_TEXT_SCAN × more
    // matches than wanted leaves room for the ones filtered out (other personas', unimportant ones).
    const scan = scope.viewerId === null ? limit : limit * FULL_TEXT_SCAN;
    const text = (await match)!;
    return this.read(() =>
      this.sql.fullText
        .all({ ...scopeParams(scope), match: text, limit, scan, postings: FULL_TEXT_MAX_POSTINGS })
        .map((row) => ({ id: row.id, score: row.rank })),
    );
  }

  async vectorSearch(embedder: string, vector: Float32Array, scope: MemoryScope, limit: number): Promise<RankedId[]> {
    await this.ensureIndexed(embedder);
    return this.read(() => {
      let partitions: string[];
      let accept: ((id: number) => boolean) | undefined;
      if (scope.viewerId === null) {
        partitions = [...this.sql.personaIds.all()].map((persona) => SqliteMemoryStore.partition(embedder, persona));
      } else {
        const own = SqliteMemoryStore.partition(embedder, scope.viewerId);
        partitions = [own];
        if (scope.includeShared || scope.includePublic) {
          const others = new Set(this.sql.visibleOthers.all(scopeParams(scope)));
          if (others.size > 0) {
            const viewer = scope.viewerId;
            partitions = [...this.sql.personaIds.all()].map((persona) => SqliteMemoryStore.partition(embedder, persona));
            accept = (id) => others.has(id) || this.ownerOf.get(id) === viewer;
          }
        }
      }
      if (scope.userId !== undefined) {
        const userId = scope.userId;
        const visible = accept;
        accept = (id) => this.userOf.get(id) === userId && (visible === undefined || visible(id));
      }
      return this.index.search(partitions, vector, limit, accept).map((hit) => ({ id: hit.id, score: hit.similarity }));
    });
  }

  /**
   * Which of the query's words to leave out of the full-text query (see toFtsQuery): those found in more
   * than COMMON_TERM_SHARE of the memories, and, rarest first, those past FULL_TEXT_POSTINGS_BUDGET.
   */
  private commonTermFilter(query: string): (word: string) => boolean {
    const now = Date.now();
    if (this.countCache === null || now - this.countCache.at > COUNT_CACHE_MS)
      this.countCache = { at: now, count: this.sql.countAll.get() ?? 0, documents: new Map() };
    const { count: total, documents: frequency } = this.countCache;
    if (total < COMMON_TERM_MIN_MEMORIES) return () => false;
    const stems = new Map(contentWords(query).map((word) => [word, stemmer(word)]));
    const unknown = [...new Set(stems.values())].filter((stem) => !frequency.has(stem));
    if (unknown.length > 0) {
      for (const stem of unknown) frequency.set(stem, 0);
      for (const row of this.sql.documentFrequency.all(JSON.stringify(unknown))) frequency.set(row.term, row.doc);
    }
    const documents = (word: string): number => frequency.get(stems.get(word) ?? word) ?? 0;
    const kept = new Set<string>();
    let postings = 0;
    for (const word of [...stems.keys()].sort((a, b) => documents(a) - documents(b))) {
      const n = documents(word);
      if (n > COMMON_TERM_SHARE * total) break;
      // The rarest word is always kept, whatever its count: it is the query's best lexical evidence.
      if (kept.size > 0 && postings + n > FULL_TEXT_POSTINGS_BUDGET) break;
      kept.add(word);
      postings += n;
    }
    return (word) => !kept.has(word);
  }

  async visibleTo(viewerId: string, memories: readonly Memory[]): Promise<boolean[]> {
    return this.read(() => {
      const params = scopeParams({ viewerId, includeShared: true, includePublic: true });
      return memories.map((memory) => this.sql.isVisible.get({ ...params, id: memory.id }) !== undefined);
    });
  }

  async recordAccess(ids: readonly number[], now: number, policy: DecayPolicy): Promise<void> {
    if (ids.length === 0) return;
    await this.write(() => {
      for (const id of ids) this.sql.touch.run({ id, now, reinforcement: policy.reinforcement });
    });
  }

  async missingVectors(embedder: string, limit: number): Promise<Array<{ id: number; content: string }>> {
    return this.read(() => this.sql.missingVectors.all(embedder, limit));
  }

  async setVector(id: number, vector: MemoryVector): Promise<void> {
    await this.write(() => {
      const row = this.sql.get.get(id);
      if (row !== undefined) this.putVector(id, row.persona_id, row.user_id, vector);
    });
  }

  async stats(userId?: string): Promise<MemoryStatsRecord> {
    return this.read(() => {
      const row = userId === undefined ? this.sql.stats.get()! : this.sql.userStats.get(userId)!;
      const byPersona: Record<string, number> = {};
      for (const entry of userId === undefined ? this.sql.byPersona.all() : this.sql.userByPersona.all(userId)) byPersona[entry.persona_id] = entry.n;
      return {
        total: row.total,
        byPersona,
        high: row.high,
        medium: row.medium,
        low: row.low,
        averageImportance: row.avg ?? 0,
        storageBytes: row.bytes ?? 0,
        shared: row.shared,
        public: row.public,
        crossReferences: (userId === undefined ? this.sql.crossReferences.get() : this.sql.userCrossReferences.get(userId)) ?? 0,
      };
    });
  }

  async personaIdsWithMemories(): Promise<string[]> {
    return this.read(() => this.sql.personaIds.all());
  }

  async pruneCandidates(personaId: string): Promise<PruneCandidate[]> {
    return this.read(() => this.sql.pruneCandidates.all(personaId));
  }

  async countFor(personaId: string | null): Promise<number> {
    return this.read(() => (personaId === null ? this.sql.countAll.get() : this.sql.countFor.get(personaId)) ?? 0);
  }

  async applyDecay(now: number, policy: DecayPolicy): Promise<DecayOutcome> {
    return this.write(() => {
      const personas = new Set<string>();
      let decayed = 0;
      let lost = 0;
      for (const row of this.sql.decayRows.all()) {
        personas.add(row.persona_id);
        const next = decayDue({ importance: row.importance, decayedAt: row.decayed_at, lastAccessedAt: row.last_accessed_at }, now, policy);
        if (row.importance - next > 1e-12) {
          decayed++;
          lost += row.importance - next;
        }
        this.sql.setDecayed.run({ id: row.id, importance: next, now });
      }
      return { personasProcessed: personas.size, memoriesDecayed: decayed, averageDecay: decayed === 0 ? 0 : lost / decayed };
    });
  }

  async recordRun(run: MaintenanceRun): Promise<void> {
    await this.write(() => {
      this.sql.recordRun.run({ ...run });
    });
  }

  async runs(kind: 'decay' | 'prune', limit: number): Promise<MaintenanceRun[]> {
    return this.read(() =>
      this.sql.runs.all(kind, limit).map((row) => ({
        kind: row.kind,
        personaId: row.persona_id,
        startedAt: row.started_at,
        processingMs: row.processing_ms,
        personasProcessed: row.personas_processed,
        memoriesAffected: row.memories_affected,
        averageValue: row.average_value,
      })),
    );
  }

  async runTotals(kind: 'decay' | 'prune'): Promise<{ runs: number; affected: number }> {
    return this.read(() => {
      const row = this.sql.runTotals.get(kind)!;
      return { runs: row.runs, affected: row.affected ?? 0 };
    });
  }

  async setGroup(groupId: string, personaIds: readonly string[]): Promise<void> {
    await this.write(() => {
      this.sql.clearGroup.run(groupId);
      for (const personaId of personaIds) this.sql.addToGroup.run(groupId, personaId);
    });
  }

  async groups(): Promise<Record<string, string[]>> {
    return this.read(() => {
      const groups: Record<string, string[]> = {};
      for (const row of this.sql.groups.all()) (groups[row.id] ??= []).push(row.persona_id);
      return groups;
    });
  }

  async markForgotten(messageIds: readonly number[], now: number): Promise<void> {
    await this.write(() => {
      for (const id of messageIds) this.sql.forget.run(id, now);
    });
  }

  async message(id: number): Promise<MessageText | null> {
    return this.read(() => {
      const row = this.sql.message.get(id);
      return row === undefined ? null : toMessage(row);
    });
  }

  async messagesAfter(conversationId: string, afterId: number, limit: number): Promise<MessageText[]> {
    return this.read(() => this.sql.messagesAfter.all(conversationId, afterId, limit).map(toMessage));
  }

  async countMessagesAfter(conversationId: string, afterId: number): Promise<number> {
    return this.read(() => this.sql.countMessagesAfter.get(conversationId, afterId) ?? 0);
  }

  async latestSummary(conversationId: string): Promise<Memory | null> {
    return this.read(() => {
      const row = this.sql.latestSummary.get(conversationId);
      return row === undefined ? null : toMemory(row);
    });
  }

  async summariesQuoting(snippets: readonly string[]): Promise<number[]> {
    return this.read(() => [
      ...new Set(snippets.filter((snippet) => snippet.length >= 8).flatMap((snippet) => this.sql.summariesContaining.all(snippet))),
    ]);
  }

  // helpers (synchronous, inside `read` or `write`)

  private insertRow(memory: NewMemory, vectors: readonly MemoryVector[], now: number): Memory {
    const { id } = this.sql.insert.get({
      persona_id: memory.personaId,
      kind: memory.kind,
      content: memory.content,
      importance: memory.importance,
      importance_source: memory.importanceSource,
      visibility: memory.visibility,
      user_id: memory.userId ?? null,
      session_id: memory.sessionId ?? null,
      conversation_id: memory.conversationId ?? null,
      message_id: memory.messageId ?? null,
      now,
    })!;
    if (memory.visibility === 'shared') this.addShares(id, memory.sharedWith ?? [], memory.sharedGroups ?? []);
    for (const vector of vectors) this.putVector(id, memory.personaId, memory.userId ?? null, vector);
    return toMemory(this.sql.get.get(id)!);
  }

  private addShares(id: number, personas: readonly string[], groups: readonly string[]): void {
    for (const persona of new Set(personas)) this.sql.addShare.run(id, persona, null);
    for (const group of new Set(groups)) this.sql.addShare.run(id, null, group);
  }

  private putVector(id: number, personaId: string, userId: string | null, { embedder, vector }: MemoryVector): void {
    this.sql.upsertVector.run(id, embedder, vectorToBlob(vector));
    this.ownerOf.set(id, personaId);
    this.userOf.set(id, userId);
    if (this.loadedEmbedders.has(embedder)) this.index.upsert(SqliteMemoryStore.partition(embedder, personaId), id, vector);
  }

  private deleteRows(ids: readonly number[]): number {
    const changes = this.sql.deleteMany.run(JSON.stringify(ids)).changes;
    for (const id of ids) {
      this.index.removeEverywhere(id);
      this.ownerOf.delete(id);
      this.userOf.delete(id);
    }
    return changes;
  }

  async warmUp(embedders: readonly string[]): Promise<void> {
    await Promise.all(embedders.map((embedder) => this.ensureIndexed(embedder)));
  }

  /**
   * Loads an embedder's vectors into the index once, a page at a time, yielding to the event loop
   * between pages so a large index never stalls other requests. Writes made meanwhile go straight into
   * the index (the embedder counts as indexed from the start), and re-reading them later is harmless.
   */
  private ensureIndexed(embedder: string): Promise<void> {
    let loading = this.indexLoads.get(embedder);
    if (loading === undefined) {
      this.loadedEmbedders.add(embedder);
      loading = this.loadIndex(embedder).catch((error: unknown) => {
        this.indexLoads.delete(embedder);
        this.loadedEmbedders.delete(embedder);
        throw translateSqliteError(error, this.path);
      });
      this.indexLoads.set(embedder, loading);
    }
    return loading;
  }

  private async loadIndex(embedder: string): Promise<void> {
    for (let after = 0; ;) {
      if (!this.db.open) return; // shut down while loading
      const rows = this.sql.vectorsPage.all(embedder, after, INDEX_PAGE);
      for (const row of rows) {
        this.index.upsert(SqliteMemoryStore.partition(embedder, row.persona_id), row.memory_id, blobToVector(row.vector));
        this.ownerOf.set(row.memory_id, row.persona_id);
        this.userOf.set(row.memory_id, row.user_id);
      }
      if (rows.length < INDEX_PAGE) return;
      after = rows.at(-1)!.memory_id;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private read<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(translateSqliteError(error, this.path));
    }
  }

  private write<T>(work: () => T): Promise<T> {
    return this.read(() => this.db.transaction(work).immediate());
  }
}
