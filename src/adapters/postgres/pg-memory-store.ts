/**
 * The memory repository (src/ports/memory.ts) on PostgreSQL: rows, shares and vectors (BYTEA, Float32
 * little-endian as in SQLite) in PostgreSQL, full-text search with its own `tsvector` and a GIN index,
 * and the approximate vector index (domain/memory/vector-index.ts) in each node's memory.
 *
 * Several nodes write the same tables, so each node's index is brought up to date before a vector
 * search: every vector write bumps `memory_vectors.seq`, every removal leaves a row in
 * `memory_vector_deletions` (a trigger), and the node applies the changes past the last sequence it saw,
 * in sequence order. It re-reads a window below that mark (`SEQ_OVERLAP`): a transaction may commit a
 * lower sequence number after a higher one was seen, and applying a change twice is harmless.
 */
import { decayDue, type DecayPolicy } from '../../domain/memory/decay.js';
import {
  EMPTY_THESAURUS,
  expansionTerms,
  MAX_QUERY_EXPANSION,
  QUERY_TERMS_PER_WORD,
  RECALL_TERMS_WEIGHT,
  recallTermsOf,
  type Thesaurus,
} from '../../domain/memory/expansion.js';
import type { Memory, NewMemory } from '../../domain/memory/memory.js';
import type { PruneCandidate } from '../../domain/memory/pruning.js';
import { contentWords } from '../../domain/memory/text.js';
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
  RankingFacts,
} from '../../ports/memory.js';
import {
  blobToVector,
  COMMON_TERM_SHARE,
  FULL_TEXT_MAX_POSTINGS,
  FULL_TEXT_POSTINGS_BUDGET,
  QUERY_EXPANSION_WEIGHT,
  rankTextCandidates,
  smoothIdf,
  stemsOf,
  vectorToBlob,
} from '../sqlite/memory-store.js';
import { toMemory, toMessage, type MemoryRow, type MessageTextRow } from '../sqlite/memory-statements.js';
import type { PostgresDatabase, TransactionClient } from './database.js';

type Db = Pick<TransactionClient, 'rows' | 'one' | 'query'>;

const INDEX_PAGE = 2_000;
/** Below this many memories every query word is kept (as in the SQLite store). */
const COMMON_TERM_MIN_MEMORIES = 1_000;
/** Below this many memories the cached document counts are dropped on every write of this node (see noteWrite). */
const SMALL_STORE = 20_000;
/** How long memory and document counts are reused for choosing which words are too common. */
const COUNT_CACHE_MS = 10_000;
const FULL_TEXT_SCAN = 20;
/** How far below its mark a node re-reads vector changes (see the file comment). */
const SEQ_OVERLAP = 256;
/** Removal records older than this are deleted at start: a node away longer reloads its whole index. */
const DELETIONS_KEPT = '1 day';

const MEMORY_SELECT = `
  SELECT m.id, m.persona_id, m.kind, m.content, m.importance, m.importance_source, m.visibility, m.user_id, m.session_id,
    m.conversation_id, m.message_id, m.created_at, m.last_accessed_at, m.access_count, m.decayed_at, m.type_label, m.doc2query,
    (SELECT json_agg(persona_id)::text FROM memory_shares WHERE memory_id = m.id AND persona_id IS NOT NULL) AS shared_with,
    (SELECT json_agg(group_id)::text FROM memory_shares WHERE memory_id = m.id AND group_id IS NOT NULL) AS shared_groups
  FROM memories m`;

/**
 * The visibility rule (domain/memory/visibility.ts) with the scope as $1 viewer, $2 includeShared,
 * $3 includePublic, $4 anyUser, $5 userId; `viewer` NULL means every memory.
 */
const VISIBLE = `(
  $1::text IS NULL OR m.persona_id = $1
  OR ($3::boolean AND m.visibility = 'public')
  OR ($2::boolean AND m.visibility = 'shared' AND EXISTS (
    SELECT 1 FROM memory_shares s WHERE s.memory_id = m.id
      AND (s.persona_id = $1 OR s.group_id IN (SELECT id FROM persona_groups WHERE persona_id = $1))))
)`;
const OF_USER = '($4::boolean OR m.user_id IS NOT DISTINCT FROM $5::text)';

function scopeValues(scope: MemoryScope): [string | null, boolean, boolean, boolean, string | null] {
  return [scope.viewerId, scope.includeShared === true, scope.includePublic === true, scope.userId === undefined, scope.userId ?? null];
}

/**
 * A user's words as a PostgreSQL `to_tsquery` text: content words only, letters and digits only (no
 * operator gets through), any of them may match. Null when nothing is left to search for.
 */
export function toTsQuery(text: string, isTooCommon: (word: string) => boolean = () => false): string | null {
  const words = queryWords(text);
  if (words.length === 0) return null;
  const kept = words.filter((word) => !isTooCommon(word));
  // A query made only of common words still searches for them (slow, but what was asked).
  return (kept.length > 0 ? kept : words).join(' | ');
}

/** The thesaurus terms of a query the filter keeps, as a `to_tsquery` text (null: none). */
export function toExpansionTsQuery(terms: readonly string[], isTooCommon: (word: string) => boolean = () => false): string | null {
  const kept = terms.filter((term) => /^[\p{L}\p{N}]+$/u.test(term) && !isTooCommon(term));
  return kept.length === 0 ? null : kept.join(' | ');
}

