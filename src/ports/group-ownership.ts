/**
 * Which server node runs a group conversation. With one node it always owns every group; with several
 * (src/adapters/redis/group-leases.ts) a node holds a lease that it renews while its runner lives, and
 * another node takes the group over when the lease runs out (the owner died).
 */
export interface GroupLease {
  /** Aborted when the lease was lost (another node owns the group now): the runner stops. */
  readonly lost: AbortSignal;
  release(): Promise<void>;
}

export interface GroupOwnership {
  /** The lease on the group, or null when a live node owns it. */
  acquire(conversationId: string): Promise<GroupLease | null>;
}
