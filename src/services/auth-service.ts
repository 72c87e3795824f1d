/**
 * API keys and who a request acts as. Each key is a user: a user never sees another user's sessions,
 * conversations or private memories. Keys are random 256-bit secrets, so a plain SHA-256 of the key is
 * enough to store (no password stretching is needed for secrets nobody chose by hand).
 */
import { createHash, randomBytes } from 'node:crypto';
import { AppError } from '../domain/errors.js';
import { slugify } from '../domain/persona.js';
import type { ApiKeyRecord, ApiKeyRole, ApiKeyStore } from '../ports/api-keys.js';
import type { Clock } from '../ports/clock.js';

export const API_KEY_PREFIX = 'pmk_';
/** Characters of the key shown in listings: the `pmk_` marker plus 8 of the secret. */
const SHOWN_PREFIX_LENGTH = 12;

export interface Caller {
  /** Null for the anonymous local user (authentication off and no key sent). */
  userId: string | null;
  role: ApiKeyRole;
  keyId: string | null;
}

/** The caller when authentication is off and no key was sent: the machine's own user, with full rights. */
export const LOCAL_CALLER: Caller = { userId: null, role: 'admin', keyId: null };

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

export class AuthService {
  private readonly revoked = new Set<string>();

  constructor(
    private readonly keys: ApiKeyStore,
    private readonly clock: Clock,
    /** Whether every request must carry a valid key. */
    readonly isRequired: boolean,
  ) {}

  /** Creates a key; the secret is returned once and never stored. */
  async createKey(options: { name: string; userId?: string; role?: ApiKeyRole }): Promise<{ key: string; record: ApiKeyRecord }> {
    const key = `${API_KEY_PREFIX}${randomBytes(32).toString('base64url')}`;
    const record: ApiKeyRecord = {
      id: `key_${randomBytes(6).toString('hex')}`,
      name: options.name,
      userId: options.userId ?? slugify(options.name),
      role: options.role ?? 'user',
      keyPrefix: key.slice(0, SHOWN_PREFIX_LENGTH),
      createdAt: this.clock.now(),
      lastUsedAt: null,
      revokedAt: null,
    };
    await this.keys.insertKey(record, hashApiKey(key));
    return { key, record };
  }

  /**
   * Who a request acts as. A key, when sent, must be valid even where authentication is optional
   * (a wrong key is a mistake worth reporting, not a reason to fall back to anonymous).
   */
  async authenticate(key: string | null): Promise<Caller> {
    if (key === null || key === '') {
      if (this.isRequired) {
        throw new AppError('unauthorized', 'This server requires an API key: send "Authorization: Bearer KEY" (or ?token=KEY from a browser). Create one with `persona-mcp keys create`.');
      }
      return LOCAL_CALLER;
    }
    const record = await this.keys.useKey(hashApiKey(key), this.clock.now());
    if (record === null) throw new AppError('unauthorized', 'The API key is not valid (unknown or revoked). Check it, or create a new one with `persona-mcp keys create`.');
    return { userId: record.userId, role: record.role, keyId: record.id };
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.keys.listKeys();
  }

  async revoke(idOrPrefix: string): Promise<ApiKeyRecord> {
    const revoked = await this.keys.revokeKey(idOrPrefix, this.clock.now());
    if (revoked === null) throw new AppError('conflict', `No active key "${idOrPrefix}"; \`persona-mcp keys list\` shows the ids.`);
    this.revoked.add(revoked.id);
    return revoked;
  }

  /**
   * Whether a key was revoked, as of the last `refreshRevocations` (keys are revoked by the CLI, in
   * another process, so the server reads the list again every half second: `watchRevocations`).
   */
  isRevoked(keyId: string): boolean {
    return this.revoked.has(keyId);
  }

  /** Reads the revoked keys again; returns the ids revoked since the last read. */
  async refreshRevocations(): Promise<Set<string>> {
    const fresh = new Set<string>();
    for (const id of await this.keys.revokedKeyIds()) {
      if (!this.revoked.has(id)) fresh.add(id);
      this.revoked.add(id);
    }
    return fresh;
  }

  /**
   * Reads the revoked keys every `intervalMs` and tells `onRevoked` about new ones (open connections of
   * those keys are then closed). Returns the function that stops watching.
   */
  watchRevocations(intervalMs: number, onRevoked: (keyIds: ReadonlySet<string>) => void, onError: (error: unknown) => void): () => void {
    let running = false;
    const timer = setInterval(() => {
      if (running) return;
      running = true;
      this.refreshRevocations().then(
        (fresh) => {
          running = false;
          if (fresh.size > 0) onRevoked(fresh);
        },
        (error: unknown) => {
          running = false;
          onError(error);
        },
      );
    }, intervalMs);
    timer.unref();
    return () => clearInterval(timer);
  }

  countActive(): Promise<number> {
    return this.keys.countActiveKeys();
  }
}

/** Loopback addresses: a server bound there is reachable from this machine only. */
export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
