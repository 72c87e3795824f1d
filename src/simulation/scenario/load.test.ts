import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseScenario, ScenarioError } from './load.js';
import { durationMs, scenarioJsonSchema } from './schema.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function problems(source: string): string[] {
  try {
    parseScenario(source, 'x.yaml');
  } catch (error) {
    if (error instanceof ScenarioError) return error.message.split('\n');
    throw error;
  }
  return [];
}

describe('scenario files', () => {
  it('parse with defaults filled in', () => {
    const scenario = parseScenario('name: hello\npersonas: [aria]\nscript:\n  - say: Hi\n  - wait: 15m\n');
    expect(scenario.mode).toBe('chat');
    expect(scenario.users).toEqual(['user']);
    expect(scenario.stop.max_turns).toBe(50);
    expect(scenario.clock).toEqual({ start: '2026-06-01T18:00:00Z', turn_seconds: 30 });
    expect(scenario.script).toEqual([{ say: 'Hi' }, { wait: '15m' }]);
  });

  it('point each mistake at its line and column, with its path', () => {
    const source = [
      'name: x', // 1
      'personas: [aria]', // 2
      'script:', // 3
      '  - say: hi', // 4
      '  - tell: my cat is Tom', // 5 (fact missing)
      '  - wait: soon', // 6
      'assertions:', // 7
      '  - mood: aria', // 8
      '    direction: sideways', // 9
      '  - speek: aria', // 10
    ].join('\n');
    expect(problems(source)).toEqual([
      'x.yaml:5:5: script[1].fact: missing (expected string)',
      'x.yaml:6:11: script[2].wait: a duration like "90s", "15m", "2h" or a number of seconds',
      'x.yaml:9:16: assertions[0].direction: Invalid option: expected one of "up"|"down"|"same"',
      'x.yaml:10:12: assertions[1]: unknown key "speek"; see scenarios/scenario.schema.json for what may go here',
    ]);
  });

  it('report YAML syntax errors and a missing name at their lines', () => {
    expect(problems('name: x\npersonas: [aria\n')[0]).toMatch(/^x\.yaml:3:1: /);
    expect(problems('personas: [aria]\n')).toEqual(['x.yaml:1:1: name: missing (expected string)']);
    expect(problems('- just a list\n')).toEqual(['x.yaml:1:1: a scenario is a mapping with at least `name` and `personas`']);
  });

  it('refuse group-only steps in chat mode and a persona listed twice', () => {
    expect(problems('name: x\npersonas: [aria, kira]\nscript:\n  - run: 3\n')).toEqual(['x.yaml:4:5: script[0]: run/join/leave need mode: group']);
    expect(problems('name: x\npersonas: [aria, Aria]\n')).toEqual(['x.yaml:2:11: personas: a persona is listed twice']);
  });

  it('read durations in ms, s, m, h or plain seconds', () => {
    expect([durationMs(90), durationMs('500ms'), durationMs('90s'), durationMs('15m'), durationMs('2h')]).toEqual([90_000, 500, 90_000, 900_000, 7_200_000]);
  });

  it('have a published JSON Schema that matches the code (npm run docs:scenario-schema)', () => {
    const published = JSON.parse(readFileSync(path.join(ROOT, 'scenarios', 'scenario.schema.json'), 'utf8')) as unknown;
    expect(published).toEqual(scenarioJsonSchema());
  });
});
