/** The hand-written admin check of the state-wide methods (state, config, cards). */
import { AppError } from '../../domain/errors.js';
import type { MethodContext } from '../registry.js';

/** Refuses user keys; returns who acts (for the audit log of the change). */
export function requireAdmin(context: MethodContext, method: string): string {
  if (context.session.role === 'user') throw new AppError('forbidden', `${method} acts on the whole server and needs an admin key`);
  return context.session.userId ?? `session:${context.session.id}`;
}