/**
 * `ts_rank` weights of {D, C, B, A}: the content is A (1), the recall terms B (RECALL_TERMS_WEIGHT), as
 * FTS5's `bm25(1.0, 0.35)` weighs SQLite's two columns.
 */
const RANK_WEIGHTS = `{0, 0, ${RECALL_TERMS_WEIGHT}, 1}`;

function queryWords(text: string): string[] {
  return [...new Set(contentWords(text).map((word) => word.replace(/[^\p{L}\p{N}]/gu, '')))].filter((word) => word.length > 0).slice(0, 32);
}

export class PostgresMemoryStore implements MemoryStore {
  private readonly index = new VectorIndex();
  private readonly indexLoads = new Map<string, Promise<void>>();
  /** Per embedder: the highest vector-change sequence applied to the index. */
  private readonly seenSeq = new Map<string, number>();
  private readonly ownerOf = new Map<number, string>();
  private readonly userOf = new Map<number, string | null>();
  private cleaned = false;
  /** The memory count, and per word the memories matching it anywhere / in their own text. */
  private countCache: { at: number; count: number; documents: Map<string, number>; contentDocuments: Map<string, number> } | null = null;

  private readonly thesaurus: Thesaurus;

  constructor(
    private readonly db: PostgresDatabase,
    options: {
      /** Offline paraphrase recall (domain/memory/expansion.ts); without it, memories are found by their words only. */
      thesaurus?: Thesaurus;
    } = {},
  ) {
    this.thesaurus = options.thesaurus ?? EMPTY_THESAURUS;
  }

  /** The thesaurus version memories are expanded with (the `memory.expand` job brings older ones up to it). */
  get expansionVersion(): string {
    return this.thesaurus.version;
  }

  /**
   * Keeps this node's cached counts right after its own writes (as the SQLite store does): the memory
   * count; the words' document counts are dropped in a small store, where one memory changes them
   * noticeably. Other nodes' writes show within COUNT_CACHE_MS.
   */
  private noteWrite(addedMemories: number): void {
    if (this.countCache === null) return;
    this.countCache.count = Math.max(0, this.countCache.count + addedMemories);
    if (this.countCache.count < SMALL_STORE) {
      this.countCache.documents.clear();
      this.countCache.contentDocuments.clear();
    }
  }

  private static partition(embedder: string, personaId: string): string {
    return `${embedder}\u0000${personaId}`;
  }

  insert(memory: NewMemory, vectors: readonly MemoryVector[], now: number): Promise<Memory> {
    return this.db.transaction((tx) => this.insertRow(tx, memory, vectors, now));
  }

  replaceFormed(messageId: number, memories: ReadonlyArray<{ memory: NewMemory; vectors: readonly MemoryVector[] }>, now: number): Promise<Memory[]> {
    return this.db.transaction(async (tx) => {
      // Two nodes forming memories of one message at once would both delete then both insert.
      await tx.lock(`formed:${messageId}`);
      if ((await tx.one('SELECT 1 AS x FROM forgotten_messages WHERE message_id = $1', [messageId])) !== null) return [];
      const formed = (await tx.rows<{ id: number }>("SELECT id FROM memories WHERE message_id = $1 AND kind <> 'summary'", [messageId])).map((row) => row.id);
      await this.deleteRows(tx, formed);
      const inserted: Memory[] = [];
      for (const { memory, vectors } of memories) inserted.push(await this.insertRow(tx, { ...memory, messageId }, vectors, now));
      return inserted;
    });
  }

  replaceFormedMany(
    formations: ReadonlyArray<{ messageId: number; memories: ReadonlyArray<{ memory: NewMemory; vectors: readonly MemoryVector[] }> }>,
    now: number,
  ): Promise<Memory[][]> {
    return this.db.transaction(async (tx) => {
      // The messages' locks in one order, so two nodes forming overlapping batches cannot deadlock.
      for (const messageId of [...new Set(formations.map((formation) => formation.messageId))].sort((a, b) => a - b)) await tx.lock(`formed:${messageId}`);
      const stored: Memory[][] = [];
      for (const { messageId, memories } of formations) {
        if ((await tx.one('SELECT 1 AS x FROM forgotten_messages WHERE message_id = $1', [messageId])) !== null) {
          stored.push([]);
          continue;
        }
        const formed = (await tx.rows<{ id: number }>("SELECT id FROM memories WHERE message_id = $1 AND kind <> 'summary'", [messageId])).map((row) => row.id);
        await this.deleteRows(tx, formed);
        const inserted: Memory[] = [];
        for (const { memory, vectors } of memories) inserted.push(await this.insertRow(tx, { ...memory, messageId }, vectors, now));
        stored.push(inserted);
      }
      return stored;
    });
  }

  async get(id: number): Promise<Memory | null> {
    const row = await this.db.one<MemoryRow>(`${MEMORY_SELECT} WHERE m.id = $1`, [id]);
    return row === null ? null : toMemory(row);
  }

  async getMany(ids: readonly number[]): Promise<Memory[]> {
    if (ids.length === 0) return [];
    return (await this.db.rows<MemoryRow>(`${MEMORY_SELECT} WHERE m.id = ANY($1::bigint[])`, [ids])).map(toMemory);
  }

  async idsFromMessage(messageId: number): Promise<number[]> {
    return (await this.db.rows<{ id: number }>('SELECT id FROM memories WHERE message_id = $1', [messageId])).map((row) => row.id);
  }

