/**
 * Group conversation ownership across nodes (src/ports/group-ownership.ts) with Redis leases: a key per
 * group holding the owning node's id with an expiry (`SET NX PX`), renewed every third of its life while
 * the runner lives, compared-and-deleted on release (Lua, so a node never removes a lease another node
 * took after its own expired). A node that dies stops renewing; once the key expires another node's
 * sweep acquires it and resumes the group from the store.
 */
import type { GroupLease, GroupOwnership } from '../../ports/group-ownership.js';
import type { RedisConnection } from './connection.js';

const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export class RedisGroupLeases implements GroupOwnership {
  constructor(
    private readonly redis: RedisConnection,
    /** How long a lease lasts without renewal: the longest a dead node's group waits for another node. */
    private readonly ttlMs = 5_000,
    private readonly onError: (error: unknown) => void = () => {},
  ) {}

  async acquire(conversationId: string): Promise<GroupLease | null> {
    const key = this.redis.key(`group:${conversationId}`);
    const node = this.redis.nodeId;
    const taken = await this.redis.commands.set(key, node, 'PX', this.ttlMs, 'NX');
    if (taken !== 'OK' && (await this.redis.commands.get(key)) !== node) return null;
    const lost = new AbortController();
    let renewedAt = Date.now();
    const renew = setInterval(() => {
      // Unable to renew for a whole lease: another node may own the group by now, so stop running it.
      if (Date.now() - renewedAt > this.ttlMs) lose(new Error('the group lease could not be renewed (Redis unreachable)'));
      this.redis.commands
        .eval(RENEW, 1, key, node, this.ttlMs)
        .then((renewed) => {
          if (renewed === 0) lose(new Error('another node took the group over'));
          else renewedAt = Date.now();
        })
        .catch((error: unknown) => this.onError(error));
    }, Math.max(50, Math.floor(this.ttlMs / 3)));
    renew.unref();
    const lose = (reason: Error): void => {
      clearInterval(renew);
      if (!lost.signal.aborted) lost.abort(reason);
    };
    return {
      lost: lost.signal,
      release: async () => {
        clearInterval(renew);
        await this.redis.commands.eval(RELEASE, 1, key, node).catch((error: unknown) => this.onError(error));
      },
    };
  }
}
