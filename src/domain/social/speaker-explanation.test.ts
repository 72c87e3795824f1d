import { describe, expect, it } from 'vitest';
import { explainSpeakerChoice } from './speaker-explanation.js';

const names: Record<string, string> = { aria: 'Aria', kira: 'Kira', sam: 'Sam' };
const nameOf = (id: string): string => names[id] ?? id;

describe('explainSpeakerChoice', () => {
  it('names the desire of the chosen persona against the others, strongest first', () => {
    expect(explainSpeakerChoice({ personaId: 'kira', mode: 'continue', desires: { kira: 84.2, aria: 61, sam: 70 }, nameOf })).toBe(
      'Kira wants to speak most (desire 84, against Sam 70, Aria 61)',
    );
  });

  it('says when the speaker is the only candidate and is winding down', () => {
    expect(explainSpeakerChoice({ personaId: 'aria', mode: 'wind_down', desires: { aria: 40 }, nameOf })).toBe(
      'Aria is the only one who can speak now (desire 40), and is getting ready to wrap up',
    );
  });
});
