/**
 * What a chat turn's recall reads of the memories table besides the search itself, kept in memory
 * between turns (issue 15): the ranking facts of the search's ~100 candidates, the few memories it
 * returns, the persona's "what I know about you" block and the conversation's latest summary. Read from
 * SQLite on every turn they took ~0.25 ms of CPU on the turn's critical path; the same memories come
 * back turn after turn.
 *
 * It follows the table exactly, whoever writes: temp triggers on this connection report every memory row
 * inserted, changed or deleted and every share added or removed — by the memory store, by a cascade from
 * a deleted persona or conversation, by anything else on the connection — and each report drops what
 * depends on that row. Another connection's commits (a jobs worker thread, another process) reach it from
 * the change log (connection-follow.ts: 0049's `memory_changes`) at its next read, applied the same way;
 * when the log cannot tell (pruned past it, a large import) it empties. Nothing here is ever newer than
 * the table: a rolled-back write only drops entries.
 *
 * What a write dropped is read again once it has committed, in a stretch of its own after the write (as
 * the full-text mirror follows writes, full-text-mirror.ts `followSoon`): memory formation writes a new fact
 * after nearly every turn, and the facts block it drops was read again by the next turn's recall, on its
 * path (~0.1–0.2 ms of SQL). Only what was kept is read again, and a few new memories are read ahead
 * (the recall ranks them next); a turn that comes first reads them itself. A new memory the store handed
 * over as it wrote it (`inserted`) is kept as written once its write has committed, unless its row changed
 * meanwhile: the two reads of a formation's memories (their rows and ranking facts) are not made. A
 * persona's facts blocks dropped only by new facts are, once those facts' write has committed as written,
 * kept with them merged in by the blocks' order instead of read again.
 */
import type { Memory } from '../../domain/memory/memory.js';
import type { RankingFacts } from '../../ports/memory.js';
import { ConnectionFollow, MEMORY_CHANGE, type MemoryChangeRow } from './connection-follow.js';
import type { Database } from './database.js';

/** Most memories whose facts or rows are kept (a turn reads ~100; emptied when full). */
const ROWS_KEPT = 10_000;
/** Most facts blocks and summaries kept (one per persona and user, one per conversation). */
const LISTS_KEPT = 2_000;
/**
 * Most new memories read ahead per refill (see `refillSoon`): the few a turn's formation writes, whose
 * facts and rows the next recalls rank; not the thousands of an import.
 */
const NEW_READ_AHEAD = 32;

/** The SQL function the triggers call (one name per connection; the cache registers it once). */
const CHANGED = 'persona_mcp_memory_changed';
const SHARES_CHANGED = 'persona_mcp_memory_shares_changed';

/**
 * The triggers. A memory's row (and facts) go when it changes or goes; a facts block when one of its
 * persona's facts about users appears, changes or goes; a summary when one of its conversation's
 * summaries does. A share changes a memory's `sharedWith`/`sharedGroups`: every list is dropped (rare).
 */
const TRIGGERS = `
CREATE TEMP TRIGGER IF NOT EXISTS memory_read_cache_insert AFTER INSERT ON main.memories BEGIN
  SELECT ${CHANGED}(new.id, new.kind, new.persona_id, new.conversation_id, 1);
END;
CREATE TEMP TRIGGER IF NOT EXISTS memory_read_cache_update AFTER UPDATE ON main.memories BEGIN
  SELECT ${CHANGED}(old.id, old.kind, old.persona_id, old.conversation_id);
  SELECT ${CHANGED}(new.id, new.kind, new.persona_id, new.conversation_id);
END;
CREATE TEMP TRIGGER IF NOT EXISTS memory_read_cache_delete AFTER DELETE ON main.memories BEGIN
  SELECT ${CHANGED}(old.id, old.kind, old.persona_id, old.conversation_id);
END;
CREATE TEMP TRIGGER IF NOT EXISTS memory_read_cache_share_insert AFTER INSERT ON main.memory_shares BEGIN
  SELECT ${SHARES_CHANGED}(new.memory_id);
END;
CREATE TEMP TRIGGER IF NOT EXISTS memory_read_cache_share_update AFTER UPDATE ON main.memory_shares BEGIN
  SELECT ${SHARES_CHANGED}(old.memory_id);
  SELECT ${SHARES_CHANGED}(new.memory_id);
END;
CREATE TEMP TRIGGER IF NOT EXISTS memory_read_cache_share_delete AFTER DELETE ON main.memory_shares BEGIN
  SELECT ${SHARES_CHANGED}(old.memory_id);
END;
`;