  async rankingFacts(ids: readonly number[]): Promise<RankingFacts[]> {
    if (ids.length === 0) return [];
    return this.db.rows<RankingFacts>('SELECT id, importance, last_accessed_at AS "lastAccessedAt" FROM memories WHERE id = ANY($1::bigint[])', [ids]);
  }

  update(id: number, changes: MemoryChanges, vectors: readonly MemoryVector[] | null, now: number): Promise<Memory | null> {
    return this.db.transaction(async (tx) => {
      const before = await tx.one<MemoryRow>(`${MEMORY_SELECT} WHERE m.id = $1 FOR UPDATE OF m`, [id]);
      if (before === null) return null;
      const sets: string[] = [];
      const values: unknown[] = [id];
      const columns: Array<[keyof MemoryChanges, string]> = [
        ['content', 'content'],
        ['kind', 'kind'],
        ['importance', 'importance'],
        ['importanceSource', 'importance_source'],
        ['visibility', 'visibility'],
      ];
      for (const [key, column] of columns) {
        if (changes[key] === undefined) continue;
        values.push(changes[key]);
        sets.push(`${column} = $${values.length}`);
      }
      if (changes.importance !== undefined) {
        values.push(now);
        sets.push(`decayed_at = $${values.length}`);
      }
      // The old canonical fact and questions described the old text: they go, and the terms follow the new one.
      if (changes.content !== undefined && changes.content !== before.content) {
        values.push(recallTermsOf(changes.content, this.thesaurus), this.thesaurus.version);
        sets.push('doc2query = NULL', `recall_terms = $${values.length - 1}`, `expanded_with = $${values.length}`);
        this.noteWrite(0);
      }
      if (changes.label !== undefined) {
        values.push(changes.label);
        sets.push(`type_label = $${values.length}`);
      }
      if (sets.length > 0) await tx.query(`UPDATE memories SET ${sets.join(', ')} WHERE id = $1`, values);
      if (changes.sharedWith !== undefined || changes.sharedGroups !== undefined || changes.visibility === 'private' || changes.visibility === 'public') {
        const current = toMemory(before);
        await tx.query('DELETE FROM memory_shares WHERE memory_id = $1', [id]);
        if ((changes.visibility ?? current.visibility) === 'shared') {
          await this.addShares(tx, id, changes.sharedWith ?? current.sharedWith, changes.sharedGroups ?? current.sharedGroups);
        }
      }
      if (vectors !== null) {
        await tx.query('DELETE FROM memory_vectors WHERE memory_id = $1', [id]);
        this.index.removeEverywhere(id);
        for (const vector of vectors) await this.putVector(tx, id, before.persona_id, before.user_id, vector);
      }
      return toMemory((await tx.one<MemoryRow>(`${MEMORY_SELECT} WHERE m.id = $1`, [id]))!);
    });
  }

  async delete(ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    return this.db.transaction((tx) => this.deleteRows(tx, ids));
  }

  async list(query: MemoryListQuery): Promise<{ memories: Memory[]; total: number }> {
    const where: string[] = [];
    const values: unknown[] = [];
    const add = (clause: (n: string) => string, value: unknown): void => {
      values.push(value);
      where.push(clause(`$${values.length}`));
    };
    if (query.personaId !== undefined) add((n) => `m.persona_id = ${n}`, query.personaId);
    if (query.kind !== undefined) add((n) => `m.kind = ${n}`, query.kind);
    if (query.label !== undefined) add((n) => `m.type_label = ${n}`, query.label);
    if (query.userId !== undefined) add((n) => `m.user_id IS NOT DISTINCT FROM ${n}::text`, query.userId);
    if (query.sessionId !== undefined) add((n) => `m.session_id = ${n}`, query.sessionId);
    const clause = where.length === 0 ? '' : `WHERE ${where.join(' AND ')}`;
    const total = (await this.db.one<{ n: number }>(`SELECT count(*) AS n FROM memories m ${clause}`, values))!.n;
    const rows = await this.db.rows<MemoryRow>(
      `${MEMORY_SELECT} ${clause} ORDER BY m.created_at DESC, m.id DESC LIMIT $${values.length + 1} OFFSET $${values.length + 2}`,
      [...values, query.limit, query.offset],
    );
    return { memories: rows.map(toMemory), total };
  }

