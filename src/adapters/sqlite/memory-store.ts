/**
 * The memory repository (src/ports/memory.ts) on the store's SQLite connection: rows and FTS5 in
 * SQLite, vectors as Float32 BLOBs in `memory_vectors`, and an in-memory approximate index over them
 * (domain/memory/vector-index.ts), loaded per embedder on first use and kept in step with every write.
 * Partitions are per embedder and persona, so a persona's search scans only its own vectors plus the
 * few shared or public ones of others it may see.
 */
import { stemmer } from 'stemmer';
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
import { contentWords } from '../../domain/memory/text.js';
import type { Memory, NewMemory } from '../../domain/memory/memory.js';
import type { PruneCandidate } from '../../domain/memory/pruning.js';
import { VectorIndex } from '../../domain/memory/vector-index.js';
import type { JobCompletion, JointWrite } from '../../ports/jobs.js';
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
import type { Database } from './database.js';
import { completingTransaction, jointWrite } from './transactions.js';
import { translateSqliteError } from './errors.js';
import { type CoverageStemmer, ftsAverages, FullTextMirror, type MemoryTextRow, type RankedMatches } from './full-text-mirror.js';
import { MemoryReadCache } from './memory-read-cache.js';
import { ConnectionFollow, isTextChange } from './connection-follow.js';
import { PersonaMemoryCounts } from './persona-memory-counts.js';
import { MEMORY_SELECT, prepareMemoryStatements, toMemory, toMessage, type MemoryRow, type MemoryStatements, type ScopeParams } from './memory-statements.js';

/**
 * Vectors read per step when the index loads (between steps other requests run): ~15 µs CPU each (read
 * along the primary key, rotated, quantised), so a step holds the event loop ~10 ms.
 */
const INDEX_PAGE = 500;
/**
 * Longest a recall waits to be written (recordAccess) when no other write of the store takes it along:
 * its access time and count reach the file within this, and every read of the server sees them at once.
 */
const UNWRITTEN_RECALLS_MS = 1_000;
/**
 * A formation's write (background, one or more a turn) takes the recalls along only once they have waited
 * this long: every write took them before, so each turn's formation rewrote the rows its recall touched
 * (~6 UPDATEs of ~2 KB rows, a WAL page each, ~0.3 ms a turn). Turns that come faster than this have
 * their recalls gathered into one write (the same memories recalled again count once); a lone turn's are
 * written by the timer, in a commit of their own, within UNWRITTEN_RECALLS_MS as before.
 */
const FORMATION_TAKES_RECALLS_MS = UNWRITTEN_RECALLS_MS / 2;

/** Full-text matches ranked per result wanted before visibility filtering (see fullTextSearch). */
const FULL_TEXT_SCAN = 20;

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

/** Most content words of a query searched for (a pasted essay is not a search). */
const MAX_QUERY_WORDS = 32;

/**
 * A user's words as an FTS5 query: content words only (no stopwords), each quoted (no operator
 * injection), any of them may match. Null when nothing is left to search for.
 */
export function toFtsQuery(text: string, isTooCommon: (word: string) => boolean = () => false, operator: 'OR' | 'AND' = 'OR'): string | null {
  const words = queryWords(text, isTooCommon);
  return words === null ? null : words.map((word) => `"${word}"`).join(` ${operator} `);
}

/** The words `toFtsQuery` searches for, in order (null: none). */
function queryWords(text: string, isTooCommon: (word: string) => boolean): string[] | null {
  const words = [...new Set(contentWords(text))].slice(0, MAX_QUERY_WORDS);
  if (words.length === 0) return null;
  const kept = words.filter((word) => !isTooCommon(word));
  // A query made only of common words still searches for them (see fullTextSearch: newest matches, no BM25).
  return kept.length > 0 ? kept : words;
}

/** The thesaurus terms of a query the filter keeps, as an FTS5 query (null: none). */
export function toExpansionQuery(terms: readonly string[], isTooCommon: (word: string) => boolean = () => false): string | null {
  const kept = expansionWords(terms, isTooCommon);
  return kept === null ? null : kept.map((term) => `"${term}"`).join(' OR ');
}

function expansionWords(terms: readonly string[], isTooCommon: (word: string) => boolean): string[] | null {
  const kept = terms.filter((term) => /^[\p{L}\p{N}]+$/u.test(term) && !isTooCommon(term));
  return kept.length === 0 ? null : kept;
}

/**
 * Weight of a match through the query's own thesaurus terms against one through its words: a query
 * expanded to "country" for "Australia" should count less than the word itself, and a match of two
 * expansions (query term in the memory's recall terms) less still (this × RECALL_TERMS_WEIGHT).
 */
export const QUERY_EXPANSION_WEIGHT = 0.35;
/**
 * Most relevance the query's thesaurus terms alone can give a memory: many of them (a query word has up
 * to 16) may each match a little, and the sum must not pass for a match of the query's own words —
 * "explain photosynthesis" expands to "say, tell, express", which a memory about speaking Japanese holds.
 * Kept below the relevance floor, so such a memory is recalled only with evidence from the query's words.
 */
export const EXPANSION_RELEVANCE_CAP = 0.15;

/**
 * Inverse document frequency as Lucene smooths it, ln(1 + (N − n + 0.5) / (n + 0.5)): always positive,
 * unlike FTS5's BM25 IDF, which is ~0 for a word in half the memories — every word of a store of two.
 */
export function smoothIdf(documents: number, total: number): number {
  return Math.log(1 + (Math.max(0, total - documents) + 0.5) / (documents + 0.5));
}

const stems = new Map<string, string>();
/** Porter stem (as FTS5's `porter` tokenizer makes), cached: memories repeat their words. */
function stemOf(word: string): string {
  let stem = stems.get(word);
  if (stem === undefined) {
    if (stems.size >= 200_000) stems.clear();
    stem = stemmer(word);
    stems.set(word, stem);
  }
  return stem;
}

/** A character beyond ASCII. Lower-case ASCII text is its own NFKC form and its letters and digits are [a-z0-9]: it needs no normalising. */
const NOT_ASCII = /[^\p{ASCII}]/u;

/** The distinct stems of a text's words, in order of first appearance (a memory's coverage stems, a query's). */
export function stemsOf(text: string): Set<string> {
  const lower = text.toLowerCase();
  const words = NOT_ASCII.test(lower) ? lower.normalize('NFKC').match(/[\p{L}\p{N}]+/gu) : lower.match(/[a-z0-9]+/g);
  const stems = new Set<string>();
  for (const word of words ?? []) stems.add(stemOf(word));
  return stems;
}

/** Coverage's stems for the full-text mirror: of a text, and of one of its lower-cased ASCII words. */
export const COVERAGE_STEMMER: CoverageStemmer = { stemsOf, stemOf };

/**
 * How much of a query a memory covers, 0..1 (issue 13: an absolute lexical relevance, so "nothing
 * relevant" can be told): the IDF-weighted share of the query's own words the memory holds — a word in
 * its text counts 1, in its recall terms RECALL_TERMS_WEIGHT — plus the query's thesaurus terms it
 * holds, weighted QUERY_EXPANSION_WEIGHT and capped at EXPANSION_RELEVANCE_CAP in all.
 */