/** A facts block kept: its memories, how it is read, and what it holds (the user's facts, every user's when undefined; the first `limit`). */
interface FactsBlock {
  block: Memory[];
  read: () => Memory[];
  userId: string | null | undefined;
  limit: number;
}

export class MemoryReadCache {
  private readonly facts = new Map<number, RankingFacts>();
  private readonly rows = new Map<number, Memory>();
  /** Facts blocks by persona, then by user and limit, each with how it is read. */
  private readonly factBlocks = new Map<string, Map<string, FactsBlock>>();
  /** The latest summary of a conversation (null: it has none), with how it is read. */
  private readonly summaries = new Map<string, { summary: Memory | null; read: () => Memory | null }>();
  /** How rows and facts were last read (the store's statements), for reading again what a write dropped. */
  private readRows: ((ids: number[]) => Memory[]) | null = null;
  private readFacts: ((ids: number[]) => RankingFacts[]) | null = null;
  /** What writes dropped since the last refill (see `refillSoon`). */
  private readonly dropped = {
    rows: new Set<number>(),
    facts: new Set<number>(),
    /** Each as it was kept when dropped. */
    blocks: new Map<string, Map<string, FactsBlock>>(),
    summaries: new Map<string, () => Memory | null>(),
  };
  private isRefillDue = false;
  /** New memories as the store wrote them (`inserted`), until their write commits or rolls back; a change of the row drops one. */
  private readonly insertedRows = new Map<number, Memory>();
  /** The ids `inserted` since the last `takeInserted`. */
  private insertedIds: number[] = [];
  /**
   * Personas whose kept facts blocks were dropped by new facts only (no block of theirs was dropped before):
   * those facts' ids. Once all of them committed as written, the blocks are merged (`insertsCommitted`).
   */
  private readonly blocksDroppedByNew = new Map<string, Set<number>>();
  /** Set while the store writes gathered recalls (`writingRecalls`): their row changes are applied, not dropped. */
  private isWritingRecalls = false;
  private readonly follow: ConnectionFollow;

  constructor(private readonly db: Database) {
    db.function(CHANGED, { varargs: true, deterministic: false }, (id: unknown, kind: unknown, personaId: unknown, conversationId: unknown, isNew: unknown) => {
      this.rowChanged(Number(id), String(kind), String(personaId), typeof conversationId === 'string' ? conversationId : null, isNew === 1);
      return null;
    });
    db.function(SHARES_CHANGED, { deterministic: false }, (id: unknown) => {
      this.sharesChanged(Number(id));
      return null;
    });
    db.exec(TRIGGERS);
    this.follow = ConnectionFollow.of(db);
    this.follow.follow('memories', { apply: (rows) => this.othersChanged(rows), lost: () => this.clear() });
  }

  /**
   * The ranking facts of `ids`, in that order, each once; those not kept are read with `read` (which
   * returns nothing for a memory that is gone). Fresh objects: the caller may change them.
   */
  rankingFacts(ids: readonly number[], read: (ids: number[]) => RankingFacts[]): RankingFacts[] {
    this.readFacts = read;
    return this.byId(this.facts, ids, read).map((fact) => ({ ...fact }));
  }

  /** The memories `ids`, as `rankingFacts` (fresh objects). */
  memories(ids: readonly number[], read: (ids: number[]) => Memory[]): Memory[] {
    this.readRows = read;
    return this.byId(this.rows, ids, read).map((memory) => ({ ...memory }));
  }

