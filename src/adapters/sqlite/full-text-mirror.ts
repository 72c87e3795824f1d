/**
 * The memories' full-text index held in memory for a small store (issue 15), so a chat turn's recall
 * does not ask FTS5 to rank: FTS5's BM25 over a query of 20 words and its 48 thesaurus terms read every
 * matching row's position lists (4–7 ms of CPU per turn at a store of a few hundred memories whose
 * texts share most words), and the words' document counts were read again after every write.
 *
 * It answers exactly what FTS5 would: the documents are tokenized as FTS5 does — ASCII text split as
 * `unicode61` splits it and each word's term made by FTS5's porter step (fts5-porter.ts, a translation of
 * its C code checked against FTS5 on ~180,000 words), any other text **by FTS5 itself** (a contentless
 * temp table with the same `porter unicode61` tokenizer; fts5vocab lists its tokens) — and BM25 is FTS5's
 * formula (fts5_aux.c `fts5Bm25Function`, k1 1.2, b 0.75) over the same statistics — the row count and
 * token totals of FTS5's own "averages" record, a phrase's documents, a row's tokens — summed in the
 * same order. `memory-store.test.ts` checks it against FTS5 on every query of its corpora.
 *
 * It follows the table: the store reports which memories its writes touched (`noteChanged`), other
 * connections' commits come from the change log (connection-follow.ts: 0049's `memory_changes`), and the
 * next search re-reads those rows — in one read transaction with FTS5's totals it checks them against, so
 * a commit landing meanwhile cannot make them disagree. Anything else — a persona deleted with its
 * memories (a cascade), a log pruned past what it applied, a totals mismatch — rebuilds it from the
 * table. A store past MIRRORED_STORE_MAX memories is not mirrored (memory grows with it; FTS5 answers).
 */
import { ConnectionFollow, isTextChange } from './connection-follow.js';
import type { Database } from './database.js';
import { fts5PorterTerm } from './fts5-porter.js';

/** Most memories mirrored (a memory of the chat bench holds ~250 tokens: a few MB per thousand). */
export const MIRRORED_STORE_MAX = 2_000;

/**
 * A store of at most this many memories is read at once on the first search (~0.3 ms a memory of the
 * chat bench's, more on a busy machine); a larger one in steps of BUILD_STEP, yielding between them.
 */
const BUILD_AT_ONCE_MAX = 100;
const BUILD_STEP = 50;

/** FTS5's BM25 constants (fts5_aux.c). */
const K1 = 1.2;
const B = 0.75;

interface MirroredMemory {
  id: number;
  personaId: string;
  userId: string | null;
  contentTokens: number;
  recallTokens: number;
  /** The row's distinct FTS5 terms, and whether its text / its recall terms hold each (to take it out again). */
  terms: string[];
  /** Per term (same order): 1 its text holds it, 2 its recall terms do, 3 both. */
  columns: Uint8Array;
  // Scratch space of one `rank` call (which call, the row's BM25 sum and length term so far).
  rankedIn: number;
  score: number;
  lengthTerm: number;
  /** The stems coverage reads (of its text, of its recall terms), made when the mirror read the row; null without a `CoverageStemmer`. */
  stems: CoverageStems | null;
  // Scratch space of one `coverage` call (which call, the row's place among its candidates).
  coveredIn: number;
  coveredAt: number;
}

/**
 * How the store's coverage stems a text (memory-store.ts `stemsOf`, the `stemmer` package's) and one
 * word: the stems of an ASCII text must be those of its lower-cased runs of [a-z0-9] by `stemOf`, in
 * order — the mirror makes an ASCII memory's stems from the words it has split for FTS5's terms.
 */
export interface CoverageStemmer {
  stemsOf(text: string): Set<string>;
  stemOf(word: string): string;
}

/** A memory's stems as the store's coverage reads them. */
export interface CoverageStems {
  content: Set<string>;
  recallTerms: Set<string>;
}

/** The memories holding a coverage stem, and (same index) where: 1 its text, 2 its recall terms, 3 both. */
interface StemHolders {
  docs: MirroredMemory[];
  masks: number[];
}

/** One weighted sum `coverage` takes per candidate: the stems in order, their weights, and the factor of a stem held only in the recall terms. */
export interface CoverageSum {
  stems: readonly string[];
  weights: readonly number[];
  recallFactor: number;
}

interface Postings {
  /** Memories holding the term in their text / in their recall terms (fts5vocab 'col' counts). */
  contentDocs: number;
  recallDocs: number;
  /** The memories holding the term, and (same index) its weighted frequency in each, as FTS5's BM25 sums it (text 1, recall terms `recallWeight`). */
  docs: MirroredMemory[];
  frequencies: number[];
}

