/**
 * Assertions on a finished run: pure functions of the run record. Each result says whether it held,
 * why (in words a person can act on) and, when it failed at a particular moment, the turn.
 */
import { scoreConsistency, type ConsistencyScore } from './consistency.js';
import type { SimulationRun, StateSample } from './run-record.js';
import { containsAll } from './runner.js';
import type { ScenarioAssertion } from './scenario/schema.js';

export interface AssertionResult {
  /** The assertion's `name`, or a description of it. */
  name: string;
  passed: boolean;
  message: string;
  /** The turn where it failed, when one turn is to blame. */
  turn: number | null;
}

export function evaluateAssertions(assertions: readonly ScenarioAssertion[], run: SimulationRun, consistency: readonly ConsistencyScore[]): AssertionResult[] {
  const results = assertions.map((assertion) => evaluate(assertion, run, consistency));
  if (run.error !== null) {
    results.unshift({ name: 'the scenario ran to its end', passed: false, message: run.error.message, turn: run.error.turn });
  }
  return results;
}

function personaOf(run: SimulationRun, ref: string): string {
  const lower = ref.toLowerCase();
  return run.personas.find((persona) => persona.id === lower || persona.name.toLowerCase() === lower)?.id ?? lower;
}

function linesOf(run: SimulationRun, personaId: string) {
  return run.transcript.filter((entry) => entry.kind === 'persona' && entry.speaker === personaId);
}

function matcher(text: string | undefined, pattern: string | undefined): { test: (line: string) => boolean; describe: string } {
  if (pattern !== undefined) {
    const regex = new RegExp(pattern, 'iu');
    return { test: (line) => regex.test(line), describe: `/${pattern}/` };
  }
  const needle = (text ?? '').toLowerCase();
  return { test: (line) => line.toLowerCase().includes(needle), describe: `"${text ?? ''}"` };
}

function result(name: string | undefined, fallback: string, passed: boolean, message: string, turn: number | null = null): AssertionResult {
  return { name: name ?? fallback, passed, message, turn: passed ? null : turn };
}

