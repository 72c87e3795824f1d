/**
 * What the server measures and how the measurements leave it. The JSON-RPC engine reports each request's
 * outcome; `GET /metrics` renders whatever the exporter collected. `src/adapters/metrics` implements both
 * with prom-client.
 */

/** One finished JSON-RPC request, as far as metrics count it. */
export interface MeasuredRequest {
  method: string;
  /** 'ok', or the error kind (`AppErrorKind` of `src/domain/errors.ts`) / standard JSON-RPC error name. */
  outcome: string;
  durationMs: number;
}

/** Renders the collected metrics for a scrape. */
export interface MetricsExporter {
  /** The HTTP content type of {@link MetricsExporter.render}'s text. */
  readonly contentType: string;
  render(): Promise<string>;
}