/** A memory's row as the mirror reads it. */
export interface MemoryTextRow {
  id: number;
  persona_id: string;
  user_id: string | null;
  content: string;
  recall_terms: string;
}

/** FTS5's "averages" record: a varint row count, then a varint token total per column (fts5_index.c). */
export function ftsAverages(record: Uint8Array | undefined): number[] {
  const values: number[] = [];
  if (record === undefined) return values;
  for (let at = 0; at < record.length; ) {
    let value = 0;
    for (let i = 0; i < 9 && at < record.length; i++) {
      const byte = record[at++]!;
      if (i === 8) {
        value = value * 256 + byte;
        break;
      }
      value = value * 128 + (byte & 0x7f);
      if ((byte & 0x80) === 0) break;
    }
    values.push(value);
  }
  return values;
}

/** The mirror's statements; the tokenizer is a contentless temp FTS5 table with the memories' tokenizer. */
function prepare(db: Database) {
  // The same tokenizer as memories_fts (migration 0025): FTS5 decides what a token is, not this module.
  db.exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.memories_fts_tokenizer USING fts5(content, recall_terms, content = '', tokenize = 'porter unicode61')");
  db.exec("CREATE VIRTUAL TABLE IF NOT EXISTS temp.memories_fts_tokens USING fts5vocab(temp, memories_fts_tokenizer, 'instance')");
  return {
    allRows: db.prepare<[], MemoryTextRow>('SELECT id, persona_id, user_id, content, recall_terms FROM memories'),
    page: db.prepare<[number, number], MemoryTextRow>('SELECT id, persona_id, user_id, content, recall_terms FROM memories WHERE id > ? ORDER BY id LIMIT ?'),
    rows: db.prepare<[string], MemoryTextRow>('SELECT id, persona_id, user_id, content, recall_terms FROM memories WHERE id IN (SELECT value FROM json_each(?))'),
    tokenize: db.prepare<[number, string, string]>('INSERT INTO temp.memories_fts_tokenizer (rowid, content, recall_terms) VALUES (?, ?, ?)'),
    tokens: db.prepare<[], { doc: number; col: string; term: string; n: number }>(
      'SELECT doc, col, term, count(*) AS n FROM temp.memories_fts_tokens GROUP BY doc, col, term',
    ),
    clear: db.prepare("INSERT INTO temp.memories_fts_tokenizer (memories_fts_tokenizer) VALUES ('delete-all')"),
    averages: db.prepare<[], Buffer>('SELECT block FROM memories_fts_data WHERE id = 1').pluck(),
    ln: db.prepare<[number], number>('SELECT ln(?)').pluck(),
  };
}

/** A word FTS5's unicode61 tokenizer reads as one token, unchanged by its case folding. */
const PLAIN_WORD = /^[a-z0-9]+$/;
/** A character beyond ASCII. Text without one is split here: unicode61 splits ASCII at anything but [A-Za-z0-9] and lower-cases it. */
const NOT_ASCII = /[^\p{ASCII}]/u;
const LOWER_ASCII_TOKEN = /[a-z0-9]+/g;

/** Most memories whose stems are kept (a turn's recall ranks up to ~100 candidates, mostly the same ones). */
const STEMS_KEPT = 1_000;
/** Most logarithms remembered (an IDF's argument depends on the row count and the phrase's documents only). */
const LOGS_KEPT = 20_000;
/** Most words whose forms are remembered (memories and queries repeat their words). */
const WORD_FORMS_KEPT = 50_000;

/**
 * A word's FTS5 term (null: not exactly one FTS5 token) and its coverage stem (undefined until asked), and
 * the last row (`asciiTerms`' mark) whose text / recall terms held the word: a memory's recall terms repeat
 * half their ~200 words, and a repeat then only counts (its stem is in the row's set already).
 */
interface WordForms {
  term: TermSlot | null;
  stem: string | undefined;
  inContentOf: number;
  inRecallOf: number;
}

/** An FTS5 term, shared by the words it is the term of, and its place among the terms of the last row that held it (`row`: that row's mark). */
interface TermSlot {
  term: string;
  row: number;
  at: number;
}

/** The unicode61 tokens of an ASCII text, folded to lower case (the text folded once: its words then need no copy each). */
function asciiWords(text: string): string[] {
  return text.toLowerCase().match(LOWER_ASCII_TOKEN) ?? [];
}

