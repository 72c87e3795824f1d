/**
 * The Redis connections a node keeps (ioredis): one for commands and publishing, one in subscriber mode.
 * Every key and channel starts with `redis.prefix`, so several deployments can share one Redis.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { Redis } from 'ioredis';
import { AppError } from '../../domain/errors.js';

export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'the configured Redis URL';
  }
}

export class RedisConnection {
  readonly commands: Redis;
  readonly subscriber: Redis;
  /** This node's name in leases and published events. */
  readonly nodeId = `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  readonly label: string;
  private closed = false;

  private constructor(
    url: string,
    readonly prefix: string,
  ) {
    this.label = redactRedisUrl(url);
    // Reconnects forever with backoff; commands queue while reconnecting and fail after a bound.
    const options = { lazyConnect: true, maxRetriesPerRequest: 3, enableOfflineQueue: true, retryStrategy: (times: number) => Math.min(times * 200, 2_000) };
    this.commands = new Redis(url, options);
    this.subscriber = new Redis(url, options);
    // Errors surface on the commands that fail; without a listener ioredis would print every reconnect.
    this.commands.on('error', () => {});
    this.subscriber.on('error', () => {});
  }

  static async open(url: string, prefix: string): Promise<RedisConnection> {
    const connection = new RedisConnection(url, prefix);
    try {
      await Promise.all([connection.commands.connect(), connection.subscriber.connect()]);
      await connection.commands.ping();
      return connection;
    } catch (error) {
      await connection.close();
      throw new AppError('storage_error', `cannot reach Redis at ${connection.label} (${(error as Error).message}); start Redis or fix PERSONA_MCP_REDIS_URL`, {
        detail: error,
      });
    }
  }

  key(name: string): string {
    return `${this.prefix}${name}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.commands.disconnect();
    this.subscriber.disconnect();
  }
}
