/**
 * The LLM judge of persona consistency: a fixed rubric, one request per persona line, asking the model
 * for a single number 1–5. It replaces the offline style/vocabulary part of a line's score; the
 * contradictions found offline still halve it. A line the model does not rate with a plain number
 * keeps its offline score (and says so). Runs through whatever LLM provider it is given — under the
 * record/replay adapter, judgements are recorded and replayed like everything else.
 */
import type { LlmProvider } from '../ports/llm.js';
import { CONTRADICTION_FACTOR, type ConsistencyScore } from './consistency.js';
import type { PersonaInfo, TranscriptEntry } from './run-record.js';

/** The rubric, fixed so that scores are comparable between runs and scenarios. */
export const JUDGE_RUBRIC = [
  'You judge whether a line of dialogue fits a character, using only the character card you are given.',
  'Score 5: unmistakably this character — their voice, manner, interests and views.',
  'Score 4: fits well, with small lapses in voice.',
  'Score 3: neutral; anyone could have said it.',
  'Score 2: noticeably out of voice or out of character.',
  'Score 1: breaks character (e.g. speaks as an AI or assistant), or contradicts the card.',
  'Answer with one number from 1 to 5 and nothing else.',
].join('\n');

function card(persona: PersonaInfo): string {
  const traits = Object.entries(persona.traits)
    .map(([trait, value]) => `${trait} ${value}/100`)
    .join(', ');
  return [
    `Name: ${persona.name}`,
    `Description: ${persona.description}`,
    traits ? `Traits: ${traits}` : '',
    persona.speakingStyle ? `Speaking style: ${persona.speakingStyle}` : '',
    persona.exampleLines.length > 0 ? `Example lines:\n${persona.exampleLines.map((line) => `- "${line}"`).join('\n')}` : '',
  ]
    .filter((part) => part.length > 0)
    .join('\n');
}

/** Rates each of the persona's lines with the model; returns the score with method `llm-judge`. */
export async function judgeConsistency(
  llm: LlmProvider,
  model: string,
  persona: PersonaInfo,
  transcript: readonly TranscriptEntry[],
  offline: ConsistencyScore,
  signal: AbortSignal = new AbortController().signal,
): Promise<ConsistencyScore> {
  const lines = [];
  let judged = 0;
  for (const line of offline.lines) {
    const entry = transcript.find((candidate) => candidate.kind === 'persona' && candidate.speaker === persona.id && candidate.turn === line.turn);
    let answer = '';
    for await (const event of llm.chat(
      {
        model,
        messages: [
          { role: 'system', content: JUDGE_RUBRIC },
          { role: 'user', content: `Character card:\n${card(persona)}\n\nLine to judge:\n"${entry?.content ?? ''}"` },
        ],
        maxTokens: 4,
        contextTokens: 2048,
        options: { temperature: 0 },
        priority: 'background',
      },
      signal,
    )) {
      if (event.type === 'delta') answer += event.text;
    }
    const rating = /^\s*([1-5])(?:\.0+)?\s*$/.exec(answer);
    if (rating === null) {
      lines.push({ ...line, judge: null });
      continue;
    }
    judged += 1;
    const judge = (Number(rating[1]) - 1) / 4;
    lines.push({ ...line, judge, score: Math.round(judge * CONTRADICTION_FACTOR ** line.contradictions * 1000) / 1000 });
  }
  const overall = lines.length === 0 ? null : Math.round((lines.reduce((sum, line) => sum + line.score, 0) / lines.length) * 1000) / 1000;
  return { ...offline, method: judged === lines.length ? 'llm-judge' : judged === 0 ? 'offline-stylistic' : 'llm-judge (partly offline)', overall, lines };
}
