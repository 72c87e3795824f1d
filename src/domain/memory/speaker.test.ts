import { describe, expect, it } from 'vitest';
import { directFloorFor, IMPERSONAL_RELEVANCE_FLOOR, isAboutTheSpeaker, recallFloorFor } from './speaker.js';

describe('isAboutTheSpeaker', () => {
  it('says yes when the writer speaks of themselves', () => {
    for (const message of ['Which country did I come from?', "What is my sibling's job?", 'Which seafood makes me sick?', "I'm tired today", 'Where do we live?', 'Can you remind me where I grew up?'])
      expect(isAboutTheSpeaker(message), message).toBe(true);
  });

  it('says no for questions about the world and for requests whose "me" is only the receiver', () => {
    for (const message of ['What is the capital of Australia?', 'Tell me a joke about penguins.', 'Please show me the way to the harbour', 'Can you explain how photosynthesis works?', 'Sing us a song'])
      expect(isAboutTheSpeaker(message), message).toBe(false);
  });
});

describe('recallFloorFor', () => {
  it('keeps the floor for a message about the speaker and raises it for others', () => {
    expect(recallFloorFor('Which city is my home?', 0.12)).toBe(0.12);
    expect(recallFloorFor('Which city is the largest?', 0.12)).toBe(IMPERSONAL_RELEVANCE_FLOOR);
    expect(recallFloorFor('Which city is the largest?', 0.9)).toBe(0.9);
  });

  it('asks direct evidence (own words, vectors; no thesaurus terms) of a message about the world only', () => {
    expect(directFloorFor('Which city is my home?')).toBe(0);
    expect(directFloorFor('What time is sunset in winter?')).toBe(IMPERSONAL_RELEVANCE_FLOOR);
  });
});