  /**
   * Full-text hits, most relevant first, as the SQLite store finds them (its `fullTextSearch`): two passes,
   * the query's words then its thesaurus terms, each ranking the newest FULL_TEXT_MAX_POSTINGS matches of
   * `search_tsv` with `ts_rank` (the content weighing 1, the recall terms RECALL_TERMS_WEIGHT) before
   * visibility is applied to the best ones; `relevance` is the share of the query the memory covers
   * (`lexicalCoverage`, with document frequencies from the GIN indexes) and `literal` the share of its
   * words the memory says itself (`literalCoverage`). The score is the rank negated: lower is better,
   * like BM25.
   */
  async fullTextSearch(query: string, scope: MemoryScope, limit: number): Promise<RankedId[]> {
    const extra = expansionTerms(query, this.thesaurus, QUERY_TERMS_PER_WORD, MAX_QUERY_EXPANSION);
    const terms = await this.termStatistics(query, extra);
    const own = toTsQuery(query, terms.isTooCommon);
    if (own === null) return [];
    const expanded = toExpansionTsQuery(extra, terms.isTooCommon);
    const scan = scope.viewerId === null ? limit : limit * FULL_TEXT_SCAN;
    const run = (text: string): Promise<Array<{ id: number; rank: number }>> =>
      this.db.rows<{ id: number; rank: number }>(
        `WITH q AS (SELECT to_tsquery('english', $6) AS query),
         matches AS (SELECT m.id, m.search_tsv FROM memories m, q WHERE m.search_tsv @@ q.query ORDER BY m.id DESC LIMIT $9),
         ranked AS (SELECT matches.id, ts_rank($11::float4[], matches.search_tsv, q.query, 1) AS rank FROM matches, q ORDER BY rank DESC LIMIT $8)
         SELECT m.id, ranked.rank FROM ranked JOIN memories m ON m.id = ranked.id
         WHERE m.importance >= $7 AND ${VISIBLE} AND ${OF_USER}
         ORDER BY ranked.rank DESC, m.id DESC LIMIT $10`,
        [...scopeValues(scope), text, scope.minImportance ?? 0, scan, FULL_TEXT_MAX_POSTINGS, limit, RANK_WEIGHTS],
      );
    // Two passes, so a match of the query's words is never crowded out by its thesaurus terms.
    const rank = new Map((await run(own)).map((row) => [row.id, row.rank]));
    if (expanded !== null) for (const row of await run(expanded)) rank.set(row.id, (rank.get(row.id) ?? 0) + QUERY_EXPANSION_WEIGHT * row.rank);
    if (rank.size === 0) return [];
    const texts = await this.db.rows<{ id: number; content: string; recall_terms: string }>(
      'SELECT id, content, recall_terms FROM memories WHERE id = ANY($1::bigint[])',
      [[...rank.keys()]],
    );
    return rankTextCandidates(terms, texts, rank, limit);
  }

  /**
   * The SQLite store's rule (its `termStatistics`): from the words' document frequencies, which to leave
   * out of the query (found in more than COMMON_TERM_SHARE of the memories, or, rarest first, past the
   * postings budget; the query's own words before its thesaurus terms), and the IDF of the query's words
   * and terms for `lexicalCoverage` and `literalCoverage`. Counts come from the GIN indexes (PostgreSQL
   * stems the word as it indexed it): `search_tsv` for what a query matches, `content_tsv` for what the
   * memories say themselves; cached COUNT_CACHE_MS.
   */
  private async termStatistics(
    query: string,
    extra: readonly string[],
  ): Promise<{ isTooCommon: (word: string) => boolean; own: Map<string, number>; expansion: Map<string, number>; literal: Map<string, number> }> {
    const now = Date.now();
    if (this.countCache === null || now - this.countCache.at > COUNT_CACHE_MS) {
      this.countCache = {
        at: now,
        count: (await this.db.one<{ n: number }>('SELECT count(*) AS n FROM memories'))!.n,
        documents: new Map(),
        contentDocuments: new Map(),
      };
    }
    const { count: total, documents: frequency, contentDocuments } = this.countCache;
    const own = queryWords(query);
    const searchable = extra.filter((term) => /^[\p{L}\p{N}]+$/u.test(term));
    const unknown = [...new Set([...own, ...searchable])].filter((word) => !frequency.has(word));
    if (unknown.length > 0) {
      const rows = await this.db.rows<{ word: string; n: number; content_n: number }>(
        `SELECT w.word,
           (SELECT count(*) FROM memories m WHERE m.search_tsv @@ plainto_tsquery('english', w.word)) AS n,
           (SELECT count(*) FROM memories m WHERE m.content_tsv @@ plainto_tsquery('english', w.word)) AS content_n
         FROM unnest($1::text[]) AS w (word)`,
        [unknown],
      );
      for (const row of rows) {
        frequency.set(row.word, row.n);
        contentDocuments.set(row.word, row.content_n);
      }
    }
    const documents = (word: string): number => frequency.get(word) ?? 0;
    // Keyed by the Porter stem, as lexicalCoverage compares them with the memories' stems.
    const idf = (words: readonly string[], counts: ReadonlyMap<string, number>): Map<string, number> =>
      new Map(words.map((word) => [[...stemsOf(word)][0] ?? word, smoothIdf(counts.get(word) ?? 0, total)]));
    const weights = { own: idf(own, frequency), expansion: idf(searchable, frequency), literal: idf(own, contentDocuments) };
    if (total < COMMON_TERM_MIN_MEMORIES) return { isTooCommon: () => false, ...weights };
    const kept = new Set<string>();
    let postings = 0;
    const byRarity = (a: string, b: string): number => documents(a) - documents(b);
    for (const [index, word] of [...[...own].sort(byRarity), ...[...searchable].sort(byRarity)].entries()) {
      const n = documents(word);
      if (n > COMMON_TERM_SHARE * total) continue;
      // The rarest word is always kept, whatever its count: it is the query's best lexical evidence.
      if (!(index === 0 && kept.size === 0) && postings + n > FULL_TEXT_POSTINGS_BUDGET) continue;
      kept.add(word);
      postings += n;
    }
    return { isTooCommon: (word) => !kept.has(word), ...weights };
  }