  /** A persona's facts block for one user (`userId` undefined: every user's) and `limit`. */
  userFacts(personaId: string, userId: string | null | undefined, limit: number, read: () => Memory[]): Memory[] {
    this.followOthers();
    let blocks = this.factBlocks.get(personaId);
    if (blocks === undefined) {
      if (this.factBlocks.size >= LISTS_KEPT) this.factBlocks.clear();
      blocks = new Map();
      this.factBlocks.set(personaId, blocks);
    }
    const key = `${userId === undefined ? 'any' : userId === null ? 'none' : `u:${userId}`}\u0000${limit}`;
    let kept = blocks.get(key);
    if (kept === undefined) {
      kept = { block: read(), read, userId, limit };
      blocks.set(key, kept);
    }
    return kept.block.map((memory) => ({ ...memory }));
  }

  /** The conversation's latest summary, or null. */
  latestSummary(conversationId: string, read: () => Memory | null): Memory | null {
    this.followOthers();
    let kept = this.summaries.get(conversationId);
    if (kept === undefined) {
      if (this.summaries.size >= LISTS_KEPT) this.summaries.clear();
      kept = { summary: read(), read };
      this.summaries.set(conversationId, kept);
    }
    return kept.summary === null ? null : { ...kept.summary };
  }

  private byId<T extends { id: number }>(kept: Map<number, T>, ids: readonly number[], read: (ids: number[]) => T[]): T[] {
    this.followOthers();
    const found = new Map<number, T | undefined>();
    const missing: number[] = [];
    for (const id of ids) {
      if (found.has(id)) continue;
      const value = kept.get(id);
      found.set(id, value);
      if (value === undefined) missing.push(id);
    }
    if (missing.length > 0) {
      const read_ = read(missing);
      if (kept.size + read_.length > ROWS_KEPT) kept.clear();
      for (const value of read_) {
        kept.set(value.id, value);
        found.set(value.id, value);
      }
    }
    // In the order asked for, each once; a memory that is gone is left out.
    const values: T[] = [];
    for (const value of found.values()) if (value !== undefined) values.push(value);
    return values;
  }

  /** Applies what other connections committed since the last look (connection-follow.ts). */
  private followOthers(): void {
    this.follow.check();
  }

  /** Other connections' memory rows and shares, from the change log: dropped as this connection's own writes drop them. */
  private othersChanged(rows: readonly MemoryChangeRow[]): void {
    for (const row of rows)
      if (row.change === MEMORY_CHANGE.shares) this.sharesChanged(row.memory_id);
      else this.rowChanged(row.memory_id, row.kind ?? '', row.persona_id ?? '', row.conversation_id, row.change === MEMORY_CHANGE.inserted);
  }

  /** Which rows changed is unknown: nothing kept is trusted. */
  private clear(): void {
    this.insertedRows.clear();
    this.blocksDroppedByNew.clear();
    this.facts.clear();
    this.rows.clear();
    this.factBlocks.clear();
    this.summaries.clear();
  }

  /**
   * Runs `write`, which records recalls (last access and access count, nothing else), without dropping
   * what they touch; once it has committed, `recallsWritten` brings what is kept up to date instead. A
   * recall of each recalled memory used to drop it, so the next turn read its row and facts again.
   */
  writingRecalls<T>(write: () => T): T {
    this.isWritingRecalls = true;
    try {
      return write();
    } finally {
      this.isWritingRecalls = false;
    }
  }

  /** The recalls `writingRecalls` wrote have committed: the kept rows, facts and lists count them. */
  recallsWritten(recalls: ReadonlyMap<number, { at: number; count: number }>): void {
    const update = (memory: Memory): void => {
      const recall = recalls.get(memory.id);
      if (recall === undefined) return;
      memory.lastAccessedAt = recall.at;
      memory.accessCount += recall.count;
    };
    for (const [id, recall] of recalls) {
      const fact = this.facts.get(id);
      if (fact !== undefined) fact.lastAccessedAt = recall.at;
      const row = this.rows.get(id);
      if (row !== undefined) update(row);
    }
    for (const blocks of this.factBlocks.values()) for (const { block } of blocks.values()) block.forEach(update);
    for (const { summary } of this.summaries.values()) if (summary !== null) update(summary);
  }

