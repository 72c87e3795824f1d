/** `GET /metrics` in the Prometheus text format; behind the API key when authentication is required. */
import { isAppError } from '../domain/errors.js';
import type { MetricsExporter } from '../ports/metrics.js';
import type { AuthService } from '../services/auth-service.js';
import { requestApiKey } from './credentials.js';
import { sendJson, type HttpRoute } from './http-server.js';

export function metricsRoute(metrics: MetricsExporter, auth: AuthService): HttpRoute {
  return async (request, response, url) => {
    if (url.pathname !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) return false;
    try {
      await auth.authenticate(requestApiKey(request, url));
    } catch (error) {
      if (!isAppError(error)) throw error;
      sendJson(response, 401, { error: error.message }, { 'www-authenticate': 'Bearer' });
      return true;
    }
    const body = await metrics.render();
    response.writeHead(200, { 'content-type': metrics.contentType, 'content-length': Buffer.byteLength(body) });
    response.end(request.method === 'HEAD' ? undefined : body);
    return true;
  };
}