function evaluate(assertion: ScenarioAssertion, run: SimulationRun, consistency: readonly ConsistencyScore[]): AssertionResult {
  if ('speaks' in assertion) {
    const persona = personaOf(run, assertion.speaks);
    const lines = linesOf(run, persona);
    const bounds = `${assertion.min ?? 0}..${assertion.max ?? '∞'}`;
    const label = `${persona} speaks ${bounds} times`;
    if (assertion.max !== undefined && lines.length > assertion.max)
      return result(assertion.name, label, false, `${persona} spoke ${lines.length} times (at most ${assertion.max})`, lines[assertion.max]!.turn);
    if (assertion.min !== undefined && lines.length < assertion.min)
      return result(assertion.name, label, false, `${persona} spoke ${lines.length} times (at least ${assertion.min})`, run.turns);
    return result(assertion.name, label, true, `${persona} spoke ${lines.length} times`);
  }
  if ('mentions' in assertion) {
    const persona = personaOf(run, assertion.mentions);
    const match = matcher(assertion.text, assertion.pattern);
    const after = assertion.after_turn ?? 0;
    const hit = linesOf(run, persona).find((entry) => entry.turn > after && match.test(entry.content));
    const label = `${persona} mentions ${match.describe}`;
    return hit === undefined
      ? result(assertion.name, label, false, `${persona} never said ${match.describe}${after > 0 ? ` after turn ${after}` : ''}`, run.turns)
      : result(assertion.name, label, true, `said at turn ${hit.turn}`);
  }
  if ('never_mentions' in assertion) {
    const persona = personaOf(run, assertion.never_mentions);
    const match = matcher(assertion.text, assertion.pattern);
    const hit = linesOf(run, persona).find((entry) => match.test(entry.content));
    const label = `${persona} never mentions ${match.describe}`;
    return hit === undefined
      ? result(assertion.name, label, true, `not said in ${linesOf(run, persona).length} lines`)
      : result(assertion.name, label, false, `${persona} said ${match.describe} at turn ${hit.turn}: "${shorten(hit.content)}"`, hit.turn);
  }
  if ('recalls' in assertion) {
    const persona = personaOf(run, assertion.by);
    const label = `${persona} recalls the fact "${assertion.recalls}"`;
    const fact = run.facts.find((candidate) => candidate.id === assertion.recalls);
    if (fact === undefined) return result(assertion.name, label, false, `no fact "${assertion.recalls}" was told (is the tell step reached?)`, run.turns);
    // Recalled = said in a later turn than the one answering the telling itself.
    const hit = linesOf(run, persona).find((entry) => entry.turn > fact.turn + 1 && containsAll(entry.content, fact.keywords));
    return hit === undefined
      ? result(assertion.name, label, false, `after turn ${fact.turn + 1}, ${persona} never said ${fact.keywords.map((word) => `"${word}"`).join(' and ')}`, run.turns)
      : result(assertion.name, label, true, `recalled at turn ${hit.turn}`);
  }
  if ('relationship' in assertion) {
    const from = personaOf(run, assertion.relationship.from);
    const to = assertion.relationship.to.startsWith('user:') ? assertion.relationship.to : personaOf(run, assertion.relationship.to);
    const key = `${from}→${to}`;
    const label = `${key} ${assertion.field} goes ${assertion.direction}`;
    return moved(assertion.name, label, run.samples, (sample) => sample.relationships[key]?.[assertion.field] ?? null, assertion.direction, assertion.by);
  }
  if ('mood' in assertion) {
    const persona = personaOf(run, assertion.mood);
    const label = `${persona}'s ${assertion.field} goes ${assertion.direction}`;
    return moved(assertion.name, label, run.samples, (sample) => sample.moods[persona]?.[assertion.field] ?? null, assertion.direction, assertion.by);
  }
  if ('ends_by_itself' in assertion) {
    const limit = assertion.ends_by_itself.within_turns;
    const label = `the conversation ends by itself within ${limit} turns`;
    if (!run.endedByItself) return result(assertion.name, label, false, `it did not end by itself (${run.endReason}) after ${run.turns} turns`, run.turns);
    return run.turns <= limit
      ? result(assertion.name, label, true, `ended (${run.endReason}) after ${run.turns} turns`)
      : result(assertion.name, label, false, `ended by itself only after ${run.turns} turns`, run.turns);
  }
  if ('no_private_crossover' in assertion) {
    const label = 'no private memory crosses between users';
    if (run.users.length < 2) return result(assertion.name, label, false, 'needs at least two users in the scenario', null);
    if (run.facts.length === 0) return result(assertion.name, label, false, 'no fact was told, so there is nothing to check', null);
    if (run.probes.length === 0)
      return result(assertion.name, label, false, 'the users could not be told apart (give each user an API key: --user-key USER=KEY, or run embedded)', null);
    for (const fact of run.facts) {
      const heard = run.transcript.find(
        (entry) => entry.kind === 'persona' && entry.user !== null && entry.user !== fact.user && containsAll(entry.content, fact.keywords),
      );
      if (heard !== undefined)
        return result(assertion.name, label, false, `${heard.speakerName} told ${heard.user} ${fact.user}'s fact "${fact.id}" at turn ${heard.turn}: "${shorten(heard.content)}"`, heard.turn);
    }
    const leak = run.probes.find((probe) => probe.leakedMemories.length > 0);
    if (leak !== undefined)
      return result(assertion.name, label, false, `${leak.otherUser}'s memory.search (${leak.persona}) finds ${leak.owner}'s fact "${leak.fact}": "${shorten(leak.leakedMemories[0]!)}"`, run.turns);
    return result(assertion.name, label, true, `${run.facts.length} facts, ${run.probes.length} searches by other users found nothing`);
  }
  if ('latency' in assertion) {
    const latencies = run.transcript.flatMap((entry) => (entry.latencyMs === undefined ? [] : [entry.latencyMs])).sort((a, b) => a - b);
    const label = `reply latency within ${Object.entries(assertion.latency)
      .map(([key, value]) => `${key.replace('_ms', '')} ${value} ms`)
      .join(', ')}`;
    if (latencies.length === 0) return result(assertion.name, label, false, 'no reply was timed', null);
    const figures = { p50_ms: quantile(latencies, 0.5), p95_ms: quantile(latencies, 0.95), max_ms: latencies.at(-1)! };
    for (const [key, bound] of Object.entries(assertion.latency) as Array<[keyof typeof figures, number]>) {
      if (figures[key] > bound) {
        const slowest = run.transcript.reduce((worst, entry) => ((entry.latencyMs ?? 0) > (worst.latencyMs ?? 0) ? entry : worst));
        return result(assertion.name, label, false, `${key.replace('_ms', '')} was ${Math.round(figures[key])} ms (bound ${bound} ms); slowest at turn ${slowest.turn}`, slowest.turn);
      }
    }
    return result(assertion.name, label, true, `p50 ${Math.round(figures.p50_ms)} ms, p95 ${Math.round(figures.p95_ms)} ms, max ${Math.round(figures.max_ms)} ms over ${latencies.length} replies`);
  }
  // consistency
  const persona = personaOf(run, assertion.consistency);
  const label = `${persona}'s consistency ≥ ${assertion.min}`;
  const info = run.personas.find((candidate) => candidate.id === persona);
  if (info === undefined) return result(assertion.name, label, false, `${persona} is not one of the personas that took part`, null);
  const score = consistency.find((candidate) => candidate.persona === persona) ?? scoreConsistency(info, run.transcript, run.facts);
  if (score.overall === null) return result(assertion.name, label, false, `${persona} said nothing to score`, run.turns);
  if (assertion.max_contradictions !== undefined && score.contradictions.length > assertion.max_contradictions) {
    const first = score.contradictions[0]!;
    return result(assertion.name, label, false, `${score.contradictions.length} contradictions (at most ${assertion.max_contradictions}); first at turn ${first.turn}: "${first.says}" vs "${first.against}"`, first.turn);
  }
  if (score.overall < assertion.min) {
    const worst = [...score.lines].sort((a, b) => a.score - b.score)[0]!;
    return result(assertion.name, label, false, `overall ${score.overall} (< ${assertion.min}); weakest line at turn ${worst.turn} (${worst.score})`, worst.turn);
  }
  return result(assertion.name, label, true, `overall ${score.overall} over ${score.lines.length} lines, ${score.contradictions.length} contradictions`);
}

function moved(
  name: string | undefined,
  label: string,
  samples: readonly StateSample[],
  read: (sample: StateSample) => number | null,
  direction: 'up' | 'down' | 'same',
  by: number | undefined,
): AssertionResult {
  const values = samples.map((sample) => ({ turn: sample.turn, value: read(sample) }));
  const first = values.find((entry) => entry.value !== null);
  const last = [...values].reverse().find((entry) => entry.value !== null);
  // A relationship that did not exist at the start starts from its defaults: count it from its first sample.
  if (first === undefined || last === undefined) return result(name, label, false, 'never measured (the relationship or persona does not exist)', null);
  const change = last.value! - first.value!;
  const text = `${round(first.value!)} → ${round(last.value!)} (${change >= 0 ? '+' : ''}${round(change)})`;
  const passed =
    direction === 'up' ? change > (by ?? 0) : direction === 'down' ? change < -(by ?? 0) : Math.abs(change) <= (by ?? 0.001);
  return result(name, label, passed, text, last.turn);
}

function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

function round(value: number): number {
  return Math.round(value * 1000) / 1000;
}

function shorten(text: string, max = 120): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
