import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AppError } from '../domain/errors.js';
import { silentLogger } from '../logger.js';
import { JsonRpcEngine, type RequestOutcome } from './jsonrpc.js';
import { defineMethod, MethodRegistry, type MethodContext } from './registry.js';

const registry = new MethodRegistry([
  defineMethod({ name: 'echo', summary: 'echo', requires: 'user', params: z.object({ text: z.string() }), result: z.object({ text: z.string() }), handler: async ({ text }) => ({ text }) }),
  defineMethod({ name: 'crash', summary: 'crash', requires: 'user', params: z.object({}), result: z.object({}), handler: async () => { throw new Error('secret internals at /srv/app.ts:12'); } }),
  defineMethod({ name: 'lie', summary: 'returns the wrong shape', requires: 'user', params: z.object({}), result: z.object({ n: z.number() }), handler: async () => ({ n: 'one' }) as never }),
  defineMethod({ name: 'missing', summary: 'app error', requires: 'user', params: z.object({}), result: z.object({}), handler: async () => { throw new AppError('persona_not_found', 'No persona "x".', { data: { persona_id: 'x' } }); } }),
]);

const outcomes: RequestOutcome[] = [];
const engine = new JsonRpcEngine(registry, { logger: silentLogger(), validateResults: true, maxBatchSize: 3, onRequestComplete: (outcome) => outcomes.push(outcome) });
const context = (): MethodContext => ({
  session: { id: 's', userId: null },
  requestId: 1,
  signal: new AbortController().signal,
  transport: 'internal',
  logger: silentLogger(),
  notify: () => {},
  sendPartialResult: () => {},
  attachSession: () => {},
});
const handle = async (message: unknown): Promise<any> => JSON.parse((await engine.handleText(JSON.stringify(message), context)) ?? 'null');

describe('JsonRpcEngine', () => {
  it('answers a batch over maxBatchSize with one -32600 naming the limit', async () => {
    const batch = Array.from({ length: 4 }, (_, id) => ({ jsonrpc: '2.0', id, method: 'echo', params: { text: 'a' } }));
    const response = await handle(batch);
    expect(response).toMatchObject({ id: null, error: { code: -32600, data: { limit: 3 } } });
    expect(response.error.message).toContain('at most 3');
  });

  it('hides internal errors behind -32603 without details', async () => {
    const response = await handle({ jsonrpc: '2.0', id: 1, method: 'crash' });
    expect(response).toEqual({ jsonrpc: '2.0', id: 1, error: { code: -32603, message: expect.stringContaining('Internal error') } });
    expect(JSON.stringify(response)).not.toContain('secret');
  });

  it('turns a result that breaks its own schema into -32603 (validateResults)', async () => {
    expect((await handle({ jsonrpc: '2.0', id: 2, method: 'lie' })).error.code).toBe(-32603);
  });

  it('maps an AppError to its code with kind, hint and data', async () => {
    const response = await handle({ jsonrpc: '2.0', id: 3, method: 'missing' });
    expect(response.error).toMatchObject({ code: -32001, message: 'No persona "x".', data: { kind: 'persona_not_found', persona_id: 'x' } });
    expect(typeof response.error.data.hint).toBe('string');
  });

  it('reports each finished request once with its outcome', async () => {
    outcomes.length = 0;
    await handle([
      { jsonrpc: '2.0', id: 1, method: 'echo', params: { text: 'x' } },
      { jsonrpc: '2.0', id: 2, method: 'echo', params: {} },
      { jsonrpc: '2.0', method: 'nope' },
    ]);
    expect(outcomes.map((outcome) => [outcome.method, outcome.outcome]).sort()).toEqual([
      ['echo', 'invalid_params'],
      ['echo', 'ok'],
      ['nope', 'method_not_found'],
    ]);
  });

  it('rejectAll answers every request of a message with the same error and skips notifications', () => {
    const error = { code: -32021, message: 'slow down' };
    expect(engine.rejectAll({ jsonrpc: '2.0', id: 9, method: 'echo' }, error)).toEqual({ jsonrpc: '2.0', id: 9, error });
    expect(engine.rejectAll({ jsonrpc: '2.0', method: 'echo' }, error)).toBeNull();
    expect(engine.rejectAll([{ jsonrpc: '2.0', id: 'a', method: 'echo' }, { jsonrpc: '2.0', method: 'echo' }], error)).toEqual([{ jsonrpc: '2.0', id: 'a', error }]);
  });
});
