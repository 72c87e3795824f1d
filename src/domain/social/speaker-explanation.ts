/**
 * Why a persona speaks next, in words for people watching a group conversation: it wanted to most
 * (its desire from `speakerDesire`, against the others'), and whether it is winding down.
 */

export interface SpeakerExplanationInput {
  personaId: string;
  mode: 'continue' | 'wind_down';
  desires: Readonly<Record<string, number>>;
  /** Display name of a persona id. */
  nameOf: (personaId: string) => string;
}

/**
 * "Kira wants to speak most (desire 84, against Aria 61)", "… and wants to wrap up", or "Kira is the
 * only one who can speak now" when nobody else was a candidate.
 */
export function explainSpeakerChoice({ personaId, mode, desires, nameOf }: SpeakerExplanationInput): string {
  const name = nameOf(personaId);
  const others = Object.entries(desires)
    .filter(([id]) => id !== personaId)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b));
  const own = Math.round(desires[personaId] ?? 0);
  const base =
    others.length === 0
      ? `${name} is the only one who can speak now (desire ${own})`
      : `${name} wants to speak most (desire ${own}, against ${others.map(([id, desire]) => `${nameOf(id)} ${Math.round(desire)}`).join(', ')})`;
  return mode === 'wind_down' ? `${base}, and is getting ready to wrap up` : base;
}