export function lexicalCoverage(
  query: { own: ReadonlyMap<string, number>; expansion: ReadonlyMap<string, number> },
  memory: { content: ReadonlySet<string>; recallTerms: ReadonlySet<string> },
): number {
  return preparedCoverage(prepareCoverage({ ...query, literal: new Map() }), memory);
}

/**
 * A query's terms for `lexicalCoverage` and `literalCoverage` as arrays, made once per search: a chat
 * turn measures ~100 candidates against ~66 stems, and walking the Maps' entries for each candidate was
 * most of the work. The sums are taken in the same order, so the results are the same to the bit.
 */
interface PreparedCoverage {
  ownStems: string[];
  ownIdf: number[];
  ownTotal: number;
  /** The thesaurus terms that are not also own stems, each with QUERY_EXPANSION_WEIGHT × its IDF. */
  expansionStems: string[];
  expansionWeights: number[];
  literalStems: string[];
  literalIdf: number[];
  literalTotal: number;
}

function prepareCoverage(terms: CoverageTerms): PreparedCoverage {
  const prepared: PreparedCoverage = { ownStems: [], ownIdf: [], ownTotal: 0, expansionStems: [], expansionWeights: [], literalStems: [], literalIdf: [], literalTotal: 0 };
  for (const [stem, idf] of terms.own) {
    prepared.ownTotal += idf;
    prepared.ownStems.push(stem);
    prepared.ownIdf.push(idf);
  }
  for (const [stem, idf] of terms.expansion) {
    if (terms.own.has(stem)) continue;
    prepared.expansionStems.push(stem);
    prepared.expansionWeights.push(QUERY_EXPANSION_WEIGHT * idf);
  }
  for (const [stem, idf] of terms.literal) {
    prepared.literalTotal += idf;
    prepared.literalStems.push(stem);
    prepared.literalIdf.push(idf);
  }
  return prepared;
}

function preparedCoverage(query: PreparedCoverage, memory: { content: ReadonlySet<string>; recallTerms: ReadonlySet<string> }): number {
  const total = query.ownTotal;
  const { content, recallTerms } = memory;
  let own = 0;
  for (let i = 0; i < query.ownStems.length; i++) {
    const stem = query.ownStems[i]!;
    own += query.ownIdf[i]! * (content.has(stem) ? 1 : recallTerms.has(stem) ? RECALL_TERMS_WEIGHT : 0);
  }
  if (total <= 0) return 0;
  let expansion = 0;
  for (let i = 0; i < query.expansionStems.length; i++) {
    const stem = query.expansionStems[i]!;
    expansion += query.expansionWeights[i]! * (content.has(stem) ? 1 : recallTerms.has(stem) ? RECALL_TERMS_WEIGHT : 0);
  }
  return Math.min(1, own / total + Math.min(EXPANSION_RELEVANCE_CAP, expansion / total));
}

function preparedLiteral(query: PreparedCoverage, content: ReadonlySet<string>): number {
  let held = 0;
  for (let i = 0; i < query.literalStems.length; i++) if (content.has(query.literalStems[i]!)) held += query.literalIdf[i]!;
  return query.literalTotal <= 0 ? 0 : held / query.literalTotal;
}

/**
 * The IDF-weighted share of the query's own words a memory holds in its own text, 0..1: what
 * `lexicalCoverage` counts without the recall terms and thesaurus terms. A question about the world
 * recalls a memory only when this is high (speaker.ts), since a thesaurus term shared by chance
 * ("winter" → "time", "season") is as weak as a paraphrase's.
 */
export function literalCoverage(own: ReadonlyMap<string, number>, content: ReadonlySet<string>): number {
  let total = 0;
  let held = 0;
  for (const [stem, idf] of own) {
    total += idf;
    if (content.has(stem)) held += idf;
  }
  return total <= 0 ? 0 : held / total;
}

/** Candidates whose stems are kept (a recall ranks up to 120; the same memories come back turn after turn). */
const STEMMED_CANDIDATES_KEPT = 5_000;
const stemmedCandidates = new Map<number, { content: string; recallTerms: string; stems: { content: Set<string>; recallTerms: Set<string> } }>();

/**
 * A candidate's stems (its text's and its recall terms'), made once per text: stemming every candidate
 * of every recall was a fifth of the full-text search's time on a chat turn's critical path (issue 15).
 * An entry serves only while the memory's texts are the ones it was made from (an edit, doc2query or
 * a thesaurus update changes them), so no writer has to invalidate it; ids of two stores may share it.
 */
function candidateStems(row: { id: number; content: string; recall_terms: string }): { content: Set<string>; recallTerms: Set<string> } {
  const known = stemmedCandidates.get(row.id);
  if (known !== undefined && known.content === row.content && known.recallTerms === row.recall_terms) return known.stems;
  if (stemmedCandidates.size >= STEMMED_CANDIDATES_KEPT) stemmedCandidates.clear();
  const stems = { content: stemsOf(row.content), recallTerms: stemsOf(row.recall_terms) };
  stemmedCandidates.set(row.id, { content: row.content, recallTerms: row.recall_terms, stems });
  return stems;
}

/**
 * Orders full-text candidates, as both stores do (SQLite's FTS5 and PostgreSQL's tsvector): by the share
 * of the query they cover (`relevance`), then by the engine's rank (`strength`: higher is better; the
 * result's `score` is it negated, lower is better, like BM25), then newest first; the best `limit`.
 */
export function rankTextCandidates(
  terms: CoverageTerms,
  candidates: ReadonlyArray<{ id: number; content: string; recall_terms: string }>,
  strength: ReadonlyMap<number, number>,
  limit: number,
): RankedId[] {
  return rankByCoverage(
    terms,
    candidates.map((row) => ({ id: row.id, stems: candidateStems(row) })),
    strength,
    limit,
  );
}

type CoverageTerms = { own: ReadonlyMap<string, number>; expansion: ReadonlyMap<string, number>; literal: ReadonlyMap<string, number> };

/** `rankTextCandidates` over candidates whose stems are known. */
function rankByCoverage(
  terms: CoverageTerms,
  candidates: ReadonlyArray<{ id: number; stems: { content: ReadonlySet<string>; recallTerms: ReadonlySet<string> } }>,
  strength: ReadonlyMap<number, number>,
  limit: number,
): RankedId[] {
  const prepared = prepareCoverage(terms);
  return candidates
    .map((row) => ({
      id: row.id,
      score: -(strength.get(row.id) ?? 0),
      relevance: preparedCoverage(prepared, row.stems),
      literal: preparedLiteral(prepared, row.stems.content),
    }))
    .sort((a, b) => b.relevance - a.relevance || a.score - b.score || b.id - a.id)
    .slice(0, limit);
}

/**
 * `rankByCoverage` for candidates the full-text mirror holds, their coverage summed by the mirror
 * (`FullTextMirror.coverage`: the same sums, to the bit); null when it cannot (a candidate not mirrored).
 */