export class FullTextMirror {
  private readonly sql: ReturnType<typeof prepare>;
  private readonly docs = new Map<number, MirroredMemory>();
  private readonly postings = new Map<string, Postings>();
  /** A word's FTS5 term (null: it is not exactly one token, e.g. a word FTS5 splits) and its coverage stem (made when first needed). */
  private readonly wordForms = new Map<string, WordForms>();
  /** Each term of `wordForms` once (words with the same term share its slot). */
  private readonly termSlots = new Map<string, TermSlot>();
  /** `asciiTerms`' calls: each row's mark in its words' forms and slots. */
  private rowMarks = 0;
  private isBuilt = false;
  /** Set when the mirror cannot follow the table (its totals disagree with FTS5's after a rebuild). */
  private isDisabled = false;
  private readonly changed = new Set<number>();
  /** Of the changed memories, those whose committed texts the store handed over (`noteWritten`). */
  private readonly written = new Map<number, MemoryTextRow>();
  private readonly follow: ConnectionFollow;
  /** `follow` in one read transaction (a savepoint inside an open one): the totals, the log and the rows of one snapshot. */
  private readonly inOneSnapshot: { deferred(work: () => FullTextMirror | null): FullTextMirror | null };
  /** Counts the times the log could not tell what changed: a build in steps under way then does not count as built. */
  private losses = 0;
  private rankCalls = 0;
  /** `rank`'s matches, as many as it last found (undefined between calls). */
  private readonly matches: Array<MirroredMemory | undefined> = [];
  /** A build in steps under way (see buildInSteps). */
  private building: Promise<void> | null = null;
  /** Built from the table and not changed since: a totals mismatch now means the mirror cannot follow it. */
  private isFresh = false;
  private readonly logs = new Map<number, number>();
  private readonly stems = new Map<number, { content: Set<string>; recallTerms: Set<string> }>();
  /** Coverage stem → the memories holding it (with a `CoverageStemmer` only). */
  private readonly stemHolders = new Map<string, StemHolders>();
  private coverageCalls = 0;
  private contentTokens = 0;
  private recallTokens = 0;
  /** FTS5's row count and average row length (all columns), as of the last `current`. */
  private rows = 0;
  private averageLength = 0;

  constructor(
    private readonly db: Database,
    /** The weight of a match in the recall terms column (the store's `bm25(1.0, w)`). */
    private readonly recallWeight: number,
    /**
     * The stems a memory's coverage of a query is measured by (memory-store.ts `stemsOf`). Given, each
     * mirrored memory's stems are made when the mirror reads its row — after the write that changed it,
     * off the next turn's path — and kept with an index from stem to memories (`coverage`).
     */
    private readonly coverageStems?: CoverageStemmer,
  ) {
    this.sql = prepare(db);
    this.inOneSnapshot = db.transaction((work: () => FullTextMirror | null) => work());
    this.follow = ConnectionFollow.of(db);
    this.follow.follow('memories', {
      apply: (rows) => {
        for (const row of rows) if (isTextChange(row)) this.noteChanged([row.memory_id]);
        // A mirror in use reads another connection's memories (a jobs thread's formations) as it reads its own store's: soon, not on the next turn.
        if (this.isBuilt) this.followSoon();
      },
      lost: () => {
        this.losses++;
        this.isBuilt = false;
      },
    });
  }

  private isFollowDue = false;

  /**
   * Follows the changes reported so far in a stretch of its own, after the event loop has taken in what
   * arrived meanwhile (a turn that starts first has its search bring the mirror up to date itself), so
   * the next turn's recall finds it current. Inside an open transaction it waits: that one may still roll back.
   */
  followSoon(): void {
    if (this.isFollowDue || !this.hasChanges) return;
    this.isFollowDue = true;
    setImmediate(() => {
      this.isFollowDue = false;
      if (!this.db.open || this.db.inTransaction || !this.hasChanges) return;
      this.current();
    });
  }

  /** Whether writes were reported since the mirror last followed the table. */
  get hasChanges(): boolean {
    return this.changed.size > 0;
  }

  /** Memories a write added, changed or removed: re-read by the next search. */
  noteChanged(ids: Iterable<number>): void {
    for (const id of ids) {
      this.changed.add(id);
      this.written.delete(id);
    }
  }

  /**
   * Memories a committed write added, with the texts it wrote: the next search takes them as they are
   * instead of reading them back (a change reported after this, `noteChanged`, has them read again).
   */
  noteWritten(rows: readonly MemoryTextRow[]): void {
    for (const row of rows) {
      this.changed.add(row.id);
      this.written.set(row.id, row);
    }
  }

