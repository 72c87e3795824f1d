import { describe, expect, it } from 'vitest';
import { recollection, stripSpeakerPrefix, transcriptFor, witnessed, type TranscriptMessage } from './group-transcript.js';

const messages: TranscriptMessage[] = [
  { id: 1, role: 'assistant', personaId: 'aria', content: 'Hello all!' },
  { id: 2, role: 'assistant', personaId: 'kira', content: 'Greetings.' },
  { id: 3, role: 'user', personaId: null, content: 'Hi both' },
  { id: 4, role: 'assistant', personaId: 'aria', content: 'Welcome!' },
];
const names: Record<string, string> = { aria: 'Aria', kira: 'Kira' };

describe('witnessed', () => {
  it('keeps only what was said while the persona was present', () => {
    expect(witnessed(messages, { joinedAfter: 2, leftAfter: null }).map((m) => m.id)).toEqual([3, 4]);
    expect(witnessed(messages, { joinedAfter: 0, leftAfter: 2 }).map((m) => m.id)).toEqual([1, 2]);
  });
});

describe('transcriptFor', () => {
  it("shows the persona's own lines as its own and everyone else's with their names", () => {
    expect(transcriptFor('kira', messages, (id) => names[id]!, 'start')).toEqual([
      { role: 'user', content: 'Aria: Hello all!' },
      { role: 'assistant', content: 'Greetings.' },
      { role: 'user', content: 'The visitor: Hi both' },
      { role: 'user', content: 'Aria: Welcome!' },
    ]);
  });

  it('opens with the given line when nothing was witnessed, and asks for a turn after its own line', () => {
    expect(transcriptFor('aria', [], (id) => id, '(begin)')).toEqual([{ role: 'user', content: '(begin)' }]);
    expect(transcriptFor('aria', messages.slice(0, 1), (id) => id, 'x').at(-1)).toEqual({
      role: 'user',
      content: '(It is your turn to speak again.)',
    });
  });
});

describe('stripSpeakerPrefix', () => {
  it('removes a "Name:" the model wrote in front of its line', () => {
    expect(stripSpeakerPrefix('Kira: Indeed.', 'Kira')).toBe('Indeed.');
    expect(stripSpeakerPrefix('**Kira**: Indeed.', 'Kira')).toBe('Indeed.');
    expect(stripSpeakerPrefix('Indeed, Kira: yes.', 'Kira')).toBe('Indeed, Kira: yes.');
  });
});

describe('recollection', () => {
  it("is the persona's own account of what it witnessed", () => {
    expect(recollection('kira', messages, (id) => names[id]!, 'maps')).toBe(
      'A group conversation about maps with Aria, the visitor.\nAria: Hello all!\nI: Greetings.\nThe visitor: Hi both\nAria: Welcome!',
    );
    expect(recollection('kira', [], (id) => id, null)).toBeNull();
  });

  it('keeps the latest lines when the conversation was long', () => {
    const long = Array.from({ length: 40 }, (_, index) => ({
      id: index + 1,
      role: 'assistant' as const,
      personaId: 'aria',
      content: `line number ${index + 1} of a long story`,
    }));
    const text = recollection('kira', long, (id) => names[id]!, null)!;
    expect(text.length).toBeLessThanOrEqual(800);
    expect(text.split('\n')[1]).toBe('…');
    expect(text.endsWith('Aria: line number 40 of a long story')).toBe(true);
  });
});
