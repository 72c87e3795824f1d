/**
 * Summarisation of long threads. The LLM writes the summary when it is reachable
 * (`summaryPrompt`); otherwise `extractiveSummary` picks the sentences that carry the most cues
 * (explicit requests, personal facts, emotion), in their original order, within a character budget.
 */
import { importanceCues } from './importance.js';
import { splitSentences } from './extraction.js';

/** Longest summary, LLM or extractive, in characters. */
export const SUMMARY_MAX_CHARS = 1_200;

export interface SummaryTurn {
  role: 'user' | 'assistant' | 'system';
  speaker: string;
  content: string;
}

export function summaryPrompt(personaName: string, turns: readonly SummaryTurn[]): string {
  const transcript = turns.map((turn) => `${turn.speaker}: ${turn.content}`).join('\n');
  return (
    `Summarise the following conversation between ${personaName} and the user in at most five sentences, ` +
    `from ${personaName}'s point of view. Keep facts about the user, promises and feelings; leave out small talk.\n\n` +
    `${transcript}\n\nSummary:`
  );
}

/** The cue-richest sentences of the turns, in order, labelled by speaker, within `maxChars`. */
export function extractiveSummary(turns: readonly SummaryTurn[], maxChars = SUMMARY_MAX_CHARS): string {
  const sentences = turns.flatMap((turn, turnIndex) =>
    splitSentences(turn.content).map((text, sentenceIndex) => {
      const cues = importanceCues(text);
      const weight = (cues.explicit ? 4 : 0) + (cues.personal ? 2 : 0) + (cues.emotion ? 1 : 0) + (turn.role === 'user' ? 0.5 : 0);
      return { text: `${turn.speaker}: ${text}`, weight, order: turnIndex * 1_000 + sentenceIndex };
    }),
  );
  const chosen: typeof sentences = [];
  let used = 0;
  for (const sentence of [...sentences].sort((a, b) => b.weight - a.weight || a.order - b.order)) {
    if (used + sentence.text.length + 1 > maxChars) continue;
    chosen.push(sentence);
    used += sentence.text.length + 1;
  }
  return chosen
    .sort((a, b) => a.order - b.order)
    .map((sentence) => sentence.text)
    .join(' ');
}
