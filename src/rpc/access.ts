/**
 * Who may call a method: each method declares `requires` in the registry, and the engine checks it for
 * every transport (WebSocket JSON-RPC, MCP tools) before the params are even validated — so a refused
 * caller learns nothing about the method's params, and no handler carries its own admin check.
 * The model is written down in docs/security.md.
 */
import { AppError } from '../domain/errors.js';
import type { SessionBinding } from '../services/session-binding.js';

/**
 * - `'user'`: any caller. The method reads the shared catalogue (personas, status) or acts on the
 *   caller's own data only (their sessions, conversations, memories, relationships with them); the
 *   handler scopes what it reads and writes to the caller.
 * - `'admin'`: acts on the whole server (export/import, settings, background maintenance, every
 *   user's data); admins only.
 * - `{ owner: 'persona', param }`: changes a persona (its definition, mood, memories' upkeep). Admins
 *   may change any; a plain user only the personas they created. The shared and built-in personas
 *   belong to no user, so only admins change them. Without the param the method would act on every
 *   persona, which needs an admin.
 * - `{ ownData: param }`: any caller who names one of their own items with `param` (the handler makes
 *   sure it is theirs, as for every `'user'` method); without it the method spans every user's data,
 *   which needs an admin (conversation.analytics without conversation_id).
 */
export type Access = 'user' | 'admin' | { owner: 'persona'; param: string } | { ownData: string };

/** What the access check needs to know about the data. */
export interface AccessLookups {
  /** The user who owns the persona named by an id or name: null for shared ones, undefined when there is no such persona. */
  personaOwner(idOrName: string): string | null | undefined;
}

/** Whether the session acts with admin rights (an admin key, or the local user when keys are off). */
export function isAdmin(session: SessionBinding): boolean {
  return session.role !== 'user';
}

/** One line for docs and the API reference. */
export function describeAccess(access: Access): string {
  if (access === 'user') return 'any caller (acts on the caller’s own data, or reads the shared catalogue)';
  if (access === 'admin') return 'admin';
  if ('ownData' in access) return `any caller for their own \`${access.ownData}\`; admin without it (it would span every user)`;
  return `admin, or the user who owns the persona named by \`${access.param}\` (shared personas: admin only)`;
}

/**
 * Throws `forbidden` when the session may not call a method declaring `access` with these (not yet
 * validated) params. A persona that does not exist passes: the handler then answers `persona_not_found`.
 */
export function checkAccess(method: string, access: Access, params: Record<string, unknown>, session: SessionBinding, lookups: AccessLookups): void {
  if (access === 'user' || isAdmin(session)) return;
  if (access === 'admin') {
    throw new AppError('forbidden', `${method} acts on the whole server and needs an admin key.`, { data: { requires: 'admin' } });
  }
  if ('ownData' in access) {
    if (params[access.ownData] !== undefined) return;
    throw new AppError('forbidden', `${method} without ${access.ownData} spans every user's data and needs an admin key; pass ${access.ownData} for one of yours.`, {
      data: { requires: 'admin' },
    });
  }
  const named = params[access.param];
  if (typeof named !== 'string') {
    throw new AppError('forbidden', `${method} without ${access.param} acts on every persona and needs an admin key; name one of your own personas.`, {
      data: { requires: 'admin' },
    });
  }
  const owner = lookups.personaOwner(named);
  if (owner === undefined || (owner !== null && owner === session.userId)) return;
  throw new AppError(
    'forbidden',
    owner === null
      ? `"${named}" is a shared persona: only an admin may change it. Create your own with persona.create (or persona.import_card) to change it freely.`
      : `"${named}" belongs to another user: only they or an admin may change it.`,
    { data: { requires: 'persona_owner' } },
  );
}
