import { describe, expect, it } from 'vitest';
import { compare, lowestOf, ratiosOf, suitesBehind, type SuiteResults } from '../../bench/lib/regression-check.js';

const rpcRun = (target: 'persona-mcp' | 'echo', method: string, connections: number, us: number) =>
  ({ target, method, connections, serverCpuUsPerRequest: us }) as NonNullable<SuiteResults['rpc']>[number];

describe('the bench regression check', () => {
  it('turns each cost into a multiple of the echo server measured in the same run', () => {
    const ratios = ratiosOf({
      rpc: [rpcRun('persona-mcp', 'persona.status', 100, 60), rpcRun('echo', 'persona.status', 100, 30), rpcRun('echo', 'persona.list', 100, 20)],
      chat: [{ mode: 'plain', serverCpuMsPerTurn: 4 } as NonNullable<SuiteResults['chat']>[number]],
      'open-loop': [
        { target: 'persona-mcp', serverCpuUsPerRequest: 90 },
        { target: 'echo', serverCpuUsPerRequest: 45 },
      ] as NonNullable<SuiteResults['open-loop']>,
    });
    // The chat turn is counted in the cheapest echo request of the run (20 µs): 4 ms = 200 of them.
    expect(ratios).toEqual({ 'rpc persona.status @100 cpu/request': 2, 'chat plain cpu/turn': 200, 'open-loop cpu/request': 2 });
  });

  it('leaves out a figure whose echo counterpart was not measured', () => {
    expect(ratiosOf({ rpc: [rpcRun('persona-mcp', 'persona.list', 1000, 40)], chat: [{ mode: 'plain', serverCpuMsPerTurn: 4 } as never] })).toEqual({});
  });

  it('fails a figure more than 25 % above its reference, and only that one', () => {
    const rows = compare({ a: 2, b: 2 }, { a: 2.4, b: 2.6, c: 1 });
    expect(rows.map((row) => [row.figure, row.verdict])).toEqual([
      ['a', 'ok'],
      ['b', 'REGRESSION'],
      ['c', 'new'],
    ]);
  });

  it('measures a figure over the line again with the suites behind it, rpc included for a chat turn', () => {
    expect(suitesBehind(['chat plain cpu/turn'])).toEqual(['rpc', 'chat']);
    expect(suitesBehind(['open-loop cpu/request', 'connections @1000 KiB/connection'])).toEqual(['connections', 'open-loop']);
    expect(suitesBehind(['rpc persona.status @100 cpu/request', 'rpc persona.list @1000 cpu/request'])).toEqual(['rpc']);
  });

  it("keeps each figure's lowest ratio across attempts, so only a regression that holds in every run fails", () => {
    const first = { a: 2.6, b: 2.1 };
    const again = lowestOf(first, { a: 2.3, b: 2.7 });
    expect(again).toEqual({ a: 2.3, b: 2.1 });
    expect(compare({ a: 2, b: 2 }, again).map((row) => row.verdict)).toEqual(['ok', 'ok']);
    expect(compare({ a: 2 }, lowestOf({ a: 2.6 }, { a: 2.7 }))[0]!.verdict).toBe('REGRESSION');
    expect(lowestOf({ a: 1 }, { c: 3 })).toEqual({ a: 1, c: 3 });
  });
});
