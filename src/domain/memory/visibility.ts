/**
 * Visibility: who may recall a memory. Its own persona always; every persona when it is `public`;
 * for `shared`, the personas named and the members of the groups named. A `private` memory is seen by
 * its persona alone, whatever else is asked.
 */
import type { Memory } from './memory.js';

/** Whether `viewerId` may recall `memory`; `groupsOfViewer` are the groups the viewer belongs to. */
export function isVisibleTo(
  memory: Pick<Memory, 'personaId' | 'visibility' | 'sharedWith' | 'sharedGroups'>,
  viewerId: string,
  groupsOfViewer: readonly string[] = [],
): boolean {
  if (memory.personaId === viewerId) return true;
  if (memory.visibility === 'public') return true;
  if (memory.visibility === 'private') return false;
  return memory.sharedWith.includes(viewerId) || memory.sharedGroups.some((group) => groupsOfViewer.includes(group));
}