  /**
   * The mirror, in step with the table, or null when FTS5 must answer: a store past
   * MIRRORED_STORE_MAX memories, or one the mirror cannot follow.
   */
  current(): FullTextMirror | null {
    if (this.isDisabled) return null;
    try {
      return this.inOneSnapshot.deferred(() => this.followTable());
    } catch {
      // FTS5 answers this search; the next one starts the mirror afresh.
      this.drop();
      return null;
    }
  }

  private followTable(): FullTextMirror | null {
    this.follow.check();
    const [rows = 0, contentTotal = 0, recallTotal = 0] = ftsAverages(this.sql.averages.get());
    if (rows > MIRRORED_STORE_MAX) {
      // Nothing to follow: should the store shrink again, the mirror is rebuilt from the table.
      if (this.isBuilt) this.drop();
      this.changed.clear();
      this.written.clear();
      return null;
    }
    if (!this.isBuilt) {
      // A small store is read at once; a larger one in steps, FTS5 answering meanwhile (no stalled turn).
      if (this.building !== null || rows > BUILD_AT_ONCE_MAX) {
        this.buildInSteps();
        return null;
      }
      this.rebuild();
    }
    const isFresh = this.changed.size === 0 && this.isFresh;
    if (this.changed.size > 0) this.refresh([...this.changed]);
    this.changed.clear();
    this.written.clear();
    this.isFresh = false;
    if (this.docs.size !== rows || this.contentTokens !== contentTotal || this.recallTokens !== recallTotal) {
      // A write this store was not told of (a persona deleted with its memories, another store object).
      // Just read and still not in step: the mirror cannot follow this table; FTS5 answers from now on.
      if (isFresh) {
        this.isDisabled = true;
        this.drop();
        return null;
      }
      this.isBuilt = false;
      return this.followTable();
    }
    this.rows = rows;
    this.averageLength = (contentTotal + recallTotal) / rows;
    return this;
  }

  /** FTS5's row count as of the last `current` (the memories mirrored). */
  get rowCount(): number {
    return this.rows;
  }

  /** Memories holding a term (an FTS5 term: a porter stem) in their text / recall terms, as fts5vocab counts them. */
  documents(term: string): { content: number; recallTerms: number } {
    return { content: this.contentDocuments(term), recallTerms: this.postings.get(term)?.recallDocs ?? 0 };
  }

  /** Memories holding a term in their text (fts5vocab's 'col' count for it). */
  contentDocuments(term: string): number {
    return this.postings.get(term)?.contentDocs ?? 0;
  }

  /** `documents`' two counts added (a memory holding the term in both columns counts twice, as the sum of fts5vocab's 'col' counts does). */
  documentsHolding(term: string): number {
    const postings = this.postings.get(term);
    return postings === undefined ? 0 : postings.contentDocs + postings.recallDocs;
  }

  /**
   * The stems `lexicalCoverage` reads (the `stemmer` package's, of its text and of its recall terms), of
   * a mirrored memory recalled lately (a turn ranks the same candidates turn after turn); undefined
   * otherwise (the caller reads its text: `keepStems`).
   */
  stemsFor(id: number): { content: Set<string>; recallTerms: Set<string> } | undefined {
    return this.docs.get(id)?.stems ?? this.stems.get(id);
  }

  /**
   * Per candidate (`ids`, mirrored memories), each of `sums`: Σ over its stems in order of weight × (1
   * when the memory's text holds the stem, `recallFactor` when only its recall terms do). The memory
   * store's `lexicalCoverage` tests each of ~100 candidates against each of ~66 query stems (two set
   * lookups per miss); this walks each stem's holders instead, and adds the same non-zero terms to each
   * candidate's sum in the same order, so the sums are the same to the bit. Null when a candidate is
   * not mirrored or the mirror keeps no coverage stems (the caller measures from the stems itself).
   */
  coverage(ids: readonly number[], sums: readonly CoverageSum[]): Float64Array[] | null {
    if (this.coverageStems === undefined) return null;
    const call = ++this.coverageCalls;
    for (let at = 0; at < ids.length; at++) {
      const doc = this.docs.get(ids[at]!);
      if (doc === undefined || doc.stems === null) return null;
      doc.coveredIn = call;
      doc.coveredAt = at;
    }
    return sums.map(({ stems, weights, recallFactor }) => {
      const totals = new Float64Array(ids.length);
      for (let i = 0; i < stems.length; i++) {
        const holders = this.stemHolders.get(stems[i]!);
        if (holders === undefined) continue;
        const weight = weights[i]!;
        const { docs, masks } = holders;
        for (let j = 0; j < docs.length; j++) {
          const doc = docs[j]!;
          if (doc.coveredIn !== call) continue;
          const factor = (masks[j]! & 1) !== 0 ? 1 : recallFactor;
          if (factor !== 0) totals[doc.coveredAt] = totals[doc.coveredAt]! + weight * factor;
        }
      }
      return totals;
    });
  }

