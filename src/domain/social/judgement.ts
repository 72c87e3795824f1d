/**
 * The LLM's judgement of an exchange, used instead of the sentiment heuristic when the model can be
 * reached: a short prompt asking for one number, and a strict parser (anything else → null, and the
 * caller falls back on the heuristic — never on an invented value).
 */

/** Words of each side quoted to the judge; longer messages are cut (the tone shows early). */
export const JUDGED_CHARS = 600;

export function judgementPrompt(personaName: string, spoken: string, answer: string): { system: string; user: string } {
  return {
    system:
      'You rate the tone of exchanges in a role-play chat. Reply with one number between -1 and 1 and nothing else: ' +
      '-1 hostile or insulting, -0.5 unfriendly, 0 neutral, 0.5 friendly, 1 warm and kind.',
    user: `How did the visitor treat ${personaName}, and how did the exchange go?\n\nVisitor: ${cut(spoken)}\n${personaName}: ${cut(answer)}\n\nThe number:`,
  };
}

/** The first number in the reply when it lies in −1..1 (rounded to 3 decimals), else null. */
export function parseJudgement(text: string): number | null {
  const match = /-?\d+(?:\.\d+)?/.exec(text.replace(/[−–]/g, '-'));
  if (match === null) return null;
  const value = Number(match[0]);
  if (!Number.isFinite(value) || value < -1 || value > 1) return null;
  return Math.round(value * 1000) / 1000;
}

function cut(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= JUDGED_CHARS ? flat : `${flat.slice(0, JUDGED_CHARS)}…`;
}
