/** Who acts on a server-wide change, for its audit log. */
import type { MethodContext } from '../registry.js';

/** The caller's user id, or the session when keys are off (the access check — `requires: 'admin'` — has already run). */
export function actorOf(context: MethodContext): string {
  return context.session.userId ?? `session:${context.session.id}`;
}