  /** Keeps a mirrored memory's stems, made from its current texts, until it changes. */
  keepStems(id: number, stems: { content: Set<string>; recallTerms: Set<string> }): void {
    if (!this.docs.has(id)) return;
    if (this.stems.size >= STEMS_KEPT) this.stems.clear();
    this.stems.set(id, stems);
  }

  owner(id: number): { personaId: string; userId: string | null } | undefined {
    return this.docs.get(id);
  }

  /**
   * The memories matching any of `words` (FTS5's `"w1" OR "w2" …`, each word one phrase), newest
   * `postings` of them, with FTS5's BM25 as `rank`: lower is better, as FTS5 reports it; `best(n)` gives
   * them as FTS5's `ORDER BY rank` returns them (ties newest first). Null when a word is not one FTS5
   * token (FTS5 must parse that query itself).
   */
  rank(words: readonly string[], postings: number): RankedMatches | null {
    const terms = this.termsOf(words);
    if (terms === null) return null;
    const call = ++this.rankCalls;
    // A recall ranks ~600 matches twice (its words, then their thesaurus terms): one array serves every
    // call, its first `count` entries this call's (an array's length set to 0 would drop its storage).
    const matches = this.matches;
    let count = 0;
    // fts5Bm25Function: score = Σ over phrases, in query order, of IDF × f(k1 + 1) / (f + k1(1 − b + b·D/avgdl)).
    // One pass: each row's terms are added in the phrases' order, as FTS5 adds them.
    for (const term of terms) {
      const phrase = this.postings.get(term);
      if (phrase === undefined) continue; // no row holds it: it adds 0 to every score
      const hits = phrase.docs.length;
      let idf = this.log((this.rows - hits + 0.5) / (hits + 0.5));
      if (idf <= 0.0) idf = 1e-6;
      const { docs, frequencies } = phrase;
      for (let i = 0; i < docs.length; i++) {
        const doc = docs[i]!;
        if (doc.rankedIn !== call) {
          doc.rankedIn = call;
          doc.score = 0;
          // k1 (1 − b + b·D/avgdl), D the row's tokens in all columns (FTS5's xColumnSize(-1)).
          doc.lengthTerm = K1 * (1 - B + (B * (doc.contentTokens + doc.recallTokens)) / this.averageLength);
          matches[count++] = doc;
        }
        const frequency = frequencies[i]!;
        doc.score += idf * ((frequency * (K1 + 1.0)) / (frequency + doc.lengthTerm));
      }
    }
    // Only the newest `postings` matches are ranked (the `fullText` statement's inner LIMIT); a row's
    // score does not depend on which others are ranked (a phrase's IDF counts all its rows).
    const ranked = count > postings ? matches.slice(0, count).sort((a, b) => b!.id - a!.id) : matches;
    const size = Math.min(count, postings);
    const ids = new Float64Array(size);
    const ranks = new Float64Array(size);
    for (let at = 0; at < size; at++) {
      ids[at] = ranked[at]!.id;
      ranks[at] = -1.0 * ranked[at]!.score;
    }
    // Holds no memory past the call (one removed meanwhile would be kept), and keeps its storage.
    matches.fill(undefined, 0, count);
    return new RankedMatches(ids, ranks);
  }

  /**
   * The natural logarithm as FTS5's BM25 takes it: the C library's `log` (SQLite's `ln` calls it), which
   * differs from V8's Math.log in the last bit for ~7 % of arguments — enough to swap two ranks. Cached.
   */
  private log(value: number): number {
    let result = this.logs.get(value);
    if (result === undefined) {
      if (this.logs.size >= LOGS_KEPT) this.logs.clear();
      result = this.sql.ln.get(value)!;
      this.logs.set(value, result);
    }
    return result;
  }

  /** FTS5's term for each word, or null when one is not exactly one token. */
  private termsOf(words: readonly string[]): string[] | null {
    this.trimWordForms();
    const terms: string[] = [];
    for (const word of words) {
      const { term } = this.formsOf(word);
      if (term === null) return null;
      terms.push(term.term);
    }
    return terms;
  }

