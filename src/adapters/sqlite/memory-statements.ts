/** The memory store's SQL, prepared once (see memory-store.ts). */
import type { Database } from './database.js';
import type { ImportanceSource, Memory, MemoryKind, MemoryVisibility } from '../../domain/memory/memory.js';
import type { MessageText } from '../../ports/memory.js';

export interface MemoryRow {
  id: number;
  persona_id: string;
  kind: string;
  content: string;
  importance: number;
  importance_source: string;
  visibility: string;
  user_id: string | null;
  session_id: string | null;
  conversation_id: string | null;
  message_id: number | null;
  created_at: number;
  last_accessed_at: number;
  access_count: number;
  decayed_at: number;
  type_label: string | null;
  doc2query: string | null;
  shared_with: string | null;
  shared_groups: string | null;
}

/**
 * The columns `toMemory` reads plus the share lists (JSON arrays) of a memory row `m`. Not `m.*`: the
 * recall terms (~1,800 characters a memory with doc2query) would be copied out of SQLite for nothing.
 */
export const MEMORY_SELECT = `
  SELECT m.id, m.persona_id, m.kind, m.content, m.importance, m.importance_source, m.visibility, m.user_id, m.session_id,
    m.conversation_id, m.message_id, m.created_at, m.last_accessed_at, m.access_count, m.decayed_at, m.type_label, m.doc2query,
    (SELECT json_group_array(persona_id) FROM memory_shares WHERE memory_id = m.id AND persona_id IS NOT NULL) AS shared_with,
    (SELECT json_group_array(group_id) FROM memory_shares WHERE memory_id = m.id AND group_id IS NOT NULL) AS shared_groups
  FROM memories m`;

/**
 * The visibility rule in SQL (domain/memory/visibility.ts says the same in TypeScript): own memories,
 * public ones when asked, shared ones naming the viewer or one of its groups when asked.
 * `@viewer` NULL means every memory.
 */
export const VISIBLE = `(
  @viewer IS NULL OR m.persona_id = @viewer
  OR (@includePublic = 1 AND m.visibility = 'public')
  OR (@includeShared = 1 AND m.visibility = 'shared' AND EXISTS (
    SELECT 1 FROM memory_shares s WHERE s.memory_id = m.id
      AND (s.persona_id = @viewer OR s.group_id IN (SELECT id FROM persona_groups WHERE persona_id = @viewer))))
)`;

/** Only the memories of `@userId` (NULL: the anonymous local user), unless `@anyUser` is 1. */
export const OF_USER = '(@anyUser = 1 OR m.user_id IS @userId)';

export type ScopeParams = {
  viewer: string | null;
  includeShared: 0 | 1;
  includePublic: 0 | 1;
  minImportance: number;
  anyUser: 0 | 1;
  userId: string | null;
};

