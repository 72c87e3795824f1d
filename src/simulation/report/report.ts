/**
 * A scenario's report: the run record plus its assertion results and consistency scores, as JSON for
 * machines, and as Markdown or a self-contained HTML page (transcript, per-turn continue scores,
 * relationship and mood charts, assertion results) for people.
 */
import type { AssertionResult } from '../assertions.js';
import type { ConsistencyScore } from '../consistency.js';
import type { SimulationRun, StateSample } from '../run-record.js';
import { escapeXml, lineChart, type Series } from './charts.js';

export interface ScenarioReport {
  /** Format version of this JSON. */
  version: 1;
  passed: boolean;
  run: SimulationRun;
  assertions: AssertionResult[];
  consistency: ConsistencyScore[];
}

export function buildReport(run: SimulationRun, assertions: AssertionResult[], consistency: ConsistencyScore[]): ScenarioReport {
  return { version: 1, passed: run.error === null && assertions.every((assertion) => assertion.passed), run, assertions, consistency };
}

function minutes(ms: number): string {
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : `${m}m${String(s).padStart(2, '0')}s`;
}

function seriesOf(samples: readonly StateSample[], keys: string[], read: (sample: StateSample, key: string) => number | undefined): Series[] {
  return keys.map((key) => ({
    name: key,
    points: samples.flatMap((sample) => {
      const value = read(sample, key);
      return value === undefined ? [] : [{ x: sample.turn, y: value }];
    }),
  }));
}

/** The charts of a report, as inline SVG strings. */
export function reportCharts(report: ScenarioReport): Array<{ title: string; svg: string }> {
  const { samples, personas } = report.run;
  const relationKeys = [...new Set(samples.flatMap((sample) => Object.keys(sample.relationships)))].sort();
  const moodKeys = personas.map((persona) => persona.id);
  const charts: Array<{ title: string; svg: string }> = [];
  const continueSeries: Series[] = personas.map((persona) => ({
    name: persona.id,
    points: report.run.transcript.flatMap((entry) => (entry.kind === 'persona' && entry.speaker === persona.id && entry.continueScore !== undefined ? [{ x: entry.turn, y: entry.continueScore }] : [])),
  }));
  if (continueSeries.some((entry) => entry.points.length > 0))
    charts.push({ title: 'Continue score per turn', svg: lineChart(continueSeries, { title: 'Continue score per turn', xLabel: 'turn', yMin: 0, yMax: 100 }) });
  if (relationKeys.length > 0) {
    charts.push({
      title: 'Relationships: affinity',
      svg: lineChart(seriesOf(samples, relationKeys, (sample, key) => sample.relationships[key]?.affinity), { title: 'Relationships: affinity', xLabel: 'turn', yMin: -1, yMax: 1 }),
    });
    charts.push({
      title: 'Relationships: trust',
      svg: lineChart(seriesOf(samples, relationKeys, (sample, key) => sample.relationships[key]?.trust), { title: 'Relationships: trust', xLabel: 'turn', yMin: 0, yMax: 1 }),
    });
  }
  charts.push({
    title: 'Mood: valence',
    svg: lineChart(seriesOf(samples, moodKeys, (sample, key) => sample.moods[key]?.valence), { title: 'Mood: valence', xLabel: 'turn', yMin: -1, yMax: 1 }),
  });
  charts.push({
    title: 'Social energy',
    svg: lineChart(seriesOf(samples, moodKeys, (sample, key) => sample.moods[key]?.energy_level), { title: 'Social energy (share of maximum)', xLabel: 'turn', yMin: 0, yMax: 1 }),
  });
  return charts;
}

function consistencyOfTurn(report: ScenarioReport, persona: string | null, turn: number): number | undefined {
  return report.consistency.find((score) => score.persona === persona)?.lines.find((line) => line.turn === turn)?.score;
}

function mdCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n+/g, ' ');
}

