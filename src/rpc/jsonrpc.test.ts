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
  defineMethod({ name: 'cached', summary: 'answers at once', requires: 'user', params: z.object({}), result: z.object({ n: z.number() }), handler: () => ({ n: 7 }) }),
  defineMethod({ name: 'cachedCrash', summary: 'throws at once', requires: 'user', params: z.object({}), result: z.object({}), handler: () => { throw new AppError('persona_not_found', 'No persona "y".'); } }),
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

  it('answers a handler that returns its result without a promise in the same call, errors included', async () => {
    outcomes.length = 0;
    const reply = engine.handleParsedNow({ jsonrpc: '2.0', id: 5, method: 'cached' }, context);
    expect(reply).toEqual({ jsonrpc: '2.0', id: 5, result: { n: 7 } });
    const refused = engine.handleParsedNow({ jsonrpc: '2.0', id: 6, method: 'cachedCrash' }, context);
    expect(refused).toMatchObject({ id: 6, error: { code: -32001, message: 'No persona "y".' } });
    expect(outcomes.map((outcome) => outcome.outcome)).toEqual(['ok', 'persona_not_found']);
    // A handler that waits still answers through a promise, and handleParsed always gives one.
    expect(engine.handleParsedNow({ jsonrpc: '2.0', id: 7, method: 'echo', params: { text: 'x' } }, context)).toBeInstanceOf(Promise);
    expect(await engine.handleParsed({ jsonrpc: '2.0', id: 8, method: 'cached' }, context)).toMatchObject({ id: 8, result: { n: 7 } });
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

  it('checks access before params: a refused caller gets -32031, never a schema error', async () => {
    const guarded = new MethodRegistry([
      defineMethod({ name: 'wipe', summary: 'admin only', requires: 'admin', params: z.object({ force: z.literal(true) }), result: z.object({}), handler: async () => ({}) }),
      defineMethod({
        name: 'rename',
        summary: 'owner only',
        requires: { owner: 'persona', param: 'persona_id' },
        params: z.object({ persona_id: z.string(), name: z.string() }),
        result: z.object({ ok: z.boolean() }),
        handler: async () => ({ ok: true }),
      }),
    ]);
    const guardedEngine = new JsonRpcEngine(guarded, { logger: silentLogger(), access: { personaOwner: (id) => (id === 'pet' ? 'alice' : null) } });
    const as = (userId: string, role: 'user' | 'admin') => (): MethodContext => ({ ...context(), session: { id: 's', userId, role } });
    const call = async (message: unknown, who: () => MethodContext): Promise<any> => JSON.parse((await guardedEngine.handleText(JSON.stringify(message), who)) ?? 'null');
    expect((await call({ jsonrpc: '2.0', id: 1, method: 'wipe', params: { force: 'no' } }, as('bob', 'user'))).error).toMatchObject({ code: -32031, data: { requires: 'admin' } });
    expect((await call({ jsonrpc: '2.0', id: 2, method: 'wipe', params: { force: 'no' } }, as('root', 'admin'))).error.code).toBe(-32602);
    expect((await call({ jsonrpc: '2.0', id: 3, method: 'rename', params: { persona_id: 'pet' } }, as('bob', 'user'))).error.code).toBe(-32031);
    expect((await call({ jsonrpc: '2.0', id: 4, method: 'rename', params: { persona_id: 'pet' } }, as('alice', 'user'))).error.code).toBe(-32602);
    expect((await call({ jsonrpc: '2.0', id: 5, method: 'rename', params: { persona_id: 'pet', name: 'P' } }, as('alice', 'user'))).result).toEqual({ ok: true });
  });

  it('answers the framing errors with their codes and notifications with nothing', async () => {
    expect(await engine.handleText('{"jsonrpc":"2.0","id":1,"method":', context)).toContain('-32700');
    expect((await handle({ jsonrpc: '2.0', id: 1, method: 'nope' })).error.code).toBe(-32601);
    expect((await handle({ jsonrpc: '2.0', id: 2, method: 'echo', params: ['a'] })).error.code).toBe(-32602);
    expect((await handle({ jsonrpc: '1.0', id: 3, method: 'echo' })).error.code).toBe(-32600);
    expect((await handle([])).error.code).toBe(-32600);
    expect(await engine.handleText(JSON.stringify({ jsonrpc: '2.0', method: 'echo', params: { text: 'n' } }), context)).toBeNull();
    expect(await engine.handleText(JSON.stringify([{ jsonrpc: '2.0', method: 'crash' }]), context)).toBeNull();
  });

  it('validates one-string-member params once per value, and answers each value with its own params', async () => {
    let checks = 0;
    const seen: unknown[] = [];
    const counted = new MethodRegistry([
      defineMethod({
        name: 'status',
        summary: 'polled',
        requires: 'user',
        params: z.object({ persona_id: z.string().trim().min(1).refine(() => (checks += 1) > 0) }),
        result: z.object({ id: z.string() }),
        handler: (params) => (seen.push(params), { id: params.persona_id }),
      }),
    ]);
    const countedEngine = new JsonRpcEngine(counted, { logger: silentLogger() });
    const call = (id: number, params: unknown) => countedEngine.handleParsedNow({ jsonrpc: '2.0', id, method: 'status', params }, context);
    expect(call(1, { persona_id: 'aria' })).toEqual({ jsonrpc: '2.0', id: 1, result: { id: 'aria' } });
    expect(call(2, { persona_id: 'aria' })).toEqual({ jsonrpc: '2.0', id: 2, result: { id: 'aria' } });
    expect(checks).toBe(1);
    // The shared params cannot be changed by a handler.
    expect(Object.isFrozen(seen[1])).toBe(true);
    expect(call(3, { persona_id: 'kira' })).toMatchObject({ result: { id: 'kira' } });
    expect(call(4, { persona_id: 'aria' })).toMatchObject({ result: { id: 'aria' } });
    expect(checks).toBe(2);
    // Params that validation changes (trimmed) or refuses are validated every time.
    expect(call(5, { persona_id: ' kira ' })).toMatchObject({ result: { id: 'kira' } });
    expect(call(6, { persona_id: ' kira ' })).toMatchObject({ result: { id: 'kira' } });
    expect(checks).toBe(4);
    expect((call(7, { persona_id: '' }) as { error: { code: number } }).error.code).toBe(-32602);
    expect((call(8, { persona_id: '' }) as { error: { code: number } }).error.code).toBe(-32602);
    expect((call(9, { persona_id: 7 }) as { error: { code: number } }).error.code).toBe(-32602);
  });

  it('answers a request that carries members of its own (even "error" or "result") as the request it is', async () => {
    const response = await handle({ jsonrpc: '2.0', id: 11, method: 'echo', params: { text: 'kept' }, error: { code: 1, message: 'not mine' }, result: 'x', extra: true });
    expect(response).toEqual({ jsonrpc: '2.0', id: 11, result: { text: 'kept' } });
    expect((await handle({ jsonrpc: '2.0', id: 12, error: 'no method' })).error).toMatchObject({ code: -32600, message: expect.stringContaining('"method"') });
  });

  it('refuses params nested past the depth limit with -32602 before validating them', async () => {
    const deep = JSON.parse(`${'{"a":'.repeat(100)}1${'}'.repeat(100)}`) as unknown;
    const response = await handle({ jsonrpc: '2.0', id: 1, method: 'echo', params: { text: 'x', deep } });
    expect(response.error).toMatchObject({ code: -32602, data: { kind: 'limit_exceeded' } });
  });
});