export function prepareMemoryStatements(db: Database) {
  return {
    insert: db.prepare<
      {
        persona_id: string;
        kind: string;
        content: string;
        importance: number;
        importance_source: string;
        visibility: string;
        user_id: string | null;
        session_id: string | null;
        conversation_id: string | null;
        message_id: number | null;
        type_label: string | null;
        recall_terms: string;
        expanded_with: string;
        doc2query: string | null;
        now: number;
      },
      { id: number }
    >(
      `INSERT INTO memories (persona_id, kind, content, importance, importance_source, visibility, user_id, session_id, conversation_id, message_id,
         type_label, recall_terms, expanded_with, doc2query, created_at, last_accessed_at, access_count, decayed_at)
       VALUES (@persona_id, @kind, @content, @importance, @importance_source, @visibility, @user_id, @session_id, @conversation_id, @message_id,
         @type_label, @recall_terms, @expanded_with, @doc2query, @now, @now, 0, @now) RETURNING id`,
    ),
    setRecallTerms: db.prepare<{ id: number; recall_terms: string; expanded_with: string }>(
      'UPDATE memories SET recall_terms = @recall_terms, expanded_with = @expanded_with WHERE id = @id',
    ),
    setDoc2Query: db.prepare<{ id: number; doc2query: string | null; recall_terms: string; expanded_with: string }>(
      'UPDATE memories SET doc2query = @doc2query, recall_terms = @recall_terms, expanded_with = @expanded_with WHERE id = @id',
    ),
    maxId: db.prepare<[], number | null>('SELECT max(id) FROM memories').pluck(),
    meta: db.prepare<[string], string>('SELECT value FROM memory_meta WHERE key = ?').pluck(),
    setMeta: db.prepare<[string, string]>('INSERT INTO memory_meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    /** The next memories (id order, after a keyset) whose recall terms predate the thesaurus version. */
    staleExpansions: db.prepare<{ after: number; version: string; limit: number }, { id: number; content: string; doc2query: string | null }>(
      'SELECT id, content, doc2query FROM memories WHERE id > @after AND expanded_with IS NOT @version ORDER BY id LIMIT @limit',
    ),
    /**
     * A persona's facts about one user, most important (then most recent) first: the "what I know about
     * you" block. Read along the `memories_user_facts` index backwards (migration 0036): no sort.
     */
    userFacts: db.prepare<{ persona: string; userId: string | null; limit: number }, MemoryRow>(
      `${MEMORY_SELECT} WHERE m.persona_id = @persona AND m.kind = 'user_fact' AND m.user_id IS @userId
       ORDER BY m.importance DESC, m.created_at DESC, m.id DESC LIMIT @limit`,
    ),
    /** The same over every user's facts (internal callers). */
    everyUsersFacts: db.prepare<{ persona: string; limit: number }, MemoryRow>(
      `${MEMORY_SELECT} WHERE m.persona_id = @persona AND m.kind = 'user_fact'
       ORDER BY m.importance DESC, m.created_at DESC, m.id DESC LIMIT @limit`,
    ),
    get: db.prepare<[number], MemoryRow>(`${MEMORY_SELECT} WHERE m.id = ?`),
    getMany: db.prepare<[string], MemoryRow>(`${MEMORY_SELECT} WHERE m.id IN (SELECT value FROM json_each(?))`),
    /** Only the columns ranking reads, of a search's candidates (no share lists, no text). */
    rankingFacts: db.prepare<[string], { id: number; importance: number; lastAccessedAt: number }>(
      'SELECT id, importance, last_accessed_at AS lastAccessedAt FROM memories WHERE id IN (SELECT value FROM json_each(?))',
    ),
    deleteMany: db.prepare<[string]>('DELETE FROM memories WHERE id IN (SELECT value FROM json_each(?))'),
    formedFrom: db.prepare<[number], number>("SELECT id FROM memories WHERE message_id = ? AND kind <> 'summary'").pluck(),
    fromMessage: db.prepare<[number], number>('SELECT id FROM memories WHERE message_id = ?').pluck(),
    isForgotten: db.prepare<[number], 1>('SELECT 1 FROM forgotten_messages WHERE message_id = ?').pluck(),
    forget: db.prepare<[number, number]>('INSERT OR IGNORE INTO forgotten_messages (message_id, forgotten_at) VALUES (?, ?)'),
    personaExists: db.prepare<[string], 1>('SELECT 1 FROM personas WHERE id = ?').pluck(),
    upsertVector: db.prepare<[number, string, Buffer]>(
      'INSERT INTO memory_vectors (memory_id, embedder, vector) VALUES (?, ?, ?) ON CONFLICT (memory_id, embedder) DO UPDATE SET vector = excluded.vector',
    ),
    deleteVectors: db.prepare<[number]>('DELETE FROM memory_vectors WHERE memory_id = ?'),
    /**
     * One page of an embedder's vectors, in id order (keyset paging: the index loads in steps). Read along
     * the primary key (`+v.embedder` keeps SQLite off any index on the embedder alone: 0003's found each
     * row's vector with a lookup of its own, 47 µs CPU a row instead of 10 at 100k memories; 0046 dropped it).
     */
    vectorsPage: db.prepare<[string, number, number], { memory_id: number; persona_id: string; user_id: string | null; vector: Buffer }>(
      `SELECT v.memory_id, m.persona_id, m.user_id, v.vector FROM memory_vectors v JOIN memories m ON m.id = v.memory_id
       WHERE +v.embedder = ? AND v.memory_id > ? ORDER BY v.memory_id LIMIT ?`,
    ),
    vectorOf: db.prepare<[number, string], { persona_id: string; user_id: string | null; vector: Buffer }>(
      'SELECT m.persona_id, m.user_id, v.vector FROM memory_vectors v JOIN memories m ON m.id = v.memory_id WHERE v.memory_id = ? AND v.embedder = ?',
    ),
    missingVectors: db.prepare<[string, number], { id: number; content: string }>(
      'SELECT id, content FROM memories m WHERE NOT EXISTS (SELECT 1 FROM memory_vectors v WHERE v.memory_id = m.id AND v.embedder = ?) ORDER BY id LIMIT ?',
    ),
    addShare: db.prepare<[number, string | null, string | null]>(
      'INSERT OR IGNORE INTO memory_shares (memory_id, persona_id, group_id) VALUES (?, ?, ?)',
    ),
    clearShares: db.prepare<[number]>('DELETE FROM memory_shares WHERE memory_id = ?'),
    /**
     * Ranks inside FTS5 first (`@scan` best matches, no join), then applies visibility and importance to
     * those only: joining every match of a common word against `memories` is what made this slow.
     * FTS5 computes BM25 for every row it returns, and `ORDER BY rank` returns every match, so the
     * innermost query takes the newest `@postings` matches only (rowid order is native: no sort, and it
     * stops there). BM25 keeps its table-wide statistics; only a query whose words match more than
     * `@postings` memories ranks a subset (the newest, which recency favours anyway).
     */
    fullText: db.prepare<
      ScopeParams & { match: string; limit: number; scan: number; postings: number; rankFunction: string },
      { id: number; rank: number }
    >(
      `SELECT m.id, f.rank FROM (
         SELECT rowid, rank FROM (
           SELECT rowid, rank FROM memories_fts WHERE memories_fts MATCH @match AND rank MATCH @rankFunction
           ORDER BY rowid DESC LIMIT @postings
         ) ORDER BY rank LIMIT @scan
       ) f JOIN memories m ON m.id = f.rowid
       WHERE m.importance >= @minImportance AND ${VISIBLE} AND ${OF_USER}
       ORDER BY f.rank LIMIT @limit`,
    ),
    /**
     * The newest matches the viewer may see, without BM25 (see fullTextSearch: a query made only of
     * common words). At most `@postings` matches are read, of the memories after id `@after`; their
     * order is FTS5's, newest first.
     */
    fullTextNewest: db
      .prepare<ScopeParams & { match: string; limit: number; postings: number; after: number }, number>(
        `SELECT m.id FROM (
           SELECT rowid FROM memories_fts WHERE memories_fts MATCH @match AND rowid > @after ORDER BY rowid DESC LIMIT @postings
         ) f JOIN memories m ON m.id = f.rowid
         WHERE m.importance >= @minImportance AND ${VISIBLE} AND ${OF_USER}
         LIMIT @limit`,
      )
      .pluck(),
    /** How many of at most `?` newest matches a query has, and the oldest of them (see documentCounts). */
    newestMatches: db.prepare<[string, number], { matches: number; oldest: number | null }>(
      'SELECT count(*) AS matches, min(rowid) AS oldest FROM (SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? ORDER BY rowid DESC LIMIT ?)',
    ),
    /** The searchable text of full-text hits, to measure how much of the query each one covers. */
    searchText: db.prepare<[string], { id: number; content: string; recall_terms: string }>(
      'SELECT id, content, recall_terms FROM memories WHERE id IN (SELECT value FROM json_each(?))',
    ),
    /**
     * Memories holding each term anywhere (`doc`: what FTS5 matches, for the postings budget) and in their
     * own text (`content_doc`: for the IDF of the query's words — recall terms such as "time" or "season"
     * are in hundreds of memories that never say them). A per-connection `temp` vocabulary table by column.
     */
    documentFrequency: (db.exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.memories_fts_columns USING fts5vocab(main, memories_fts, 'col')"),
    db.prepare<[string], { term: string; doc: number; content_doc: number }>(
      `SELECT term, sum(doc) AS doc, sum(CASE WHEN col = 'content' THEN doc ELSE 0 END) AS content_doc
       FROM temp.memories_fts_columns WHERE term IN (SELECT value FROM json_each(?)) GROUP BY term`,
    )),
    /** FTS5's "averages" record: the memory count, kept by FTS5 on every write (see ftsRowCount). */
    ftsAverages: db.prepare<[], Buffer>('SELECT block FROM memories_fts_data WHERE id = 1').pluck(),
    /** Which of these memories (a JSON array of ids) the scope may see: the `fullText` statement's filter. */
    visibleAmong: db
      .prepare<ScopeParams & { ids: string }, number>(
        `SELECT m.id FROM memories m WHERE m.id IN (SELECT value FROM json_each(@ids))
         AND m.importance >= @minImportance AND ${VISIBLE} AND ${OF_USER}`,
      )
      .pluck(),
    /** Others' memories the viewer may see (shared with it or public): small next to its own. */
    visibleOthers: db
      .prepare<ScopeParams, number>(
        `SELECT m.id FROM memories m WHERE m.visibility <> 'private' AND m.persona_id <> @viewer AND ${VISIBLE} AND ${OF_USER}`,
      )
      .pluck(),
    isVisible: db
      .prepare<ScopeParams & { id: number }, 1>(`SELECT 1 FROM memories m WHERE m.id = @id AND ${VISIBLE} AND ${OF_USER}`)
      .pluck(),
    /**
     * Recalls count (access count, recency); they never raise importance (issue 13: no rich-get-richer).
     * `@count` recalls of one memory, the last at `@now` (recordAccess gathers them).
     */
    touch: db.prepare<{ id: number; now: number; count: number }>(
      'UPDATE memories SET last_accessed_at = @now, access_count = access_count + @count WHERE id = @id',
    ),
    stats: db.prepare<
      [],
      { total: number; high: number; medium: number; low: number; avg: number | null; bytes: number | null; shared: number; public: number }
    >(
      `SELECT count(*) AS total,
         coalesce(sum(importance >= 0.7), 0) AS high,
         coalesce(sum(importance >= 0.4 AND importance < 0.7), 0) AS medium,
         coalesce(sum(importance < 0.4), 0) AS low,
         avg(importance) AS avg,
         sum(length(CAST(content AS BLOB))) + coalesce((SELECT sum(length(vector)) FROM memory_vectors), 0) AS bytes,
         coalesce(sum(visibility = 'shared'), 0) AS shared,
         coalesce(sum(visibility = 'public'), 0) AS public
       FROM memories`,
    ),
    byPersona: db.prepare<[], { persona_id: string; n: number }>(
      'SELECT persona_id, count(*) AS n FROM memories GROUP BY persona_id ORDER BY persona_id',
    ),
    crossReferences: db.prepare<[], number>('SELECT count(*) FROM memory_shares').pluck(),
    // The same figures over one user's memories (memory.stats for a plain user).
    userStats: db.prepare<
      [string],
      { total: number; high: number; medium: number; low: number; avg: number | null; bytes: number | null; shared: number; public: number }
    >(
      `WITH mine AS (SELECT * FROM memories WHERE user_id = ?)
       SELECT count(*) AS total,
         coalesce(sum(importance >= 0.7), 0) AS high,
         coalesce(sum(importance >= 0.4 AND importance < 0.7), 0) AS medium,
         coalesce(sum(importance < 0.4), 0) AS low,
         avg(importance) AS avg,
         sum(length(CAST(content AS BLOB))) + coalesce((SELECT sum(length(vector)) FROM memory_vectors WHERE memory_id IN (SELECT id FROM mine)), 0) AS bytes,
         coalesce(sum(visibility = 'shared'), 0) AS shared,
         coalesce(sum(visibility = 'public'), 0) AS public
       FROM mine`,
    ),
    userByPersona: db.prepare<[string], { persona_id: string; n: number }>(
      'SELECT persona_id, count(*) AS n FROM memories WHERE user_id = ? GROUP BY persona_id ORDER BY persona_id',
    ),
    userCrossReferences: db.prepare<[string], number>('SELECT count(*) FROM memory_shares WHERE memory_id IN (SELECT id FROM memories WHERE user_id = ?)').pluck(),
    personaIds: db.prepare<[], string>('SELECT DISTINCT persona_id FROM memories ORDER BY persona_id').pluck(),
    pruneCandidates: db.prepare<[string], { id: number; importance: number; lastAccessedAt: number }>(
      'SELECT id, importance, last_accessed_at AS lastAccessedAt FROM memories WHERE persona_id = ?',
    ),
    countAll: db.prepare<[], number>('SELECT count(*) FROM memories').pluck(),
    decayRows: db.prepare<[], { id: number; persona_id: string; importance: number; decayed_at: number; last_accessed_at: number }>(
      'SELECT id, persona_id, importance, decayed_at, last_accessed_at FROM memories',
    ),
    setDecayed: db.prepare<{ id: number; importance: number; now: number }>(
      'UPDATE memories SET importance = @importance, decayed_at = @now WHERE id = @id',
    ),
    recordRun: db.prepare(
      `INSERT INTO memory_maintenance_runs (kind, persona_id, started_at, processing_ms, personas_processed, memories_affected, average_value)
       VALUES (@kind, @personaId, @startedAt, @processingMs, @personasProcessed, @memoriesAffected, @averageValue)`,
    ),
    runs: db.prepare<
      [string, number],
      {
        kind: 'decay' | 'prune';
        persona_id: string | null;
        started_at: number;
        processing_ms: number;
        personas_processed: number;
        memories_affected: number;
        average_value: number;
      }
    >('SELECT * FROM memory_maintenance_runs WHERE kind = ? ORDER BY id DESC LIMIT ?'),
    runTotals: db.prepare<[string], { runs: number; affected: number | null }>(
      'SELECT count(*) AS runs, sum(memories_affected) AS affected FROM memory_maintenance_runs WHERE kind = ?',
    ),
    clearGroup: db.prepare<[string]>('DELETE FROM persona_groups WHERE id = ?'),
    addToGroup: db.prepare<[string, string]>('INSERT OR IGNORE INTO persona_groups (id, persona_id) VALUES (?, ?)'),
    groups: db.prepare<[], { id: string; persona_id: string }>('SELECT id, persona_id FROM persona_groups ORDER BY id, persona_id'),
    message: db.prepare<
      [number],
      {
        id: number;
        conversation_id: string;
        role: 'user' | 'assistant' | 'system';
        persona_id: string | null;
        content: string;
        created_at: number;
      }
    >('SELECT id, conversation_id, role, persona_id, content, created_at FROM messages WHERE id = ?'),
    messagesAfter: db.prepare<
      [string, number, number],
      {
        id: number;
        conversation_id: string;
        role: 'user' | 'assistant' | 'system';
        persona_id: string | null;
        content: string;
        created_at: number;
      }
    >(
      'SELECT id, conversation_id, role, persona_id, content, created_at FROM messages WHERE conversation_id = ? AND id > ? ORDER BY id LIMIT ?',
    ),
    countMessagesAfter: db.prepare<[string, number, number], number>('SELECT count(*) FROM (SELECT 1 FROM messages WHERE conversation_id = ? AND id > ? LIMIT ?)').pluck(),
    latestSummary: db.prepare<[string], MemoryRow>(
      `${MEMORY_SELECT} WHERE m.conversation_id = ? AND m.kind = 'summary' ORDER BY m.id DESC LIMIT 1`,
    ),
    summariesContaining: db
      .prepare<[string], number>("SELECT id FROM memories WHERE kind = 'summary' AND instr(lower(content), lower(?)) > 0")
      .pluck(),
  };
}

export type MemoryStatements = ReturnType<typeof prepareMemoryStatements>;

/** A memory row as the domain's `Memory` (both stores select the same columns, `MEMORY_SELECT`). */
export function toMemory(row: MemoryRow): Memory {
  return {
    id: row.id,
    personaId: row.persona_id,
    kind: row.kind as MemoryKind,
    label: row.type_label ?? row.kind,
    content: row.content,
    doc2query: row.doc2query,
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

/** The columns of a message that memory work reads (summaries, formation). */
export interface MessageTextRow {
  id: number;
  conversation_id: string;
  role: MessageText['role'];
  persona_id: string | null;
  content: string;
  created_at: number;
}

export function toMessage(row: MessageTextRow): MessageText {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    role: row.role,
    personaId: row.persona_id,
    content: row.content,
    createdAt: row.created_at,
  };
}