  /**
   * A word's forms, kept: a run of ASCII letters and digits is exactly one unicode61 token, folded to
   * lower case, whose term FTS5's porter step makes (fts5-porter.ts, the same algorithm; asking FTS5
   * through the temp table cost ~0.1–0.3 ms a message); any other word gets null (not mirrored).
   */
  private formsOf(word: string): WordForms {
    let forms = this.wordForms.get(word);
    if (forms === undefined) {
      forms = { term: PLAIN_WORD.test(word) ? this.slotOf(fts5PorterTerm(word)) : null, stem: undefined, inContentOf: 0, inRecallOf: 0 };
      this.wordForms.set(word, forms);
    }
    return forms;
  }

  private slotOf(term: string): TermSlot {
    let slot = this.termSlots.get(term);
    if (slot === undefined) {
      slot = { term, row: 0, at: 0 };
      this.termSlots.set(term, slot);
    }
    return slot;
  }

  /** Forgets the forms past WORD_FORMS_KEPT words: between rows only (a row's words must keep their slots while it is counted). */
  private trimWordForms(): void {
    if (this.wordForms.size < WORD_FORMS_KEPT) return;
    this.wordForms.clear();
    this.termSlots.clear();
  }

  /** Runs `work` on the tokenizer table, which is empty before and after (whatever `work` throws). */
  private withTokenizer<T>(work: () => T): T {
    try {
      return work();
    } finally {
      this.sql.clear.run();
    }
  }

  private rebuild(): void {
    this.drop();
    this.add(this.sql.allRows.all());
    this.isBuilt = true;
    this.isFresh = true;
  }

  /** Resolves once a build in steps (started by `current`) has finished. */
  whenBuilt(): Promise<void> {
    return this.building ?? Promise.resolve();
  }

  /**
   * Reads the table BUILD_STEP memories at a time, yielding to the event loop between steps. Writes
   * reported meanwhile are re-read once it is done (`changed` is kept); the next `current` checks it.
   */
  private buildInSteps(): void {
    if (this.building !== null) return;
    this.drop();
    const losses = this.losses;
    this.building = (async () => {
      try {
        for (let after = 0; ; ) {
          const rows = this.sql.page.all(after, BUILD_STEP);
          this.add(rows);
          if (rows.length < BUILD_STEP) break;
          after = rows.at(-1)!.id;
          await new Promise((resolve) => setImmediate(resolve));
          if (!this.db.open) return;
        }
        // Changes the log could not name came meanwhile: pages read before them may be stale (the next search builds again).
        if (losses !== this.losses) return;
        this.isBuilt = true;
        this.isFresh = true;
      } catch {
        this.drop(); // the next search tries again
      } finally {
        this.building = null;
      }
    })();
  }

  private drop(): void {
    // Texts handed over are as of their commit: after a rebuild (another connection's commit) they are read again.
    this.written.clear();
    this.docs.clear();
    this.postings.clear();
    this.stemHolders.clear();
    this.stems.clear();
    this.contentTokens = 0;
    this.recallTokens = 0;
    this.isBuilt = false;
  }

  /** Re-reads these memories (those whose texts were handed over, from them): the current text of those still there, none of those deleted. */
  private refresh(ids: readonly number[]): void {
    for (const id of ids) this.remove(id);
    const unwritten = ids.filter((id) => !this.written.has(id));
    const rows = ids.flatMap((id) => this.written.get(id) ?? []);
    this.add(unwritten.length === 0 ? rows : [...rows, ...this.sql.rows.all(JSON.stringify(unwritten))]);
  }

  /**
   * An ASCII row's terms with their counts per column, and its coverage stems, from its words split
   * here (each word's forms made once: `formsOf`); null when a word is not exactly one FTS5 token (FTS5
   * tokenizes the row).
   */
  private asciiTerms(row: MemoryTextRow): RowTerms | null {
    this.trimWordForms();
    const mark = ++this.rowMarks;
    const terms = new RowTerms(this.coverageStems !== undefined);
    return this.countWords(terms, asciiWords(row.content), 0, mark) && this.countWords(terms, asciiWords(row.recall_terms), 1, mark) ? terms : null;
  }

  /**
   * Counts a column's words (0 the text, 1 the recall terms) into the row's terms, a term's place found
   * through its slot (no lookup by term), and adds each word's stem the first time the column holds it.
   * False when a word is not exactly one FTS5 token.
   */
  private countWords(terms: RowTerms, words: readonly string[], column: 0 | 1, mark: number): boolean {
    const stemmer = this.coverageStems;
    const stems = terms.stems === null ? null : column === 0 ? terms.stems.content : terms.stems.recallTerms;
    for (const word of words) {
      const forms = this.formsOf(word);
      const slot = forms.term;
      if (slot === null) return false;
      if (slot.row !== mark) {
        slot.row = mark;
        slot.at = terms.place(slot.term);
      }
      terms.countAt(slot.at, column, 1);
      if (stems === null) continue;
      if (column === 0 ? forms.inContentOf === mark : forms.inRecallOf === mark) continue;
      if (column === 0) forms.inContentOf = mark;
      else forms.inRecallOf = mark;
      stems.add((forms.stem ??= stemmer!.stemOf(word)));
    }
    return true;
  }

