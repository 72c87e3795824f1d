/**
 * Request rate limits per API key and per client address, across every transport (WebSocket frames, MCP
 * HTTP requests, `/v1` calls). One node counts in process; several nodes count in Redis, so a client
 * spreading its requests over the nodes still has one budget.
 */
export interface RateSubject {
  /** The API key the request came with (its id), null without one. */
  keyId: string | null;
  /** The client's address (behind a trusted proxy, the address it forwarded). */
  address: string;
}

export type RateVerdict =
  | { allowed: true }
  | {
      allowed: false;
      /** Which budget ran out. */
      limit: 'key' | 'address';
      /** That budget: requests per second. */
      perSecond: number;
      retryAfterMs: number;
    };

export interface RequestRateLimits {
  /**
   * Takes `cost` requests (a batch costs its size) from the subject's budgets; never throws. Answers at
   * once when it can (one node), so the hot path pays for no promise.
   */
  take(subject: RateSubject, cost: number): RateVerdict | Promise<RateVerdict>;
  close(): void;
}

export interface RateBudgets {
  /** Requests per second per API key (0: no limit). */
  perKey: number;
  /** Requests per second per client address (0: no limit). */
  perAddress: number;
}
