/**
 * Sessions: what a connection (or an MCP client) is attached to. A session exists in memory from the
 * moment a client connects and is written to the store on its first change, so idle connections cost
 * no rows. It survives reconnects and restarts; idle ones expire under the retention policy.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';
import type { EventBus } from '../ports/events.js';
import type { SessionRecord, Store } from '../ports/store.js';
import type { SessionBinding } from './session-binding.js';

/** Client-chosen session ids (on the URL) must look like ours: 8–64 URL-safe characters. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

export function newSessionId(): string {
  return `ses_${randomBytes(12).toString('base64url')}`;
}

/** What the active-persona cache keeps of a stored session; `null` while the session has no row. */
type CachedSession = { userId: string | null; activePersonaId: string | null } | null;

/**
 * Sessions kept in the active-persona cache: one per connection asking, so enough for the 10k
 * connections we hold; past it the oldest entry goes (sessions of closed connections would otherwise
 * pile up until a restart).
 */
const MAX_CACHED_SESSIONS = 20_000;

export class SessionService {
  /**
   * Read-through cache of each session's owner and active persona: `persona.status` and most methods
   * without a `persona_id` ask for it on every call. Every write of `sessions.user_id` or
   * `active_persona_id` goes through this service (`touch`, `setActivePersona`) or ends in an
   * invalidation: persona deletion (the foreign key sets the column to NULL), retention removing
   * sessions (`forgetAll`), a state import.
   */
  private readonly cache = new Map<string, CachedSession>();
  /** Bumped by every write and invalidation, so a read that raced one is not cached. */
  private generation = 0;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    events?: EventBus,
  ) {
    events?.subscribe((event) => {
      if (event.type === 'stateImported') this.forgetAll();
      if (event.type === 'personaChanged' && event.change === 'deleted') this.forgetPersona(event.personaId);
    });
  }

  /**
   * A new session for a connection that named none: a fresh id, remembered as having no row yet (it is
   * written on its first change), so the connection's first `persona.status` answers from memory rather
   * than reading the store for a row that cannot exist. 1,000 connections starting at once each paid that
   * read and the awaited path on their first request (bench/README.md, round 7).
   */
  begin(): string {
    const id = newSessionId();
    this.remember(id, null);
    return id;
  }

  /** The stored session, or null while it has never changed anything. */
  async find(binding: SessionBinding): Promise<SessionRecord | null> {
    const generation = this.generation;
    const session = await this.store.getSession(binding.id);
    if (generation === this.generation) this.remember(binding.id, session);
    return session !== null && session.userId === binding.userId ? session : null;
  }

  /** `activePersonaId` without a promise when the session is cached; undefined when it must be read. */
  activePersonaIdNow(binding: SessionBinding): string | null | undefined {
    const cached = this.cache.get(binding.id);
    if (cached === undefined) return undefined;
    return cached !== null && cached.userId === binding.userId ? cached.activePersonaId : null;
  }

  async activePersonaId(binding: SessionBinding): Promise<string | null> {
    let cached = this.cache.get(binding.id);
    if (cached === undefined) {
      await this.find(binding);
      cached = this.cache.get(binding.id) ?? null;
    }
    return cached !== null && cached.userId === binding.userId ? cached.activePersonaId : null;
  }

  async setActivePersona(binding: SessionBinding, personaId: string | null): Promise<SessionRecord> {
    await this.touch(binding, this.clock.now());
    return this.storeActivePersona(binding, personaId, this.clock.now());
  }

  /** Writes the active persona of a session the caller has just `touch`ed (no second touch). */
  storeActivePersona(binding: SessionBinding, personaId: string | null, now: number): Promise<SessionRecord> {
    return this.written(binding.id, this.store.setActivePersona(binding.id, personaId, now));
  }

  /**
   * Creates the session's row if needed (owned by the binding's user) and marks it seen. A session
   * stored for another user is never written: that is refused (the transports refuse to attach to
   * one, so reaching this is a bug, not a client's mistake).
   */
  async touch(binding: SessionBinding, now: number): Promise<SessionRecord> {
    const record = await this.written(binding.id, this.store.touchSession(binding.id, now, binding.userId));
    if (record.userId !== binding.userId) throw new AppError('forbidden', `Session "${binding.id}" belongs to another user; connect without session_id for a new one.`);
    return record;
  }

  /**
   * Binds a client-chosen session id (`?session_id=` on the URL) to its caller: a session that does not
   * exist yet is created for them at once, so nobody else can take it; true when it is theirs.
   */
  async claim(sessionId: string, userId: string | null): Promise<boolean> {
    const record = await this.written(sessionId, this.store.claimSession(sessionId, userId, this.clock.now()));
    return record.userId === userId;
  }

  /** Checks that a stored session exists and belongs to the same user, then marks it seen. */
  async resume(binding: SessionBinding, sessionId: string): Promise<SessionRecord> {
    const session = await this.store.getSession(sessionId);
    if (session === null || session.userId !== binding.userId) {
      throw new AppError('session_not_found', `No session "${sessionId}"; it may have expired after being idle. This connection keeps session "${binding.id}".`, {
        data: { session_id: sessionId },
      });
    }
    return this.written(sessionId, this.store.touchSession(sessionId, this.clock.now(), binding.userId));
  }

  /** Drops every cached session: after retention removed sessions, or a state import replaced them. */
  forgetAll(): void {
    this.generation += 1;
    this.cache.clear();
  }

  /** Drops the sessions whose active persona was deleted (the store cleared the column by foreign key). */
  forgetPersona(personaId: string): void {
    this.generation += 1;
    for (const [id, cached] of this.cache) if (cached?.activePersonaId === personaId) this.cache.delete(id);
  }

  private async written(sessionId: string, write: Promise<SessionRecord>): Promise<SessionRecord> {
    this.generation += 1;
    this.cache.delete(sessionId);
    const record = await write;
    this.generation += 1;
    this.remember(sessionId, record);
    return record;
  }

  private remember(sessionId: string, record: SessionRecord | null): void {
    if (this.cache.size >= MAX_CACHED_SESSIONS && !this.cache.has(sessionId)) {
      const oldest = this.cache.keys().next();
      if (oldest.done !== true) this.cache.delete(oldest.value);
    }
    this.cache.set(sessionId, record === null ? null : { userId: record.userId, activePersonaId: record.activePersonaId });
  }
}
