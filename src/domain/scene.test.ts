import { describe, expect, it } from 'vitest';
import { describeScene, isEmptyScene, type Scene } from './scene.js';

const empty: Scene = { location: null, timeOfDay: null, weather: null, present: [], description: null };

describe('describeScene', () => {
  it('says nothing of an empty scene', () => {
    expect(isEmptyScene(empty)).toBe(true);
    expect(describeScene(empty)).toBe('');
  });

  it('puts place, time, weather, who is present and the description in one paragraph', () => {
    const text = describeScene({
      location: 'the Silver Stag tavern',
      timeOfDay: 'late evening',
      weather: 'rain on the windows',
      present: ['Aria', 'Kira', 'an old sailor'],
      description: 'The fire is low',
    });
    expect(text).toBe(
      'the Silver Stag tavern, late evening; the weather: rain on the windows. Present: Aria, Kira and an old sailor. The fire is low.',
    );
  });

  it('works with only some fields', () => {
    expect(describeScene({ ...empty, weather: 'a storm' })).toBe('The weather: a storm.');
    expect(describeScene({ ...empty, description: 'A quiet library!' })).toBe('A quiet library!');
  });
});