  async vectorSearch(embedder: string, vector: Float32Array, scope: MemoryScope, limit: number): Promise<RankedId[]> {
    await this.ensureIndexed(embedder);
    await this.catchUp(embedder);
    const personaIds = async (): Promise<string[]> => (await this.db.rows<{ persona_id: string }>('SELECT DISTINCT persona_id FROM memories')).map((row) => row.persona_id);
    let partitions: string[];
    let accept: ((id: number) => boolean) | undefined;
    if (scope.viewerId === null) {
      partitions = (await personaIds()).map((persona) => PostgresMemoryStore.partition(embedder, persona));
    } else {
      partitions = [PostgresMemoryStore.partition(embedder, scope.viewerId)];
      if (scope.includeShared || scope.includePublic) {
        const others = new Set(
          (await this.db.rows<{ id: number }>(`SELECT m.id FROM memories m WHERE m.visibility <> 'private' AND m.persona_id <> $1 AND ${VISIBLE} AND ${OF_USER}`, scopeValues(scope))).map(
            (row) => row.id,
          ),
        );
        if (others.size > 0) {
          const viewer = scope.viewerId;
          partitions = (await personaIds()).map((persona) => PostgresMemoryStore.partition(embedder, persona));
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
  }

  async visibleTo(viewerId: string, memories: readonly Memory[]): Promise<boolean[]> {
    if (memories.length === 0) return [];
    const visible = new Set(
      (
        await this.db.rows<{ id: number }>(`SELECT m.id FROM memories m WHERE m.id = ANY($6::bigint[]) AND ${VISIBLE} AND ${OF_USER}`, [
          ...scopeValues({ viewerId, includeShared: true, includePublic: true }),
          memories.map((memory) => memory.id),
        ])
      ).map((row) => row.id),
    );
    return memories.map((memory) => visible.has(memory.id));
  }

  /** A recall is an access, not a reward: importance is not raised (docs/memory.md, Retrieval). */
  async recordAccess(ids: readonly number[], now: number): Promise<void> {
    if (ids.length === 0) return;
    await this.db.query('UPDATE memories SET last_accessed_at = $2, access_count = access_count + 1 WHERE id = ANY($1::bigint[])', [ids, now]);
  }

  async setDoc2Query(id: number, text: string | null): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      const row = await tx.one<{ content: string }>('SELECT content FROM memories WHERE id = $1 FOR UPDATE', [id]);
      if (row === null) return false;
      await tx.query('UPDATE memories SET doc2query = $2, recall_terms = $3, expanded_with = $4 WHERE id = $1', [
        id,
        text,
        recallTermsOf(row.content, this.thesaurus, text),
        this.thesaurus.version,
      ]);
      this.noteWrite(0);
      return true;
    });
  }

  /**
   * The `memory.expand` backfill: the next `limit` memories after `afterId` whose recall terms were made
   * with another thesaurus (or none), brought up to this one. Null when none is left.
   */
  async expandStale(afterId: number, limit: number): Promise<{ lastId: number; expanded: number } | null> {
    const rows = await this.db.rows<{ id: number; content: string; doc2query: string | null }>(
      'SELECT id, content, doc2query FROM memories WHERE id > $1 AND expanded_with IS DISTINCT FROM $2 ORDER BY id LIMIT $3',
      [afterId, this.thesaurus.version, limit],
    );
    if (rows.length === 0) return null;
    await this.db.query(
      `UPDATE memories SET recall_terms = changed.terms, expanded_with = $3
       FROM unnest($1::bigint[], $2::text[]) AS changed (id, terms) WHERE memories.id = changed.id`,
      [rows.map((row) => row.id), rows.map((row) => recallTermsOf(row.content, this.thesaurus, row.doc2query)), this.thesaurus.version],
    );
    this.noteWrite(0);
    return { lastId: rows.at(-1)!.id, expanded: rows.length };
  }

  async userFacts(personaId: string, userId: string | null | undefined, limit: number): Promise<Memory[]> {
    const rows = await this.db.rows<MemoryRow>(
      `${MEMORY_SELECT} WHERE m.persona_id = $1 AND m.kind = 'user_fact' AND ($2::boolean OR m.user_id IS NOT DISTINCT FROM $3::text)
       ORDER BY m.importance DESC, m.created_at DESC, m.id DESC LIMIT $4`,
      [personaId, userId === undefined, userId ?? null, limit],
    );
    return rows.map(toMemory);
  }

  indexProgress(): Array<{ embedder: string; vectors: number; loading: boolean }> {
    return [...this.seenSeq.keys()].map((embedder) => ({
      embedder,
      vectors: this.index.sizeWithPrefix(PostgresMemoryStore.partition(embedder, '')),
      loading: this.indexLoads.has(embedder) && !this.seenSeq.has(embedder),
    }));
  }

  async missingVectors(embedder: string, limit: number): Promise<Array<{ id: number; content: string }>> {
    return this.db.rows<{ id: number; content: string }>(
      'SELECT id, content FROM memories m WHERE NOT EXISTS (SELECT 1 FROM memory_vectors v WHERE v.memory_id = m.id AND v.embedder = $1) ORDER BY id LIMIT $2',
      [embedder, limit],
    );
  }

  async setVector(id: number, vector: MemoryVector): Promise<void> {
    await this.db.transaction(async (tx) => {
      const row = await tx.one<{ persona_id: string; user_id: string | null }>('SELECT persona_id, user_id FROM memories WHERE id = $1', [id]);
      if (row !== null) await this.putVector(tx, id, row.persona_id, row.user_id, vector);
    });
  }