function rankByMirror(mirror: FullTextMirror, terms: CoverageTerms, ids: readonly number[], strength: ReadonlyMap<number, number>, limit: number): RankedId[] | null {
  const prepared = prepareCoverage(terms);
  const sums = mirror.coverage(ids, [
    { stems: prepared.ownStems, weights: prepared.ownIdf, recallFactor: RECALL_TERMS_WEIGHT },
    { stems: prepared.expansionStems, weights: prepared.expansionWeights, recallFactor: RECALL_TERMS_WEIGHT },
    { stems: prepared.literalStems, weights: prepared.literalIdf, recallFactor: 0 },
  ]);
  if (sums === null) return null;
  const [own, expansion, literal] = sums as [Float64Array, Float64Array, Float64Array];
  const total = prepared.ownTotal;
  return ids
    .map((id, at) => ({
      id,
      score: -(strength.get(id) ?? 0),
      relevance: total <= 0 ? 0 : Math.min(1, own[at]! / total + Math.min(EXPANSION_RELEVANCE_CAP, expansion[at]! / total)),
      literal: prepared.literalTotal <= 0 ? 0 : literal[at]! / prepared.literalTotal,
    }))
    .sort((a, b) => b.relevance - a.relevance || a.score - b.score || b.id - a.id)
    .slice(0, limit);
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
 * e.g. one made only of common words (toFtsQuery keeps them then), or one whose rarest word alone is
 * past the budget (it is always kept). See `fullText` in memory-statements.ts. Ranking costs ~1 µs per
 * match (BM25 reads each row's column sizes), so this bounds the full-text stage: 5 000 took ~6 ms CPU
 * for such a query at 100k memories, 2 000 takes ~3 ms (issue 13, docs/memory.md "Benchmark").
 */
export const FULL_TEXT_MAX_POSTINGS = 2_000;
/** Below this many memories the cached document frequencies are dropped on every write (see noteWrite). */
const SMALL_STORE = 20_000;
/** Below this many memories every term is kept (ranking everything is cheap). */
const COMMON_TERM_MIN_MEMORIES = 1_000;
/**
 * How long the words' document frequencies used for COMMON_TERM_SHARE, FULL_TEXT_POSTINGS_BUDGET and
 * the IDF are reused. Counting a word's documents reads its whole doclist (fts5vocab): ~0.5 ms for a
 * word in 70% of 100k memories, ~5 ms at 1M, and the common words are the ones queries repeat. In a
 * small store one write changes them noticeably and they are dropped on every write (noteWrite); in a
 * large one a count minutes old is as good, and re-counting every word of a query every few seconds
 * was the full-text stage's tail at 1M memories.
 */
const COUNT_CACHE_MS = 10_000;
const LARGE_STORE_COUNT_CACHE_MS = 10 * 60_000;
/**
 * In a store of SMALL_STORE memories or more, a word's document count is estimated from its newest
 * matches instead of counted (fts5vocab reads the word's whole doclist: 5–15 ms for a word in a third
 * of 1M memories, the tail of the full-text stage there): a word with fewer matches than this is
 * counted exactly (its doclist is short); a more common one is counted as its share among the memories
 * its newest this-many matches span, times the memories. ±2–3 % for a common word, which moves its
 * IDF by less than that; read per column like fts5vocab's counts (`documentCounts`).
 */
export const DOCUMENT_COUNT_SAMPLE = 2_000;
/**
 * A word's documents from its newest matches (at most DOCUMENT_COUNT_SAMPLE): all of them when there
 * are fewer; else their share of the ids they span (from the oldest of them to `maxId`), times `maxId`
 * — the memories that span holds, as a share of all, is taken as its share of the ids.
 */
export function estimatedDocuments(newest: { matches: number; oldest: number | null }, maxId: number): number {
  if (newest.matches < DOCUMENT_COUNT_SAMPLE || newest.oldest === null) return newest.matches;
  return Math.round((newest.matches * maxId) / Math.max(1, maxId - newest.oldest + 1));
}
/** The newest memories searched for all the words of a query made only of common words (fullTextSearch). */
const ALL_COMMON_WINDOW = 20_000;

/**
 * The number of rows of an FTS5 table from its "averages" record (`<table>_data`, id 1: a varint row
 * count, then one varint token total per column; fts5_index.c), which FTS5 keeps current on every
 * write. One row read, where `count(*)` reads the whole table (~20 ms at 1M memories). 0 without it.
 */
export function ftsRowCount(averages: Uint8Array | undefined): number {
  return ftsAverages(averages)[0] ?? 0;
}

/** One full-text mirror per connection (store objects on one connection share it and report their writes to it). */
const mirrors = new WeakMap<Database, FullTextMirror | null>();
/** One read cache per connection: its triggers report every write on the connection to it. */
const readCaches = new WeakMap<Database, MemoryReadCache>();

export class SqliteMemoryStore implements MemoryStore {
  private readonly sql: MemoryStatements;
  private readonly index = new VectorIndex();
  /** Embedders whose vectors are in the index (or being loaded into it). */
  private readonly loadedEmbedders = new Set<string>();
  private readonly indexLoads = new Map<string, Promise<void>>();
  /** Embedders whose stored vectors are all in the index, and how many were read so far per embedder. */
  private readonly loadedIndexes = new Set<string>();
  private readonly indexedCount = new Map<string, number>();
  /** Follows other connections' commits (connection-follow.ts): the vector index, the word counts. */
  private readonly follow: ConnectionFollow;
  /** The memory count (as of the last search), and per stem the memories holding it anywhere / in their own text (as of `at`). */
  private countCache: { at: number; count: number; documents: Map<string, number>; contentDocuments: Map<string, number> } | null = null;
  /** Memory id → persona, for the vectors in the index (visibility checks during a scan). */
  private readonly ownerOf = new Map<number, string>();
  /** Recalls not yet written (see recordAccess): memory id → the last one's time and how many. */
  private unwrittenRecalls = new Map<number, { at: number; count: number }>();
  private recallTimer: ReturnType<typeof setTimeout> | null = null;
  /** When the oldest unwritten recall was gathered (performance.now(), null when there is none). */
  private recallsWaitingSince: number | null = null;

  private readonly thesaurus: Thesaurus;

  /**
   * Keeps the cached counts right after a write: the memory count exactly; the words' document
   * frequencies are dropped in a small store, where one memory changes them noticeably (and counting
   * is cheap), and left to expire in a large one.
   */
  private noteWrite(addedMemories: number, memoryIds: readonly number[]): void {
    this.mirror?.noteChanged(memoryIds);
    for (const id of memoryIds) this.insertedTexts.delete(id);
    if (this.countCache === null) return;
    this.countCache.count = Math.max(0, this.countCache.count + addedMemories);
    this.countsChanged();
  }

  /** Memories' texts changed (here or on another connection: their count is read again by the next search). */
  private countsChanged(): void {
    if (this.countCache !== null && this.countCache.count < SMALL_STORE) {
      this.countCache.documents.clear();
      this.countCache.contentDocuments.clear();
    }
  }

  /**
   * The texts of the memories the write under way inserted (and did not change again), handed to the
   * mirror once it has committed (`write`), which then need not read them back.
   */
  private readonly insertedTexts = new Map<number, MemoryTextRow>();

  /** The full-text index in memory (full-text-mirror.ts), one per connection: every store object on it reports its writes there. */
  private readonly mirror: FullTextMirror | null;
  private readonly isMirrorUsed: boolean;

  constructor(
    private readonly db: Database,
    private readonly path = db.name,
    options: {
      /** Offline paraphrase recall (domain/memory/expansion.ts); without it, memories are found by their words only. */
      thesaurus?: Thesaurus;
      /**
       * Rank a small store's full-text matches in memory (default) instead of by FTS5: the same results
       * (full-text-mirror.ts); false makes FTS5 answer every search (the tests compare the two).
       */
      fullTextMirror?: boolean;
    } = {},
  ) {
    this.sql = prepareMemoryStatements(db);
    this.personaCounts = new PersonaMemoryCounts(db);
    this.follow = ConnectionFollow.of(db);
    this.follow.follow('vectors', {
      apply: (rows) => {
        for (const row of rows) if (this.loadedEmbedders.has(row.embedder)) this.applyVectorChange(row.memory_id, row.embedder);
      },
      // Pruned past the last change this index saw: read it again (searches meanwhile use what is read).
      lost: () => {
        for (const embedder of [...this.loadedEmbedders]) this.reloadIndex(embedder);
      },
    });
    this.follow.follow('memories', {
      apply: (rows) => {
        if (rows.some(isTextChange)) this.countsChanged();
      },
      lost: () => {
        this.countCache = null;
      },
    });
    this.thesaurus = options.thesaurus ?? EMPTY_THESAURUS;
    let mirror = mirrors.get(db);
    if (mirror === undefined) {
      try {
        mirror = new FullTextMirror(db, RECALL_TERMS_WEIGHT, COVERAGE_STEMMER);
      } catch {
        mirror = null; // e.g. a connection that cannot create its temp tables: FTS5 answers every search
      }
      mirrors.set(db, mirror);
    }
    this.mirror = mirror;
    this.isMirrorUsed = options.fullTextMirror ?? true;
    let cache = readCaches.get(db);
    if (cache === undefined) {
      cache = new MemoryReadCache(db);
      readCaches.set(db, cache);
    }
    this.cache = cache;
  }

  /** The recall's reads besides the search (ranking facts, rows, facts block, summary), kept between turns. */
  private readonly cache: MemoryReadCache;
  /** Each persona's number of memories, followed through the change log (the cap's check after every formation). */
  private readonly personaCounts: PersonaMemoryCounts;

  /** The full-text mirror in step with the table, or null when FTS5 answers (a large store, or the mirror is off). */
  private currentMirror(): FullTextMirror | null {
    return this.isMirrorUsed ? (this.mirror?.current() ?? null) : null;
  }

  /** The thesaurus version memories are expanded with (the `memory.expand` job brings older ones up to it). */
  get expansionVersion(): string {
    return this.thesaurus.version;
  }

  /**
   * One index partition per embedder, persona and user (issue 13): a chat turn's recall searches its
   * persona's memories of its user only, so it scans that partition whole instead of testing the user of
   * each of the persona's vectors (~15 ms per 100k vectors, more than the scan itself).
   */
  private static partition(embedder: string, personaId: string, userId: string | null): string {
    return `${SqliteMemoryStore.personaPrefix(embedder, personaId)}${userId === null ? '\u0001' : `u:${userId}`}`;
  }

  private static personaPrefix(embedder: string, personaId: string): string {
    return `${embedder}\u0000${personaId}\u0000`;
  }

  /** The partitions of `embedder` for these personas (all when null), of one user when `userId` is given. */
  private partitionsOf(embedder: string, personaIds: readonly string[] | null, userId: string | null | undefined): string[] {
    const names =
      personaIds === null
        ? this.index.partitionNames(`${embedder}\u0000`)
        : personaIds.flatMap((persona) => this.index.partitionNames(SqliteMemoryStore.personaPrefix(embedder, persona)));
    if (userId === undefined) return names;
    const suffix = `\u0000${userId === null ? '\u0001' : `u:${userId}`}`;
    return names.filter((name) => name.endsWith(suffix));
  }

  async insert(memory: NewMemory, vectors: readonly MemoryVector[], now: number): Promise<Memory> {
    const recallTerms = this.recallTermsFor(memory);
    await betweenStretches();
    return this.write(() => this.insertRow(memory, vectors, now, recallTerms));
  }

  async replaceFormed(
    messageId: number,
    memories: ReadonlyArray<{ memory: NewMemory; vectors: readonly MemoryVector[] }>,
    now: number,
    completes?: JobCompletion,
  ): Promise<Memory[]> {
    const recallTerms = memories.map(({ memory }) => this.recallTermsFor(memory));
    await betweenStretches();
    return this.write(
      () => {
        if (this.sql.isForgotten.get(messageId) !== undefined) return [];
        this.deleteRows(this.sql.formedFrom.all(messageId));
        return memories.map(({ memory, vectors }, index) => this.insertRow({ ...memory, messageId }, vectors, now, recallTerms[index]));
      },
      FORMATION_TAKES_RECALLS_MS,
      [completes],
    );
  }

  async replaceFormedMany(
    formations: ReadonlyArray<{ messageId: number; memories: ReadonlyArray<{ memory: NewMemory; vectors: readonly MemoryVector[] }>; completes?: JobCompletion }>,
    now: number,
  ): Promise<Memory[][]> {
    // Each message's recall terms in a stretch of its own (~0.15 ms a memory), then the one transaction.
    const recallTerms: string[][] = [];
    for (const { memories } of formations) {
      recallTerms.push(memories.map(({ memory }) => this.recallTermsFor(memory)));
      await betweenStretches();
    }
    return this.write(() =>
      formations.map(({ messageId, memories }, at) => {
        if (this.sql.isForgotten.get(messageId) !== undefined) return [];
        this.deleteRows(this.sql.formedFrom.all(messageId));
        return memories.map(({ memory, vectors }, index) => this.insertRow({ ...memory, messageId }, vectors, now, recallTerms[at]![index]));
      }),
      FORMATION_TAKES_RECALLS_MS,
      formations.map((formation) => formation.completes),
    );
  }

  async idsFromMessage(messageId: number): Promise<number[]> {
    return this.read(() => this.sql.fromMessage.all(messageId));
  }

  /** A new memory's recall terms (the thesaurus' expansion of its text and restatement: ~0.15 ms of CPU). */
  private recallTermsFor(memory: NewMemory): string {
    return recallTermsOf(memory.content, this.thesaurus, memory.doc2query ?? null);
  }

  async get(id: number): Promise<Memory | null> {
    return this.read(() => {
      const row = this.sql.get.get(id);
      return row === undefined ? null : this.recalled(row);
    });
  }

  async getMany(ids: readonly number[]): Promise<Memory[]> {
    if (ids.length === 0) return [];
    return this.read(() =>
      this.cache.memories(ids, (missing) => this.sql.getMany.all(JSON.stringify(missing)).map(toMemory)).map((memory) => this.withRecall(memory)),
    );
  }

  async rankingFacts(ids: readonly number[]): Promise<RankingFacts[]> {
    if (ids.length === 0) return [];
    return this.read(() => this.withRecalls(this.cache.rankingFacts(ids, (missing) => this.sql.rankingFacts.all(JSON.stringify(missing)))));
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
      if (changes.content !== undefined && changes.content !== before.content) {
        // The old canonical fact and questions described the old text: they go, and the terms follow the new one.
        sets.push('doc2query = NULL', 'recall_terms = @recall_terms', 'expanded_with = @expanded_with');
        params.recall_terms = recallTermsOf(changes.content, this.thesaurus);
        params.expanded_with = this.thesaurus.version;
      }
      if (changes.label !== undefined) {
        sets.push('type_label = @type_label');
        params.type_label = changes.label;
      }
      if (sets.length > 0) this.db.prepare(`UPDATE memories SET ${sets.join(', ')} WHERE id = @id`).run(params);
      if (params.recall_terms !== undefined) this.noteWrite(0, [id]);
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
      if (query.label !== undefined) {
        where.push('m.type_label = @label');
        params.label = query.label;
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
      return { memories: rows.map((row) => this.recalled(row)), total };
    });
  }

  /**
   * Full-text hits, most relevant first. FTS5 finds and ranks the candidates by BM25 (`score`: negative,
   * lower is better; the memory's own words weigh 1, its recall terms RECALL_TERMS_WEIGHT), in two
   * passes (the query's words, then its thesaurus terms); `relevance` is the share of the query the
   * memory covers (`lexicalCoverage`): about 1 when it holds every word of the query, about half when it
   * holds the rarer half, small when it only shares a common word or a broader term.
   */
  async fullTextSearch(query: string, scope: MemoryScope, limit: number): Promise<RankedId[]> {
    // The viewer's own memories are usually most of what it may see; scanning FULL_TEXT_SCAN × more
    // matches than wanted leaves room for the ones filtered out (other personas', unimportant ones).
    const scan = scope.viewerId === null ? limit : limit * FULL_TEXT_SCAN;
    return this.read(() => {
      // Other connections' commits (the word counts); the mirror looks again in its own read snapshot.
      this.follow.check();
      const mirror = this.currentMirror();
      const extra = expansionTerms(query, this.thesaurus, QUERY_TERMS_PER_WORD, MAX_QUERY_EXPANSION);
      const terms = this.termStatistics(query, extra, mirror);
      const ownWords = queryWords(query, terms.isTooCommon);
      if (ownWords === null) return [];
      const own = ownWords.map((word) => `"${word}"`).join(' OR ');
      const expandedWords = expansionWords(extra, terms.isTooCommon);
      const run = (words: readonly string[]): Array<{ id: number; rank: number }> => {
        // FTS5's BM25 from the mirror when it has the words: the same ranks, the same order.
        const ranked = mirror?.rank(words, FULL_TEXT_MAX_POSTINGS) ?? null;
        if (ranked !== null) return this.visibleBest(mirror!, ranked, scan, scope, limit);
        return this.sql.fullText.all({
          ...scopeParams(scope),
          match: words.map((word) => `"${word}"`).join(' OR '),
          limit,
          scan,
          postings: FULL_TEXT_MAX_POSTINGS,
          rankFunction: `bm25(1.0, ${RECALL_TERMS_WEIGHT})`,
        });
      };
      // Two passes, so a match of the query's words is never crowded out by its thesaurus terms.
      const bm25 = new Map<number, number>();
      if (terms.ownAllCommon) {
        // Only common words (each in 10 %+ of a large store): BM25 would first count every memory
        // holding each of them for its IDF (FTS5 does, per query: 16 ms for a word in 70 % of 1M
        // memories), to weigh words whose IDF is near 0 anyway. The newest memories holding all of
        // them come first (among the newest ALL_COMMON_WINDOW memories: an intersection can be empty,
        // and finding that out reads the words' doclists to their ends — 31 ms for six such words at
        // 1M memories), then the newest holding any; coverage (rankTextCandidates) orders them.
        const after = Math.max(0, (this.sql.maxId.get() ?? 0) - ALL_COMMON_WINDOW);
        for (const [match, from] of [
          [toFtsQuery(query, terms.isTooCommon, 'AND')!, after],
          [own, 0],
        ] as const) {
          for (const id of this.sql.fullTextNewest.all({ ...scopeParams(scope), match, limit, postings: FULL_TEXT_MAX_POSTINGS, after: from }))
            if (bm25.size < limit && !bm25.has(id)) bm25.set(id, 0);
          if (bm25.size >= limit) break;
        }
      } else for (const row of run(ownWords)) bm25.set(row.id, -row.rank);
      if (expandedWords !== null) for (const row of run(expandedWords)) bm25.set(row.id, (bm25.get(row.id) ?? 0) + QUERY_EXPANSION_WEIGHT * -row.rank);
      // The mirror measures its memories' coverage itself, from stems it made when it read them.
      const covered = mirror === null ? null : rankByMirror(mirror, terms, [...bm25.keys()], bm25, limit);
      if (covered !== null) return covered;
      // The candidates' stems: the mirror has them; otherwise (or for one it lacks) from their texts.
      const candidates: Array<{ id: number; stems: { content: ReadonlySet<string>; recallTerms: ReadonlySet<string> } }> = [];
      const unread: number[] = [];
      for (const id of bm25.keys()) {
        const stems = mirror?.stemsFor(id);
        if (stems === undefined) unread.push(id);
        else candidates.push({ id, stems });
      }
      if (unread.length > 0)
        for (const row of this.sql.searchText.all(JSON.stringify(unread))) {
          const stems = candidateStems(row);
          mirror?.keepStems(row.id, stems);
          candidates.push({ id: row.id, stems });
        }
      return rankByCoverage(terms, candidates, bm25, limit);
    });
  }

  /**
   * What the `fullText` statement keeps of FTS5's ranked matches, for matches the mirror ranked: of the
   * best `scan`, in rank order, those the scope may see (own memories of the scope's user are decided
   * here; others' visibility, and importance when a minimum is asked, by the same SQL rule), the first
   * `limit`. The best `limit` are looked at first (a turn's recall sees nearly all its matches), more
   * only when some of them are not visible.
   */
  private visibleBest(mirror: FullTextMirror, matches: RankedMatches, scan: number, scope: MemoryScope, limit: number): Array<{ id: number; rank: number }> {
    const params = scopeParams(scope);
    const candidates = Math.min(scan, matches.size);
    for (let looked = Math.min(limit, candidates); ; looked = Math.min(candidates, looked * 4)) {
      const ranked = matches.best(looked);
      const undecided: number[] = [];
      const decided = ranked.map(({ id }): boolean | undefined => {
        const owner = mirror.owner(id)!;
        if (params.anyUser === 0 && owner.userId !== params.userId) return false;
        // Importance is never below 0 (a CHECK of the table): a minimum of 0 keeps every memory.
        if (params.minImportance <= 0 && (params.viewer === null || owner.personaId === params.viewer)) return true;
        undecided.push(id);
        return undefined;
      });
      const visible = undecided.length === 0 ? new Set<number>() : new Set(this.sql.visibleAmong.all({ ...params, ids: JSON.stringify(undecided) }));
      const best: Array<{ id: number; rank: number }> = [];
      for (let at = 0; at < ranked.length && best.length < limit; at++) if (decided[at] ?? visible.has(ranked[at]!.id)) best.push(ranked[at]!);
      if (best.length >= limit || looked >= candidates) return best;
    }
  }

  /**
   * Never waits for the index to load: while it loads (77 s at 1 M memories), the vectors read so far
   * are searched, and full-text search carries the rest, so a large store is serving at once.
   */
  async vectorSearch(embedder: string, vector: Float32Array, scope: MemoryScope, limit: number): Promise<RankedId[]> {
    this.ensureIndexed(embedder).catch(() => undefined); // a failed load is retried by the next search
    return this.read(() => {
      // The vectors other connections wrote or removed (0047's log); this connection's own went straight into the index.
      this.follow.check();
      if (scope.viewerId === null)
        return this.index.search(this.partitionsOf(embedder, null, scope.userId), vector, limit).map((hit) => ({ id: hit.id, score: hit.similarity }));
      // The viewer's own partitions (of the scope's user) whole; other personas' partitions only for
      // the memories shared with the viewer or public (few), tested one by one.
      const own = this.partitionsOf(embedder, [scope.viewerId], scope.userId);
      let others: string[] = [];
      let visible = new Set<number>();
      if (scope.includeShared || scope.includePublic) {
        visible = new Set(this.sql.visibleOthers.all(scopeParams(scope)));
        if (visible.size > 0) {
          const owners = new Set<string>();
          for (const id of visible) {
            const owner = this.ownerOf.get(id);
            if (owner !== undefined && owner !== scope.viewerId) owners.add(owner);
          }
          others = this.partitionsOf(embedder, [...owners], scope.userId);
        }
      }
      return this.index
        .search([...own, ...others], vector, limit, (id) => visible.has(id), new Set(others))
        .map((hit) => ({ id: hit.id, score: hit.similarity }));
    });
  }

  /**
   * What the full-text query needs to know about its words, from their document frequencies:
   * `isTooCommon` — which words to leave out (see toFtsQuery): those found in more than COMMON_TERM_SHARE
   * of the memories, and, rarest first, those past FULL_TEXT_POSTINGS_BUDGET; the query's own words
   * come before its thesaurus terms (`extra`) — and the IDF of the query's own words' and terms' stems
   * (for `lexicalCoverage`).
   */
  private termStatistics(
    query: string,
    extra: readonly string[],
    mirror: FullTextMirror | null,
  ): {
    isTooCommon: (word: string) => boolean;
    /** Every word of the query is too common (a large store only): see fullTextSearch. */
    ownAllCommon: boolean;
    own: Map<string, number>;
    expansion: Map<string, number>;
    literal: Map<string, number>;
  } {
    const now = Date.now();
    // The mirror read FTS5's row count as it followed the table for this search: not read again.
    const total = mirror?.rowCount ?? ftsRowCount(this.sql.ftsAverages.get());
    const maxAge = total < SMALL_STORE ? COUNT_CACHE_MS : LARGE_STORE_COUNT_CACHE_MS;
    if (this.countCache === null || now - this.countCache.at > maxAge) this.countCache = { at: now, count: total, documents: new Map(), contentDocuments: new Map() };
    this.countCache.count = total;
    const own = [...new Set(contentWords(query))].slice(0, MAX_QUERY_WORDS);
    const stems = new Map<string, string>();
    for (const word of own) stems.set(word, stemOf(word));
    for (const word of extra) stems.set(word, stemOf(word));
    // A stem's memories, anywhere and in their own text. The mirror counts exactly what fts5vocab counts,
    // at once and as of now: asked per stem, nothing cached (nor two maps of its counts made per search).
    let anywhere: (stem: string) => number;
    let inContent: (stem: string) => number;
    if (mirror !== null) {
      anywhere = (stem) => mirror.documentsHolding(stem);
      inContent = (stem) => mirror.contentDocuments(stem);
    } else {
      const { documents: frequency, contentDocuments } = this.countCache;
      const unknown = [...new Set(stems.values())].filter((stem) => !frequency.has(stem));
      if (unknown.length > 0 && total >= SMALL_STORE) {
        const maxId = this.sql.maxId.get() ?? 0;
        for (const [word, stem] of stems) {
          if (frequency.has(stem)) continue;
          const counts = this.documentCounts(word, maxId);
          frequency.set(stem, counts.anywhere);
          contentDocuments.set(stem, counts.content);
        }
      } else if (unknown.length > 0) {
        for (const stem of unknown) {
          frequency.set(stem, 0);
          contentDocuments.set(stem, 0);
        }
        for (const row of this.sql.documentFrequency.all(JSON.stringify(unknown))) {
          frequency.set(row.term, row.doc);
          contentDocuments.set(row.term, row.content_doc);
        }
      }
      anywhere = (stem) => frequency.get(stem) ?? 0;
      inContent = (stem) => contentDocuments.get(stem) ?? 0;
    }
    const documents = (word: string): number => anywhere(stems.get(word) ?? word);
    const idf = (words: readonly string[], count: (stem: string) => number): Map<string, number> => {
      const weights = new Map<string, number>();
      for (const word of words) {
        const stem = stems.get(word)!;
        weights.set(stem, smoothIdf(count(stem), total));
      }
      return weights;
    };
    // `literal`: the query's own words weighed by how rare they are in the memories' own text, for
    // `literalCoverage` (a word many memories hold only as a thesaurus term is not common in what they say).
    const weights = { own: idf(own, anywhere), expansion: idf(extra, anywhere), literal: idf(own, inContent) };
    if (total < COMMON_TERM_MIN_MEMORIES) return { isTooCommon: () => false, ownAllCommon: false, ...weights };
    const kept = new Set<string>();
    let postings = 0;
    const byRarity = (a: string, b: string): number => documents(a) - documents(b);
    for (const [index, word] of [...own.sort(byRarity), ...[...extra].sort(byRarity)].entries()) {
      const n = documents(word);
      if (n > COMMON_TERM_SHARE * total) continue;
      // The rarest word is always kept, whatever its count: it is the query's best lexical evidence.
      if (!(index === 0 && kept.size === 0) && postings + n > FULL_TEXT_POSTINGS_BUDGET) continue;
      kept.add(word);
      postings += n;
    }
    return { isTooCommon: (word) => !kept.has(word), ownAllCommon: own.every((word) => !kept.has(word)), ...weights };
  }

  /**
   * A word's documents in a large store, as fts5vocab counts them (`anywhere`: the sum over both
   * columns; `content`: in the memories' own text), estimated past DOCUMENT_COUNT_SAMPLE matches per
   * column from the id span of the newest ones (ids grow with time; deletions are taken as spread evenly).
   */
  private documentCounts(word: string, maxId: number): { anywhere: number; content: number } {
    // FTS5 stems the word itself (as it does when searching); a term that is not one token matches nothing.
    if (!/^[\p{L}\p{N}]+$/u.test(word)) return { anywhere: 0, content: 0 };
    const inColumn = (column: 'content' | 'recall_terms'): number =>
      estimatedDocuments(this.sql.newestMatches.get(`${column} : "${word}"`, DOCUMENT_COUNT_SAMPLE)!, maxId);
    const content = inColumn('content');
    return { anywhere: content + inColumn('recall_terms'), content };
  }

  async visibleTo(viewerId: string, memories: readonly Memory[]): Promise<boolean[]> {
    return this.read(() => {
      const params = scopeParams({ viewerId, includeShared: true, includePublic: true });
      return memories.map((memory) => this.sql.isVisible.get({ ...params, id: memory.id }) !== undefined);
    });
  }

  /**
   * Gathers the recalls instead of writing them now: a chat turn's recall used to end in a commit of
   * its own (~0.1–0.6 ms on the turn's critical path, issue 15). They are written first thing by the
   * next write of this store (a memory formation only once they have waited FORMATION_TAKES_RECALLS_MS),
   * or after UNWRITTEN_RECALLS_MS, or by `flushAccess` (shutdown); every read of this store counts them
   * meanwhile.
   */
  async recordAccess(ids: readonly number[], now: number): Promise<void> {
    if (ids.length > 0) this.recallsWaitingSince ??= performance.now();
    for (const id of ids) {
      const known = this.unwrittenRecalls.get(id);
      if (known === undefined) this.unwrittenRecalls.set(id, { at: now, count: 1 });
      else {
        known.at = now;
        known.count++;
      }
    }
    if (this.unwrittenRecalls.size > 0 && this.recallTimer === null) {
      // A failed write keeps the recalls for the next one, whose caller gets the error.
      this.recallTimer = setTimeout(() => {
        this.recallTimer = null;
        this.flushAccess().catch(() => undefined);
      }, UNWRITTEN_RECALLS_MS);
      this.recallTimer.unref();
    }
  }

  async flushAccess(): Promise<void> {
    if (this.unwrittenRecalls.size === 0 || !this.db.open) return;
    await this.write(() => undefined);
  }

  /** A memory row as the domain's Memory, with the recalls not yet written counted in. */
  private recalled(row: MemoryRow): Memory {
    return this.withRecall(toMemory(row));
  }

  /** The memory (changed in place) with the recalls not yet written counted in. */
  private withRecall(memory: Memory): Memory {
    const recalls = this.unwrittenRecalls.get(memory.id);
    if (recalls === undefined) return memory;
    memory.lastAccessedAt = recalls.at;
    memory.accessCount += recalls.count;
    return memory;
  }

  /** Ranking facts with the recalls not yet written counted in. */
  private withRecalls<F extends { id: number; lastAccessedAt: number }>(facts: F[]): F[] {
    if (this.unwrittenRecalls.size === 0) return facts;
    for (const fact of facts) {
      const recalls = this.unwrittenRecalls.get(fact.id);
      if (recalls !== undefined) fact.lastAccessedAt = recalls.at;
    }
    return facts;
  }

  async setDoc2Query(id: number, text: string | null): Promise<boolean> {
    return this.write(() => {
      const row = this.sql.get.get(id);
      if (row === undefined) return false;
      const recall_terms = recallTermsOf(row.content, this.thesaurus, text);
      this.sql.setDoc2Query.run({ id, doc2query: text, recall_terms, expanded_with: this.thesaurus.version });
      this.noteWrite(0, [id]);
      return true;
    });
  }

  async expandStale(afterId: number, limit: number): Promise<{ lastId: number; expanded: number } | null> {
    return this.write(() => {
      // A finished backfill records "version <TAB> highest id": every memory up to that id has current
      // recall terms, and later inserts and edits always use the current thesaurus, so a start scans only
      // what came after (imported rows, say) instead of a million rows.
      const [doneWith, doneThrough] = (this.sql.meta.get('expanded_with') ?? '').split('\t');
      const after = afterId === 0 && doneWith === this.thesaurus.version ? Number(doneThrough) || 0 : afterId;
      const rows = this.sql.staleExpansions.all({ after, version: this.thesaurus.version, limit });
      if (rows.length === 0) {
        this.sql.setMeta.run('expanded_with', `${this.thesaurus.version}\t${this.sql.maxId.get() ?? 0}`);
        return null;
      }
      for (const row of rows)
        this.sql.setRecallTerms.run({
          id: row.id,
          recall_terms: recallTermsOf(row.content, this.thesaurus, row.doc2query),
          expanded_with: this.thesaurus.version,
        });
      this.noteWrite(0, rows.map((row) => row.id));
      return { lastId: rows.at(-1)!.id, expanded: rows.length };
    });
  }

  async userFacts(personaId: string, userId: string | null | undefined, limit: number): Promise<Memory[]> {
    return this.read(() =>
      this.cache
        .userFacts(personaId, userId, limit, () =>
          (userId === undefined ? this.sql.everyUsersFacts.all({ persona: personaId, limit }) : this.sql.userFacts.all({ persona: personaId, userId, limit })).map(
            toMemory,
          ),
        )
        .map((memory) => this.withRecall(memory)),
    );
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
    return this.read(() => this.withRecalls(this.sql.pruneCandidates.all(personaId)));
  }

  async countFor(personaId: string | null): Promise<number> {
    return this.read(() => (personaId === null ? (this.sql.countAll.get() ?? 0) : this.personaCounts.count(personaId)));
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

  async countMessagesAfter(conversationId: string, afterId: number, atMost: number): Promise<number> {
    return this.read(() => this.sql.countMessagesAfter.get(conversationId, afterId, atMost) ?? 0);
  }

  async latestSummary(conversationId: string): Promise<Memory | null> {
    return this.read(() => {
      const summary = this.cache.latestSummary(conversationId, () => {
        const row = this.sql.latestSummary.get(conversationId);
        return row === undefined ? null : toMemory(row);
      });
      return summary === null ? null : this.withRecall(summary);
    });
  }

  async summariesQuoting(snippets: readonly string[]): Promise<number[]> {
    return this.read(() => [
      ...new Set(snippets.filter((snippet) => snippet.length >= 8).flatMap((snippet) => this.sql.summariesContaining.all(snippet))),
    ]);
  }

  // helpers (synchronous, inside `read` or `write`)

  private insertRow(memory: NewMemory, vectors: readonly MemoryVector[], now: number, recallTerms = this.recallTermsFor(memory)): Memory {
    const row = {
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
      type_label: memory.label !== undefined && memory.label !== null && memory.label !== memory.kind ? memory.label : null,
      doc2query: memory.doc2query ?? null,
    };
    const { id } = this.sql.insert.get({ ...row, recall_terms: recallTerms, expanded_with: this.thesaurus.version, now })!;
    this.noteWrite(1, [id]);
    if (memory.visibility === 'shared') this.addShares(id, memory.sharedWith ?? [], memory.sharedGroups ?? []);
    for (const vector of vectors) this.putVector(id, memory.personaId, memory.userId ?? null, vector);
    // The row as written, without reading it back (a SELECT with the share lists' subqueries per memory
    // formed): what SQLite stores is what was bound — unless shares were added (their lists are read) or a
    // text is not well-formed UTF-16 (SQLite stores a lone surrogate as U+FFFD; the read gives that).
    const isAsBound = memory.visibility !== 'shared' && !Object.values(row).some((value) => typeof value === 'string' && LONE_SURROGATE.test(value));
    if (this.isMirrorUsed && this.mirror !== null && !LONE_SURROGATE.test(row.content) && !LONE_SURROGATE.test(recallTerms))
      this.insertedTexts.set(id, { id, persona_id: row.persona_id, user_id: row.user_id, content: row.content, recall_terms: recallTerms });
    if (!isAsBound) return toMemory(this.sql.get.get(id)!);
    const written = toMemory({ ...row, id, created_at: now, last_accessed_at: now, access_count: 0, decayed_at: now, shared_with: null, shared_groups: null });
    this.cache.inserted(written);
    return written;
  }

  private addShares(id: number, personas: readonly string[], groups: readonly string[]): void {
    for (const persona of new Set(personas)) this.sql.addShare.run(id, persona, null);
    for (const group of new Set(groups)) this.sql.addShare.run(id, null, group);
  }

  private putVector(id: number, personaId: string, userId: string | null, { embedder, vector }: MemoryVector): void {
    this.sql.upsertVector.run(id, embedder, vectorToBlob(vector));
    this.ownerOf.set(id, personaId);
    if (this.loadedEmbedders.has(embedder)) this.index.upsert(SqliteMemoryStore.partition(embedder, personaId, userId), id, vector);
  }

  private deleteRows(ids: readonly number[]): number {
    if (ids.length === 0) return 0; // a message formed for the first time has nothing to replace: no DELETE
    const changes = this.sql.deleteMany.run(JSON.stringify(ids)).changes;
    this.noteWrite(-changes, ids);
    for (const id of ids) {
      this.index.removeEverywhere(id);
      this.ownerOf.delete(id);
    }
    return changes;
  }

  async warmUp(embedders: readonly string[]): Promise<void> {
    // The full-text mirror of a small store is read now (in steps) instead of at the first search.
    if (this.isMirrorUsed && this.mirror !== null) {
      this.mirror.current();
      await this.mirror.whenBuilt();
    }
    await Promise.all(embedders.map((embedder) => this.ensureIndexed(embedder)));
  }

  indexProgress(): Array<{ embedder: string; vectors: number; loading: boolean }> {
    return [...this.loadedEmbedders].map((embedder) => ({
      embedder,
      vectors: this.index.sizeWithPrefix(`${embedder}\u0000`),
      loading: !this.loadedIndexes.has(embedder),
    }));
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
        this.indexedCount.delete(embedder);
        throw translateSqliteError(error, this.path);
      });
      this.indexLoads.set(embedder, loading);
    }
    return loading;
  }

  /** The index as the store has memory `id`'s vector of `embedder` now: written (in its owner's partition) or gone. */
  private applyVectorChange(id: number, embedder: string): void {
    const row = this.sql.vectorOf.get(id, embedder);
    if (row === undefined || this.ownerOf.get(id) !== row.persona_id)
      for (const partition of this.index.partitionNames(`${embedder}\u0000`)) this.index.remove(partition, id);
    if (row === undefined) return;
    this.index.upsert(SqliteMemoryStore.partition(embedder, row.persona_id, row.user_id), id, blobToVector(row.vector));
    this.ownerOf.set(id, row.persona_id);
  }

  private reloadIndex(embedder: string): void {
    for (const partition of this.index.partitionNames(`${embedder}\u0000`)) this.index.dropPartition(partition);
    this.indexLoads.delete(embedder);
    this.loadedIndexes.delete(embedder);
    this.indexedCount.delete(embedder);
    this.loadedEmbedders.delete(embedder);
    this.ensureIndexed(embedder).catch(() => undefined);
  }

  private async loadIndex(embedder: string): Promise<void> {
    for (let after = 0; ;) {
      if (!this.db.open) return; // shut down while loading
      const rows = this.sql.vectorsPage.all(embedder, after, INDEX_PAGE);
      for (const row of rows) {
        this.index.upsert(SqliteMemoryStore.partition(embedder, row.persona_id, row.user_id), row.memory_id, blobToVector(row.vector));
        this.ownerOf.set(row.memory_id, row.persona_id);
      }
      this.indexedCount.set(embedder, (this.indexedCount.get(embedder) ?? 0) + rows.length);
      if (rows.length < INDEX_PAGE) {
        this.loadedIndexes.add(embedder);
        return;
      }
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

  /**
   * `work` in a write transaction; `recallsAfterMs`: the recalls go along only once they have waited this
   * long (default: always); `completes`: the jobs this write completes (`completingTransaction`), or the
   * one job whose claim writes it with the claim's other writes (`jointWrite`).
   */
  private write<T>(work: () => T, recallsAfterMs = 0, completes: ReadonlyArray<JobCompletion | undefined> = []): Promise<T> {
    const joint = jointWrite(this.db, completes, this.storeWrite(work, recallsAfterMs, true));
    if (joint !== undefined)
      return joint.catch((error: unknown): never => {
        throw translateSqliteError(error, this.path);
      });
    return this.read(() => {
      const write = this.storeWrite(work, recallsAfterMs, !this.db.inTransaction);
      let done: T;
      try {
        done = completingTransaction(this.db, () => write.write(), completes);
      } catch (error) {
        write.rolledBack();
        throw error;
      }
      write.committed(done);
      return done;
    });
  }

  /**
   * `work` as one write of this store. The recalls gathered so far go first, in the same commit, and are
   * forgotten once it has committed (set aside meanwhile, so a second write in the same transaction does
   * not write them again; back if it rolls back). The full-text mirror learns the rows inserted once
   * committed. `isOwnCommit`: false inside a caller's transaction, which may still roll back: there the
   * recalls wait and the mirror reads the rows back itself.
   */
  private storeWrite<T>(work: () => T, recallsAfterMs: number, isOwnCommit: boolean): JointWrite<T> {
    let recalls: Map<number, { at: number; count: number }> | null = null;
    let waitingSince: number | null = null;
    let texts: MemoryTextRow[] = [];
    /** The memories this write inserted as written, handed to the read cache once committed (memory-read-cache.ts `inserted`). */
    let inserted: number[] = [];
    return {
      write: () => {
        const isRecallsDue = recallsAfterMs <= 0 || (this.recallsWaitingSince !== null && performance.now() - this.recallsWaitingSince >= recallsAfterMs);
        if (isOwnCommit && isRecallsDue && this.unwrittenRecalls.size > 0) {
          const due = this.unwrittenRecalls;
          this.cache.writingRecalls(() => {
            for (const [id, { at, count }] of due) this.sql.touch.run({ id, now: at, count });
          });
          recalls = due;
          waitingSince = this.recallsWaitingSince;
          this.unwrittenRecalls = new Map();
          this.recallsWaitingSince = null;
        }
        try {
          const done = work();
          if (isOwnCommit && this.insertedTexts.size > 0) texts = [...this.insertedTexts.values()];
          return done;
        } finally {
          this.insertedTexts.clear();
          inserted = this.cache.takeInserted();
          if (!isOwnCommit) this.cache.insertsDropped(inserted);
        }
      },
      committed: () => {
        if (isOwnCommit) this.cache.insertsCommitted(inserted);
        if (texts.length > 0) this.mirror?.noteWritten(texts);
        if (recalls !== null) this.cache.recallsWritten(recalls);
        // The mirror follows the write in the writer's time (memory formation runs after the reply), not the next turn's.
        if (this.isMirrorUsed) this.mirror?.followSoon();
      },
      rolledBack: () => {
        this.cache.insertsDropped(inserted);
        if (recalls === null) return;
        for (const [id, recall] of recalls) {
          const later = this.unwrittenRecalls.get(id);
          this.unwrittenRecalls.set(id, later === undefined ? recall : { at: later.at, count: later.count + recall.count });
        }
        this.recallsWaitingSince = waitingSince;
        recalls = null;
      },
    };
  }
}

/** A UTF-16 surrogate without its pair: SQLite stores it as U+FFFD. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Lets the event loop take in what arrived (a request, a model's answer) before the next stretch of synchronous work. */
function betweenStretches(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
