/**
 * Sessions: what a connection (or an MCP client) is attached to. A session exists in memory from the
 * moment a client connects and is written to the store on its first change, so idle connections cost
 * no rows. It survives reconnects and restarts; idle ones expire under the retention policy.
 */
import { randomBytes } from 'node:crypto';
import { AppError } from '../domain/errors.js';
import type { Clock } from '../ports/clock.js';
import type { SessionRecord, Store } from '../ports/store.js';
import type { SessionBinding } from '../rpc/registry.js';

/** Client-chosen session ids (on the URL) must look like ours: 8–64 URL-safe characters. */
export const SESSION_ID_PATTERN = /^[A-Za-z0-9_-]{8,64}$/;

export function newSessionId(): string {
  return `ses_${randomBytes(12).toString('base64url')}`;
}

export class SessionService {
  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
  ) {}

  /** The stored session, or null while it has never changed anything. */
  async find(binding: SessionBinding): Promise<SessionRecord | null> {
    const session = await this.store.getSession(binding.id);
    return session !== null && session.userId === binding.userId ? session : null;
  }

  async activePersonaId(binding: SessionBinding): Promise<string | null> {
    return (await this.find(binding))?.activePersonaId ?? null;
  }

  async setActivePersona(binding: SessionBinding, personaId: string | null): Promise<SessionRecord> {
    await this.store.touchSession(binding.id, this.clock.now(), binding.userId);
    return this.store.setActivePersona(binding.id, personaId, this.clock.now());
  }

  /** Checks that a stored session exists and belongs to the same user, then marks it seen. */
  async resume(binding: SessionBinding, sessionId: string): Promise<SessionRecord> {
    const session = await this.store.getSession(sessionId);
    if (session === null || session.userId !== binding.userId) {
      throw new AppError('session_not_found', `No session "${sessionId}"; it may have expired after being idle. This connection keeps session "${binding.id}".`, {
        data: { session_id: sessionId },
      });
    }
    return this.store.touchSession(sessionId, this.clock.now(), binding.userId);
  }
}