  async stats(): Promise<MemoryStatsRecord> {
    const row = (await this.db.one<{ total: number; high: number; medium: number; low: number; avg: number | null; bytes: number | null; shared: number; public: number }>(
      `SELECT count(*) AS total,
         count(*) FILTER (WHERE importance >= 0.7) AS high,
         count(*) FILTER (WHERE importance >= 0.4 AND importance < 0.7) AS medium,
         count(*) FILTER (WHERE importance < 0.4) AS low,
         avg(importance) AS avg,
         coalesce(sum(octet_length(content)), 0) + coalesce((SELECT sum(octet_length(vector)) FROM memory_vectors), 0) AS bytes,
         count(*) FILTER (WHERE visibility = 'shared') AS shared,
         count(*) FILTER (WHERE visibility = 'public') AS public
       FROM memories`,
    ))!;
    const byPersona: Record<string, number> = {};
    for (const entry of await this.db.rows<{ persona_id: string; n: number }>('SELECT persona_id, count(*) AS n FROM memories GROUP BY persona_id ORDER BY persona_id'))
      byPersona[entry.persona_id] = entry.n;
    return {
      total: row.total,
      byPersona,
      high: row.high,
      medium: row.medium,
      low: row.low,
      averageImportance: row.total === 0 ? 0 : (row.avg ?? 0),
      storageBytes: row.total === 0 ? 0 : (row.bytes ?? 0),
      shared: row.shared,
      public: row.public,
      crossReferences: (await this.db.one<{ n: number }>('SELECT count(*) AS n FROM memory_shares'))!.n,
    };
  }

  async personaIdsWithMemories(): Promise<string[]> {
    return (await this.db.rows<{ persona_id: string }>('SELECT DISTINCT persona_id FROM memories ORDER BY persona_id')).map((row) => row.persona_id);
  }

  async pruneCandidates(personaId: string): Promise<PruneCandidate[]> {
    return this.db.rows<{ id: number; importance: number; lastAccessedAt: number }>(
      'SELECT id, importance, last_accessed_at AS "lastAccessedAt" FROM memories WHERE persona_id = $1',
      [personaId],
    );
  }

  async countFor(personaId: string | null): Promise<number> {
    const row =
      personaId === null
        ? await this.db.one<{ n: number }>('SELECT count(*) AS n FROM memories')
        : await this.db.one<{ n: number }>('SELECT count(*) AS n FROM memories WHERE persona_id = $1', [personaId]);
    return row?.n ?? 0;
  }

  applyDecay(now: number, policy: DecayPolicy): Promise<DecayOutcome> {
    return this.db.transaction(async (tx) => {
      // One node decays at a time; a second waits and then finds nothing left to decay since `now`.
      await tx.lock('memory-decay');
      const personas = new Set<string>();
      let decayed = 0;
      let lost = 0;
      const ids: number[] = [];
      const importances: number[] = [];
      for (const row of await tx.rows<{ id: number; persona_id: string; importance: number; decayed_at: number; last_accessed_at: number }>(
        // FOR UPDATE: a `memory.update` of a memory's importance on another node waits for this pass
        // (and then changes the decayed figure) instead of being overwritten by it.
        'SELECT id, persona_id, importance, decayed_at, last_accessed_at FROM memories FOR UPDATE',
      )) {
        personas.add(row.persona_id);
        const next = decayDue({ importance: row.importance, decayedAt: row.decayed_at, lastAccessedAt: row.last_accessed_at }, now, policy);
        if (row.importance - next > 1e-12) {
          decayed++;
          lost += row.importance - next;
        }
        ids.push(row.id);
        importances.push(next);
      }
      if (ids.length > 0) {
        await tx.query(
          `UPDATE memories SET importance = changed.importance, decayed_at = $3
           FROM unnest($1::bigint[], $2::double precision[]) AS changed (id, importance) WHERE memories.id = changed.id`,
          [ids, importances, now],
        );
      }
      return { personasProcessed: personas.size, memoriesDecayed: decayed, averageDecay: decayed === 0 ? 0 : lost / decayed };
    });
  }

