/** `GET /metrics` in the Prometheus text format. */
import type { PrometheusMetrics } from '../adapters/metrics/prometheus-metrics.js';
import type { HttpRoute } from './http-server.js';

export function metricsRoute(metrics: PrometheusMetrics): HttpRoute {
  return async (request, response, url) => {
    if (url.pathname !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
    const body = await metrics.render();
    response.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(body) });
    response.end(request.method === 'HEAD' ? undefined : body);
    return true;
  };
}