  /**
   * Gives a memory its coverage stems (`stems`: made with its terms, or made here) and enters it under
   * each of them: its text's stems first, then those only its recall terms hold.
   */
  private addStems(doc: MirroredMemory, row: MemoryTextRow, stems: CoverageStems | null): void {
    const content = stems?.content ?? this.coverageStems!.stemsOf(row.content);
    const recallTerms = stems?.recallTerms ?? this.coverageStems!.stemsOf(row.recall_terms);
    doc.stems = { content, recallTerms };
    for (const stem of content) this.holdStem(stem, doc, recallTerms.has(stem) ? 3 : 1);
    for (const stem of recallTerms) if (!content.has(stem)) this.holdStem(stem, doc, 2);
  }

  private holdStem(stem: string, doc: MirroredMemory, mask: number): void {
    let holders = this.stemHolders.get(stem);
    if (holders === undefined) {
      holders = { docs: [], masks: [] };
      this.stemHolders.set(stem, holders);
    }
    holders.docs.push(doc);
    holders.masks.push(mask);
  }

  private remove(id: number): void {
    const doc = this.docs.get(id);
    if (doc === undefined) return;
    for (const [index, term] of doc.terms.entries()) {
      const postings = this.postings.get(term)!;
      const at = postings.docs.indexOf(doc);
      postings.docs.splice(at, 1);
      postings.frequencies.splice(at, 1);
      if ((doc.columns[index]! & 1) !== 0) postings.contentDocs--;
      if ((doc.columns[index]! & 2) !== 0) postings.recallDocs--;
      if (postings.docs.length === 0) this.postings.delete(term);
    }
    if (doc.stems !== null)
      for (const stem of new Set([...doc.stems.content, ...doc.stems.recallTerms])) {
        const holders = this.stemHolders.get(stem)!;
        const at = holders.docs.indexOf(doc);
        holders.docs.splice(at, 1);
        holders.masks.splice(at, 1);
        if (holders.docs.length === 0) this.stemHolders.delete(stem);
      }
    this.stems.delete(id);
    this.docs.delete(id);
    this.contentTokens -= doc.contentTokens;
    this.recallTokens -= doc.recallTokens;
  }

  /**
   * Tokenizes the rows as FTS5 does and adds them. An ASCII text is split here (unicode61 splits ASCII
   * at anything but letters and digits) and its words' terms come from FTS5 once per word; any other
   * text is tokenized by FTS5 whole (the temp table; fts5vocab lists its tokens).
   */
  private add(rows: readonly MemoryTextRow[]): void {
    if (rows.length === 0) return;
    const counts = new Map<number, RowTerms>();
    const byFts5: MemoryTextRow[] = [];
    for (const row of rows) {
      const terms = NOT_ASCII.test(row.content) || NOT_ASCII.test(row.recall_terms) ? null : this.asciiTerms(row);
      if (terms !== null) counts.set(row.id, terms);
      else byFts5.push(row);
    }
    if (byFts5.length > 0) {
      const tokens = this.withTokenizer(() => {
        for (const row of byFts5) this.sql.tokenize.run(row.id, row.content, row.recall_terms);
        return this.sql.tokens.all();
      });
      for (const row of byFts5) counts.set(row.id, new RowTerms(false));
      for (const token of tokens) counts.get(token.doc)!.count(token.term, token.col === 'content' ? 0 : 1, token.n);
    }
    for (const row of rows) {
      const { terms, inContents, inRecalls, stems } = counts.get(row.id)!;
      const doc: MirroredMemory = {
        id: row.id,
        personaId: row.persona_id,
        userId: row.user_id,
        contentTokens: 0,
        recallTokens: 0,
        terms,
        columns: new Uint8Array(terms.length),
        rankedIn: 0,
        score: 0,
        lengthTerm: 0,
        stems: null,
        coveredIn: 0,
        coveredAt: 0,
      };
      if (this.coverageStems !== undefined) this.addStems(doc, row, stems);
      for (let index = 0; index < terms.length; index++) {
        const term = terms[index]!;
        const inContent = inContents[index]!;
        const inRecall = inRecalls[index]!;
        doc.contentTokens += inContent;
        doc.recallTokens += inRecall;
        // As fts5Bm25Function sums a phrase's instances: the text's first (weight 1), then the recall terms'.
        let frequency = 0;
        for (let i = 0; i < inContent; i++) frequency += 1.0;
        for (let i = 0; i < inRecall; i++) frequency += this.recallWeight;
        let postings = this.postings.get(term);
        if (postings === undefined) {
          postings = { contentDocs: 0, recallDocs: 0, docs: [], frequencies: [] };
          this.postings.set(term, postings);
        }
        postings.docs.push(doc);
        postings.frequencies.push(frequency);
        if (inContent > 0) postings.contentDocs++;
        if (inRecall > 0) postings.recallDocs++;
        doc.columns[index] = (inContent > 0 ? 1 : 0) | (inRecall > 0 ? 2 : 0);
      }
      this.docs.set(row.id, doc);
      this.contentTokens += doc.contentTokens;
      this.recallTokens += doc.recallTokens;
    }
  }
}