  async recordRun(run: MaintenanceRun): Promise<void> {
    await this.db.query(
      `INSERT INTO memory_maintenance_runs (kind, persona_id, started_at, processing_ms, personas_processed, memories_affected, average_value)
       VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [run.kind, run.personaId, run.startedAt, run.processingMs, run.personasProcessed, run.memoriesAffected, run.averageValue],
    );
  }

  async runs(kind: 'decay' | 'prune', limit: number): Promise<MaintenanceRun[]> {
    const rows = await this.db.rows<{
      kind: 'decay' | 'prune';
      persona_id: string | null;
      started_at: number;
      processing_ms: number;
      personas_processed: number;
      memories_affected: number;
      average_value: number;
    }>('SELECT * FROM memory_maintenance_runs WHERE kind = $1 ORDER BY id DESC LIMIT $2', [kind, limit]);
    return rows.map((row) => ({
      kind: row.kind,
      personaId: row.persona_id,
      startedAt: row.started_at,
      processingMs: row.processing_ms,
      personasProcessed: row.personas_processed,
      memoriesAffected: row.memories_affected,
      averageValue: row.average_value,
    }));
  }

  async runTotals(kind: 'decay' | 'prune'): Promise<{ runs: number; affected: number }> {
    const row = (await this.db.one<{ runs: number; affected: number | null }>(
      'SELECT count(*) AS runs, sum(memories_affected) AS affected FROM memory_maintenance_runs WHERE kind = $1',
      [kind],
    ))!;
    return { runs: row.runs, affected: row.affected ?? 0 };
  }

  async setGroup(groupId: string, personaIds: readonly string[]): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('DELETE FROM persona_groups WHERE id = $1', [groupId]);
      for (const personaId of new Set(personaIds)) {
        await tx.query('INSERT INTO persona_groups (id, persona_id) VALUES ($1, $2) ON CONFLICT DO NOTHING', [groupId, personaId]);
      }
    });
  }

  async groups(): Promise<Record<string, string[]>> {
    const groups: Record<string, string[]> = {};
    for (const row of await this.db.rows<{ id: string; persona_id: string }>('SELECT id, persona_id FROM persona_groups ORDER BY id, persona_id'))
      (groups[row.id] ??= []).push(row.persona_id);
    return groups;
  }

  async markForgotten(messageIds: readonly number[], now: number): Promise<void> {
    if (messageIds.length === 0) return;
    await this.db.query('INSERT INTO forgotten_messages (message_id, forgotten_at) SELECT unnest($1::bigint[]), $2 ON CONFLICT DO NOTHING', [messageIds, now]);
  }

  async message(id: number): Promise<MessageText | null> {
    const row = await this.db.one<MessageTextRow>('SELECT id, conversation_id, role, persona_id, content, created_at FROM messages WHERE id = $1', [id]);
    return row === null ? null : toMessage(row);
  }

  async messagesAfter(conversationId: string, afterId: number, limit: number): Promise<MessageText[]> {
    return (
      await this.db.rows<MessageTextRow>(
        'SELECT id, conversation_id, role, persona_id, content, created_at FROM messages WHERE conversation_id = $1 AND id > $2 ORDER BY id LIMIT $3',
        [conversationId, afterId, limit],
      )
    ).map(toMessage);
  }

  async countMessagesAfter(conversationId: string, afterId: number, atMost: number): Promise<number> {
    const sql = 'SELECT count(*) AS n FROM (SELECT 1 FROM messages WHERE conversation_id = $1 AND id > $2 LIMIT $3) AS pending';
    return (await this.db.one<{ n: number }>(sql, [conversationId, afterId, atMost]))?.n ?? 0;
  }

  async latestSummary(conversationId: string): Promise<Memory | null> {
    const row = await this.db.one<MemoryRow>(`${MEMORY_SELECT} WHERE m.conversation_id = $1 AND m.kind = 'summary' ORDER BY m.id DESC LIMIT 1`, [conversationId]);
    return row === null ? null : toMemory(row);
  }

  async summariesQuoting(snippets: readonly string[]): Promise<number[]> {
    const wanted = snippets.filter((snippet) => snippet.length >= 8);
    if (wanted.length === 0) return [];
    const rows = await this.db.rows<{ id: number }>(
      "SELECT id FROM memories WHERE kind = 'summary' AND EXISTS (SELECT 1 FROM unnest($1::text[]) AS s (snippet) WHERE strpos(lower(content), lower(s.snippet)) > 0) ORDER BY id",
      [wanted],
    );
    return rows.map((row) => row.id);
  }

  async warmUp(embedders: readonly string[]): Promise<void> {
    await Promise.all(embedders.map((embedder) => this.ensureIndexed(embedder)));
  }

  // helpers

  private async insertRow(tx: Db, memory: NewMemory, vectors: readonly MemoryVector[], now: number): Promise<Memory> {
    const { id } = (await tx.one<{ id: number }>(
      `INSERT INTO memories (persona_id, kind, content, importance, importance_source, visibility, user_id, session_id, conversation_id, message_id,
         created_at, last_accessed_at, access_count, decayed_at, type_label, doc2query, recall_terms, expanded_with)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11, 0, $11, $12, $13, $14, $15) RETURNING id`,
      [
        memory.personaId,
        memory.kind,
        memory.content,
        memory.importance,
        memory.importanceSource,
        memory.visibility,
        memory.userId ?? null,
        memory.sessionId ?? null,
        memory.conversationId ?? null,
        memory.messageId ?? null,
        now,
        memory.label !== undefined && memory.label !== null && memory.label !== memory.kind ? memory.label : null,
        memory.doc2query ?? null,
        recallTermsOf(memory.content, this.thesaurus, memory.doc2query ?? null),
        this.thesaurus.version,
      ],
    ))!;
    this.noteWrite(1);
    if (memory.visibility === 'shared') await this.addShares(tx, id, memory.sharedWith ?? [], memory.sharedGroups ?? []);
    for (const vector of vectors) await this.putVector(tx, id, memory.personaId, memory.userId ?? null, vector);
    return toMemory((await tx.one<MemoryRow>(`${MEMORY_SELECT} WHERE m.id = $1`, [id]))!);
  }

  private async addShares(tx: Db, id: number, personas: readonly string[], groups: readonly string[]): Promise<void> {
    for (const persona of new Set(personas)) await tx.query('INSERT INTO memory_shares (memory_id, persona_id, group_id) VALUES ($1, $2, NULL) ON CONFLICT DO NOTHING', [id, persona]);
    for (const group of new Set(groups)) await tx.query('INSERT INTO memory_shares (memory_id, persona_id, group_id) VALUES ($1, NULL, $2) ON CONFLICT DO NOTHING', [id, group]);
  }

  private async putVector(tx: Db, id: number, personaId: string, userId: string | null, { embedder, vector }: MemoryVector): Promise<void> {
    await tx.query(
      `INSERT INTO memory_vectors (memory_id, embedder, vector) VALUES ($1, $2, $3)
       ON CONFLICT (memory_id, embedder) DO UPDATE SET vector = excluded.vector, seq = nextval('memory_vector_seq')`,
      [id, embedder, vectorToBlob(vector)],
    );
    this.ownerOf.set(id, personaId);
    this.userOf.set(id, userId);
    if (this.indexLoads.has(embedder)) this.index.upsert(PostgresMemoryStore.partition(embedder, personaId), id, vector);
  }

  private async deleteRows(tx: Db, ids: readonly number[]): Promise<number> {
    if (ids.length === 0) return 0;
    const result = await tx.query('DELETE FROM memories WHERE id = ANY($1::bigint[])', [ids]);
    this.noteWrite(-(result.rowCount ?? 0));
    for (const id of ids) {
      this.index.removeEverywhere(id);
      this.ownerOf.delete(id);
      this.userOf.delete(id);
    }
    return result.rowCount ?? 0;
  }

  private ensureIndexed(embedder: string): Promise<void> {
    let loading = this.indexLoads.get(embedder);
    if (loading === undefined) {
      loading = this.loadIndex(embedder).catch((error: unknown) => {
        this.indexLoads.delete(embedder);
        throw error;
      });
      this.indexLoads.set(embedder, loading);
    }
    return loading;
  }

  /** Loads an embedder's vectors a page at a time; the sequence mark is read first, so nothing written meanwhile is missed. */
  private async loadIndex(embedder: string): Promise<void> {
    if (!this.cleaned) {
      this.cleaned = true;
      await this.db.query(`DELETE FROM memory_vector_deletions WHERE deleted_at < now() - interval '${DELETIONS_KEPT}'`);
    }
    const mark = (await this.db.one<{ seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM memory_vectors WHERE embedder = $1', [embedder]))!.seq;
    const deletionMark = (await this.db.one<{ seq: number }>('SELECT coalesce(max(seq), 0) AS seq FROM memory_vector_deletions WHERE embedder = $1', [embedder]))!.seq;
    this.seenSeq.set(embedder, Math.max(mark, deletionMark));
    for (let after = 0; ; ) {
      if (this.db.isClosed) return;
      const rows = await this.db.rows<{ memory_id: number; persona_id: string; user_id: string | null; vector: Buffer }>(
        `SELECT v.memory_id, m.persona_id, m.user_id, v.vector FROM memory_vectors v JOIN memories m ON m.id = v.memory_id
         WHERE v.embedder = $1 AND v.memory_id > $2 ORDER BY v.memory_id LIMIT $3`,
        [embedder, after, INDEX_PAGE],
      );
      for (const row of rows) this.indexVector(embedder, row.memory_id, row.persona_id, row.user_id, blobToVector(row.vector));
      if (rows.length < INDEX_PAGE) return;
      after = rows.at(-1)!.memory_id;
    }
  }

  /** Applies the vector writes and removals other nodes made since this node's mark, in sequence order. */
  private async catchUp(embedder: string): Promise<void> {
    const from = Math.max(0, (this.seenSeq.get(embedder) ?? 0) - SEQ_OVERLAP);
    const [written, removed] = await Promise.all([
      this.db.rows<{ seq: number; memory_id: number; persona_id: string; user_id: string | null; vector: Buffer }>(
        `SELECT v.seq, v.memory_id, m.persona_id, m.user_id, v.vector FROM memory_vectors v JOIN memories m ON m.id = v.memory_id
         WHERE v.embedder = $1 AND v.seq > $2`,
        [embedder, from],
      ),
      this.db.rows<{ seq: number; memory_id: number }>('SELECT seq, memory_id FROM memory_vector_deletions WHERE embedder = $1 AND seq > $2', [embedder, from]),
    ]);
    type Change = { seq: number; memory_id: number; write: (typeof written)[number] | null };
    const changes: Change[] = [
      ...written.map((row) => ({ seq: row.seq, memory_id: row.memory_id, write: row })),
      ...removed.map((row) => ({ seq: row.seq, memory_id: row.memory_id, write: null })),
    ].sort((a, b) => a.seq - b.seq);
    let mark = this.seenSeq.get(embedder) ?? 0;
    for (const change of changes) {
      if (change.write === null) {
        // Sorted by sequence: a removal followed by a rewrite of the same vector leaves the rewrite.
        const owner = this.ownerOf.get(change.memory_id);
        if (owner !== undefined) this.index.remove(PostgresMemoryStore.partition(embedder, owner), change.memory_id);
      } else {
        const row = change.write;
        this.indexVector(embedder, row.memory_id, row.persona_id, row.user_id, blobToVector(row.vector));
      }
      mark = Math.max(mark, change.seq);
    }
    this.seenSeq.set(embedder, mark);
  }

  private indexVector(embedder: string, id: number, personaId: string, userId: string | null, vector: Float32Array): void {
    this.index.upsert(PostgresMemoryStore.partition(embedder, personaId), id, vector);
    this.ownerOf.set(id, personaId);
    this.userOf.set(id, userId);
  }
}
