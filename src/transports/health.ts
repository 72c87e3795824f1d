/** `GET /healthz` (the process is alive) and `GET /readyz` (the store answers; the LLM's state reported). */
import type { SystemService } from '../services/system-service.js';
import { sendJson, type HttpRoute } from './http-server.js';

export function healthRoutes(system: SystemService): HttpRoute {
  return async (request, response, url) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') return false;
    if (url.pathname === '/healthz') {
      sendJson(response, 200, { status: 'ok' });
      return true;
    }
    if (url.pathname === '/readyz') {
      const [database, llm] = await Promise.all([system.databaseStatus(), system.llmStatus()]);
      // Ready means we can serve: the store must work. The LLM being down degrades chat only, so it is
      // reported, not fatal (every non-LLM method keeps working without it).
      sendJson(response, database.ok ? 200 : 503, {
        status: database.ok ? (llm.reachable ? 'ready' : 'degraded') : 'not_ready',
        store: database.ok ? { ok: true, vector_index: 'in_memory', pgvector: database.vectors?.pgvector ?? null } : { ok: false, error: database.error },
        llm: { provider: llm.provider, endpoint: llm.endpoint, reachable: llm.reachable, ...(llm.error ? { error: llm.error } : {}) },
      });
      return true;
    }
    return false;
  };
}