/**
 * A row's distinct FTS5 terms in the order first met, and (same index) how many of each its text and its
 * recall terms hold; with `hasStems`, also its coverage stems, filled by the caller word by word.
 */
class RowTerms {
  readonly terms: string[] = [];
  readonly inContents: number[] = [];
  readonly inRecalls: number[] = [];
  readonly stems: CoverageStems | null;
  private readonly at = new Map<string, number>();

  constructor(hasStems: boolean) {
    this.stems = hasStems ? { content: new Set(), recallTerms: new Set() } : null;
  }

  /** Counts `n` instances of `term` in column 0 (the text) or 1 (the recall terms). */
  count(term: string, column: number, n: number): void {
    let index = this.at.get(term);
    if (index === undefined) {
      index = this.place(term);
      this.at.set(term, index);
    }
    this.countAt(index, column, n);
  }

  /** A new term's place (its counts 0), for a caller that knows the row has not met it yet (`count` finds it by its term). */
  place(term: string): number {
    this.terms.push(term);
    this.inContents.push(0);
    this.inRecalls.push(0);
    return this.terms.length - 1;
  }

  countAt(index: number, column: number, n: number): void {
    if (column === 0) this.inContents[index]! += n;
    else this.inRecalls[index]! += n;
  }
}

/**
 * A query's matches and their ranks (FTS5's BM25 negated: lower is better), taken best first. A chat
 * turn's recall keeps ~50 of ~600 matches at the chat bench's store: sorting them all (and an object
 * each) was half of `rank`'s time, so `best` picks the best few with a heap and sorts only those.
 */
export class RankedMatches {
  constructor(
    private readonly ids: Float64Array,
    private readonly ranks: Float64Array,
  ) {}

  /** How many memories match. */
  get size(): number {
    return this.ids.length;
  }

  /** The best `count` matches in FTS5's `ORDER BY rank` order (ties newest first): the first `count` of all of them sorted. */
  best(count: number): Array<{ id: number; rank: number }> {
    const size = this.ids.length;
    const kept = Math.max(0, Math.min(count, size));
    const order: number[] = [];
    for (let at = 0; at < kept; at++) order.push(at);
    if (kept < size) {
      // A heap of the best `kept` so far, the worst of them at its root: a match that comes before the
      // root replaces it. The order is total (ids differ), so any selection gives the same prefix.
      for (let at = (kept >> 1) - 1; at >= 0; at--) this.siftDown(order, at);
      for (let at = kept; at < size && kept > 0; at++)
        if (this.compare(at, order[0]!) < 0) {
          order[0] = at;
          this.siftDown(order, 0);
        }
    }
    order.sort((a, b) => this.compare(a, b));
    return order.map((at) => ({ id: this.ids[at]!, rank: this.ranks[at]! }));
  }

  /** Negative when match `a` comes first in FTS5's order: the lower rank, then the newer (higher id). */
  private compare(a: number, b: number): number {
    return this.ranks[a]! - this.ranks[b]! || this.ids[b]! - this.ids[a]!;
  }

  /** Restores the heap below `at` (each parent after its children in the order: the worst at the root). */
  private siftDown(heap: number[], at: number): void {
    for (;;) {
      const left = 2 * at + 1;
      if (left >= heap.length) return;
      const right = left + 1;
      const worse = right < heap.length && this.compare(heap[right]!, heap[left]!) > 0 ? right : left;
      if (this.compare(heap[worse]!, heap[at]!) <= 0) return;
      const swapped = heap[at]!;
      heap[at] = heap[worse]!;
      heap[worse] = swapped;
      at = worse;
    }
  }
}