  /**
   * A memory the store inserted just now, as it wrote it (what a read of its row would give): kept in
   * place of the read-ahead once its write has committed (`insertsCommitted`), unless its row changed first.
   */
  inserted(memory: Memory): void {
    this.insertedRows.set(memory.id, { ...memory, sharedWith: [...memory.sharedWith], sharedGroups: [...memory.sharedGroups] });
    this.insertedIds.push(memory.id);
  }

  /** The ids `inserted` since the last call: the write under way's. */
  takeInserted(): number[] {
    const ids = this.insertedIds;
    this.insertedIds = [];
    return ids;
  }

  /**
   * The write that inserted `ids` committed: of those to be read ahead (`rowChanged`), the ones whose row is
   * still as written are kept now, as the refill would have read them.
   */
  insertsCommitted(ids: readonly number[]): void {
    const { dropped } = this;
    const written = new Map<number, Memory>();
    for (const id of ids) {
      const memory = this.insertedRows.get(id);
      if (memory === undefined) continue;
      this.insertedRows.delete(id);
      written.set(id, memory);
      if (dropped.rows.delete(id) && this.readRows !== null) keep(this.rows, memory);
      if (dropped.facts.delete(id) && this.readFacts !== null) keep(this.facts, { id, importance: memory.importance, lastAccessedAt: memory.lastAccessedAt });
    }
    for (const [personaId, factIds] of this.blocksDroppedByNew)
      if ([...factIds].every((id) => written.has(id))) this.mergeBlocks(personaId, [...factIds].map((id) => written.get(id)!));
  }

  /**
   * Keeps a persona's dropped facts blocks again with its new facts merged in: a block is the first `limit`
   * of its facts in its statement's order (importance, then newest, then highest id first), so the first
   * `limit` of the block and the new facts it holds are what a read would give.
   */
  private mergeBlocks(personaId: string, facts: readonly Memory[]): void {
    const blocks = this.dropped.blocks.get(personaId)!;
    this.dropped.blocks.delete(personaId);
    this.blocksDroppedByNew.delete(personaId);
    let kept = this.factBlocks.get(personaId);
    if (kept === undefined) {
      if (this.factBlocks.size >= LISTS_KEPT) this.factBlocks.clear();
      kept = new Map();
      this.factBlocks.set(personaId, kept);
    }
    for (const [key, dropped] of blocks) {
      if (kept.has(key)) continue;
      const held = facts.filter((fact) => dropped.userId === undefined || fact.userId === dropped.userId).map((fact) => ({ ...fact, sharedWith: [], sharedGroups: [] }));
      const block = [...dropped.block, ...held].sort((a, b) => b.importance - a.importance || b.createdAt - a.createdAt || b.id - a.id).slice(0, dropped.limit);
      kept.set(key, { ...dropped, block });
    }
  }

  /** The write that inserted `ids` rolled back (or was inside a transaction that still may): they are read ahead as before, if at all. */
  insertsDropped(ids: readonly number[]): void {
    for (const id of ids) this.insertedRows.delete(id);
  }

  private rowChanged(id: number, kind: string, personaId: string, conversationId: string | null, isNew = false): void {
    this.insertedRows.delete(id);
    if (this.isWritingRecalls) return;
    const { dropped } = this;
    if (this.facts.delete(id) || (isNew && dropped.facts.size < NEW_READ_AHEAD)) dropped.facts.add(id);
    if (this.rows.delete(id) || (isNew && dropped.rows.size < NEW_READ_AHEAD)) dropped.rows.add(id);
    if (kind === 'user_fact') this.factChanged(id, personaId, isNew);
    const summary = kind === 'summary' && conversationId !== null ? this.summaries.get(conversationId) : undefined;
    if (summary !== undefined) {
      this.summaries.delete(conversationId!);
      dropped.summaries.set(conversationId!, summary.read);
    }
    this.refillSoon();
  }

