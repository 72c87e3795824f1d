/** The refusal of a request over its API key's or address's rate budget, worded alike on every transport. */
export function rateLimitMessage(limit: 'key' | 'address', perSecond: number, retryAfterMs: number): string {
  const setting = limit === 'key' ? 'limits.rateLimitPerKeyPerSecond' : 'limits.rateLimitPerAddressPerSecond';
  const whose = limit === 'key' ? 'your API key' : 'your address';
  return `Rate limited: at most ${perSecond} requests per second for ${whose} (${setting}, counted over all connections and nodes); retry in ${retryAfterMs} ms.`;
}
