/**
 * The session a use case acts for. Services own this type (they check ownership and roles against it;
 * the authenticated `Caller` is in `auth-service.ts`); the
 * transports create one per connection and the method registry hands it to every handler.
 */

/** The session a request acts for. Transports own the value; `session.resume` re-points it. */
export interface SessionBinding {
  id: string;
  /** The user (API key owner); null for the anonymous local user when authentication is off. */
  userId: string | null;
  /** 'admin' may use state-wide methods (export/import, config); the local user is admin. */
  role?: 'user' | 'admin';
}