export function renderMarkdown(report: ScenarioReport): string {
  const { run } = report;
  const lines: string[] = [
    `# ${run.scenario}: ${report.passed ? 'PASSED' : 'FAILED'}`,
    '',
    `- file: \`${run.file}\`, mode: ${run.mode}, target: ${run.target}`,
    `- ${run.turns} persona turns, ${minutes(run.simulatedMs)} simulated, ${(run.wallMs / 1000).toFixed(1)} s wall; ended: ${run.endReason}${run.endedByItself ? ' (by itself)' : ''}`,
  ];
  if (run.cassettes) lines.push(`- cassettes: ${run.cassettes.replayed} replayed, ${run.cassettes.recorded} recorded, ${run.cassettes.missed} missed`);
  if (run.unfiredEvents.length > 0) lines.push(`- events never reached: ${run.unfiredEvents.join(', ')}`);
  for (const note of run.notes) lines.push(`- note: ${note}`);
  if (run.error) lines.push('', `**Error at turn ${run.error.turn}:**`, '', '```', run.error.message, '```');
  lines.push('', '## Assertions', '', '| | assertion | result | turn |', '|---|---|---|---|');
  for (const assertion of report.assertions)
    lines.push(`| ${assertion.passed ? '✓' : '✗'} | ${mdCell(assertion.name)} | ${mdCell(assertion.message)} | ${assertion.turn ?? ''} |`);
  lines.push('', '## Consistency', '', '| persona | overall | method | lines | contradictions |', '|---|---|---|---|---|');
  for (const score of report.consistency) lines.push(`| ${score.persona} | ${score.overall ?? '—'} | ${score.method} | ${score.lines.length} | ${score.contradictions.length} |`);
  for (const score of report.consistency)
    for (const contradiction of score.contradictions) lines.push(`- ${score.persona}, turn ${contradiction.turn}: "${contradiction.says}" contradicts "${contradiction.against}" (${contradiction.kind})`);
  lines.push('', '## Transcript', '', '| turn | time | who | line | continue | consistency | ms |', '|---|---|---|---|---|---|---|');
  for (const entry of run.transcript) {
    const who = entry.kind === 'event' ? '*event*' : entry.kind === 'user' ? `${entry.speakerName} (user)` : `**${entry.speakerName}**`;
    const text = entry.kind === 'event' ? `*${mdCell(entry.content)}*` : mdCell(entry.content);
    const consistency = entry.kind === 'persona' ? consistencyOfTurn(report, entry.speaker, entry.turn) : undefined;
    lines.push(`| ${entry.turn} | ${minutes(entry.atMs)} | ${who} | ${text} | ${entry.continueScore ?? ''} | ${consistency ?? ''} | ${entry.latencyMs === undefined ? '' : Math.round(entry.latencyMs)} |`);
  }
  lines.push('', '## Charts', '');
  for (const chart of reportCharts(report)) lines.push(chart.svg, '');
  return `${lines.join('\n')}\n`;
}

export function renderHtml(report: ScenarioReport): string {
  const { run } = report;
  const e = escapeXml;
  const rows = run.transcript
    .map((entry) => {
      const consistency = entry.kind === 'persona' ? consistencyOfTurn(report, entry.speaker, entry.turn) : undefined;
      return `<tr class="${entry.kind}"><td>${entry.turn}</td><td>${minutes(entry.atMs)}</td><td>${e(entry.kind === 'event' ? 'event' : (entry.speakerName ?? ''))}${entry.kind === 'user' ? ' <small>(user)</small>' : ''}</td><td>${e(entry.content)}</td><td>${entry.continueScore ?? ''}</td><td>${consistency ?? ''}</td><td>${entry.latencyMs === undefined ? '' : Math.round(entry.latencyMs)}</td></tr>`;
    })
    .join('\n');
  const assertions = report.assertions
    .map((assertion) => `<tr class="${assertion.passed ? 'pass' : 'fail'}"><td>${assertion.passed ? '✓' : '✗'}</td><td>${e(assertion.name)}</td><td>${e(assertion.message)}</td><td>${assertion.turn ?? ''}</td></tr>`)
    .join('\n');
  const consistency = report.consistency
    .map((score) => `<tr><td>${e(score.persona)}</td><td>${score.overall ?? '—'}</td><td>${e(score.method)}</td><td>${score.lines.length}</td><td>${score.contradictions.map((c) => `turn ${c.turn}: “${e(c.says)}” vs “${e(c.against)}”`).join('<br>') || 0}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${e(run.scenario)} — ${report.passed ? 'passed' : 'failed'}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:1.5em}td,th{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left;vertical-align:top}
tr.pass td:first-child{color:#080}tr.fail td:first-child{color:#c00;font-weight:bold}tr.fail{background:#fff3f3}
tr.event td{color:#666;font-style:italic}tr.user td:nth-child(4){color:#035}
.status{font-weight:bold;color:${report.passed ? '#080' : '#c00'}}pre{background:#f6f6f6;padding:1em;overflow:auto}
</style></head><body>
<h1>${e(run.scenario)} <span class="status">${report.passed ? 'PASSED' : 'FAILED'}</span></h1>
<p><code>${e(run.file)}</code> · mode ${run.mode} · ${e(run.target)}<br>${run.turns} persona turns · ${minutes(run.simulatedMs)} simulated · ${(run.wallMs / 1000).toFixed(1)} s wall · ended: ${e(run.endReason)}${run.endedByItself ? ' (by itself)' : ''}${run.cassettes ? `<br>cassettes: ${run.cassettes.replayed} replayed, ${run.cassettes.recorded} recorded, ${run.cassettes.missed} missed` : ''}${run.notes.map((note) => `<br>note: ${e(note)}`).join('')}</p>
${run.error ? `<h2>Error at turn ${run.error.turn}</h2><pre>${e(run.error.message)}</pre>` : ''}
<h2>Assertions</h2><table><tr><th></th><th>assertion</th><th>result</th><th>turn</th></tr>
${assertions}
</table>
<h2>Consistency</h2><table><tr><th>persona</th><th>overall</th><th>method</th><th>lines</th><th>contradictions</th></tr>
${consistency}
</table>
<h2>Charts</h2>
${reportCharts(report)
  .map((chart) => `<figure>${chart.svg}</figure>`)
  .join('\n')}
<h2>Transcript</h2><table><tr><th>turn</th><th>time</th><th>who</th><th>line</th><th>continue</th><th>consistency</th><th>ms</th></tr>
${rows}
</table>
</body></html>
`;
}
