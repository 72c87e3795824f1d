/**
 * Reads a scenario file: YAML (JSON is YAML too) parsed with `yaml`, which keeps every node's position,
 * then validated with the zod schema. Every problem is reported as `FILE:LINE:COLUMN: path: message`,
 * pointing at the value that is wrong (or at its parent when a required key is missing).
 */
import { readFile } from 'node:fs/promises';
import { isNode, LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { scenarioSchema, type Scenario } from './schema.js';

export interface ScenarioProblem {
  line: number;
  column: number;
  /** Dotted path of the value, e.g. `script[2].say`. */
  path: string;
  message: string;
}

export class ScenarioError extends Error {
  constructor(
    readonly file: string,
    readonly problems: ScenarioProblem[],
  ) {
    super(problems.map((problem) => `${file}:${problem.line}:${problem.column}: ${problem.path ? `${problem.path}: ` : ''}${problem.message}`).join('\n'));
    this.name = 'ScenarioError';
  }
}

/** Largest scenario file read (a scenario is a page of YAML, not a data dump). */
export const MAX_SCENARIO_BYTES = 1_048_576;

export async function loadScenarioFile(file: string): Promise<Scenario> {
  const source = await readFile(file, 'utf8').catch((error: NodeJS.ErrnoException) => {
    throw new ScenarioError(file, [{ line: 1, column: 1, path: '', message: `cannot read the file (${error.code ?? error.message})` }]);
  });
  return parseScenario(source, file);
}

/** Parses and validates scenario text; throws a `ScenarioError` listing every problem with its line. */
export function parseScenario(source: string, file = '<scenario>'): Scenario {
  if (Buffer.byteLength(source) > MAX_SCENARIO_BYTES)
    throw new ScenarioError(file, [{ line: 1, column: 1, path: '', message: `the file is larger than ${MAX_SCENARIO_BYTES} bytes` }]);
  const lines = new LineCounter();
  const document = parseDocument(source, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw new ScenarioError(
      file,
      document.errors.map((error) => {
        const at = lines.linePos(error.pos[0]);
        return { line: at.line, column: at.col, path: '', message: firstLine(error.message) };
      }),
    );
  }
  const value: unknown = document.toJS({ maxAliasCount: 100 });
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new ScenarioError(file, [{ line: 1, column: 1, path: '', message: 'a scenario is a mapping with at least `name` and `personas`' }]);
  const parsed = scenarioSchema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new ScenarioError(
    file,
    parsed.error.issues.map((issue) => problemOf(issue, document, lines)).sort((a, b) => a.line - b.line || a.column - b.column),
  );
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

type Issue = z.core.$ZodIssue;

function problemOf(issue: Issue, document: Document, lines: LineCounter): ScenarioProblem {
  const explained = explain(issue);
  const path = explained.path;
  // An unknown key is shown where it is written, not at the start of its mapping.
  const at = positionOf(document, explained.unknownKey === undefined ? path : [...path, explained.unknownKey], lines);
  return { ...at, path: formatPath(path), message: explained.message };
}

/**
 * zod reports a value that matches no member of a union as "Invalid input"; say instead what the
 * closest member wanted (the one that got furthest), or which keys are allowed.
 */
function explain(issue: Issue): { path: PropertyKey[]; message: string; unknownKey?: string } {
  if (issue.code === 'unrecognized_keys') return { path: issue.path, message: messageOf(issue), unknownKey: issue.keys[0]! };
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return { path: issue.path, message: messageOf(issue) };
  const branches = issue.errors.filter((branch) => branch.length > 0);
  const depth = (branch: Issue[]): number => Math.max(...branch.map((inner) => inner.path.length));
  // With strict objects, a branch that met unknown keys at its top is the wrong shape for this value.
  const fitting = branches.filter((branch) => !branch.some((inner) => inner.code === 'unrecognized_keys' && inner.path.length === 0));
  if (fitting.length === 0) {
    // Keys that no member knows (the intersection of every branch's unknown keys) are the mistake.
    let unknown = null as Set<string> | null;
    for (const branch of branches) {
      const here = new Set(branch.flatMap((inner) => (inner.code === 'unrecognized_keys' && inner.path.length === 0 ? inner.keys : [])));
      unknown = unknown === null ? here : new Set([...unknown].filter((key) => here.has(key)));
    }
    const keys = [...(unknown ?? [])];
    return {
      path: issue.path,
      message:
        keys.length === 0
          ? 'this does not match any allowed form; see scenarios/scenario.schema.json'
          : `unknown key${keys.length === 1 ? '' : 's'} ${keys.map((key) => `"${key}"`).join(', ')}; see scenarios/scenario.schema.json for what may go here`,
      ...(keys.length > 0 ? { unknownKey: keys[0]! } : {}),
    };
  }
  const best = fitting.sort((a, b) => depth(b) - depth(a) || a.length - b.length)[0]!;
  const inner = explain(best[0]!);
  return { ...inner, path: [...issue.path, ...inner.path] };
}

function messageOf(issue: Issue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((key) => `"${key}"`).join(', ')}`;
  if (issue.code === 'invalid_type' && issue.message.includes('received undefined')) return `missing (expected ${issue.expected})`;
  return issue.message;
}

function formatPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((text, key) => (typeof key === 'number' ? `${text}[${key}]` : text.length === 0 ? String(key) : `${text}.${String(key)}`), '');
}

/** The position of the node at `path`, or of its nearest existing ancestor (a missing key points at its parent). */
function positionOf(document: Document, path: readonly PropertyKey[], lines: LineCounter): { line: number; column: number } {
  for (let length = path.length; length >= 0; length--) {
    const node = length === 0 ? document.contents : document.getIn(path.slice(0, length) as Array<string | number>, true);
    if (isNode(node) && node.range) {
      const at = lines.linePos(node.range[0]);
      return { line: at.line, column: at.col };
    }
  }
  return { line: 1, column: 1 };
}