  /** A persona's fact `id` came, changed or went: its kept blocks are dropped, to be read again or (new facts only) merged. */
  private factChanged(id: number, personaId: string, isNew: boolean): void {
    const blocks = this.factBlocks.get(personaId);
    const droppedByNew = this.blocksDroppedByNew.get(personaId);
    if (blocks === undefined) {
      if (droppedByNew === undefined) return;
      if (isNew) droppedByNew.add(id);
      else this.blocksDroppedByNew.delete(personaId);
      return;
    }
    this.factBlocks.delete(personaId);
    let reads = this.dropped.blocks.get(personaId);
    if (isNew && reads === undefined && blocks.size > 0 && [...blocks.values()].every(({ limit }) => Number.isInteger(limit) && limit >= 0))
      this.blocksDroppedByNew.set(personaId, new Set([id]));
    else this.blocksDroppedByNew.delete(personaId);
    if (reads === undefined) {
      reads = new Map();
      this.dropped.blocks.set(personaId, reads);
    }
    for (const [key, block] of blocks) reads.set(key, block);
  }

  /**
   * Reads again, once the write that dropped them has committed, the rows, facts and lists it dropped
   * (only those a turn had read): the next turn's recall then finds them kept instead of reading them
   * on its path. Runs after the event loop has taken in what arrived during the write; while a
   * transaction is open it waits (it may still roll back, and its changes are not the table's yet).
   */
  private refillSoon(): void {
    if (this.isRefillDue) return;
    this.isRefillDue = true;
    setImmediate(() => {
      this.isRefillDue = false;
      if (!this.db.open) return;
      if (this.db.inTransaction) {
        this.refillSoon();
        return;
      }
      try {
        this.refill();
      } catch {
        // Nothing is lost: what was not read again is read by the next turn that needs it.
      }
    });
  }

  private refill(): void {
    const { rows, facts, blocks, summaries } = this.dropped;
    if (rows.size === 0 && facts.size === 0 && blocks.size === 0 && summaries.size === 0) return; // all handed over as written
    this.followOthers();
    const missing = (ids: Set<number>, kept: Map<number, unknown>): number[] => [...ids].filter((id) => !kept.has(id));
    const rowIds = missing(rows, this.rows);
    const factIds = missing(facts, this.facts);
    rows.clear();
    facts.clear();
    if (rowIds.length > 0 && this.readRows !== null) this.byId(this.rows, rowIds, this.readRows);
    if (factIds.length > 0 && this.readFacts !== null) this.byId(this.facts, factIds, this.readFacts);
    for (const [personaId, reads] of blocks)
      for (const [key, dropped] of reads) {
        let kept = this.factBlocks.get(personaId);
        if (kept === undefined) {
          if (this.factBlocks.size >= LISTS_KEPT) this.factBlocks.clear();
          kept = new Map();
          this.factBlocks.set(personaId, kept);
        }
        if (!kept.has(key)) kept.set(key, { ...dropped, block: dropped.read() });
      }
    blocks.clear();
    this.blocksDroppedByNew.clear();
    for (const [conversationId, read] of summaries) {
      if (this.summaries.has(conversationId)) continue;
      if (this.summaries.size >= LISTS_KEPT) this.summaries.clear();
      this.summaries.set(conversationId, { summary: read(), read });
    }
    summaries.clear();
  }

  private sharesChanged(id: number): void {
    this.insertedRows.delete(id);
    this.rows.delete(id);
    this.factBlocks.clear();
    this.blocksDroppedByNew.clear();
    this.summaries.clear();
  }
}

/** Keeps `value` (a map past ROWS_KEPT is emptied first, as a read does). */
function keep<T extends { id: number }>(kept: Map<number, T>, value: T): void {
  if (kept.size + 1 > ROWS_KEPT) kept.clear();
  kept.set(value.id, value);
}
