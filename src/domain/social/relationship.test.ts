import { describe, expect, it } from 'vitest';
import {
  applyInteraction,
  describeRelationship,
  intimacy,
  newRelationship,
  relationshipLabel,
  relationshipStrength,
  type RelationshipState,
} from './relationship.js';

function after(qualities: number[]): RelationshipState {
  return qualities.reduce(
    (state, quality, index) => applyInteraction(state, { quality, durationMs: 60_000, now: 1_000 * (index + 1) }),
    newRelationship(),
  );
}

describe('applyInteraction', () => {
  it('moves a stranger 10% of the way to +1 after a perfect interaction', () => {
    expect(applyInteraction(newRelationship(), { quality: 1, durationMs: 60_000, now: 1000 })).toEqual({
      affinity: 0.1, // 0 + 0.1 × 1 × (1 − 0)
      trust: 0.335, // 0.3 + 0.05 × 1 × 0.7
      respect: 0.525, // 0.5 + 0.05 × 1 × 0.5
      familiarity: 0.05, // 0 + 0.05 × 1
      interactionCount: 1,
      totalInteractionMs: 60_000,
      firstMeeting: 1000,
      lastInteraction: 1000,
    });
  });

  it('loses trust faster than it gains it', () => {
    const state = applyInteraction(newRelationship(), { quality: 1, durationMs: 0, now: 1000 });
    const next = applyInteraction(state, { quality: -0.5, durationMs: 0, now: 2000 });
    expect(next.affinity).toBe(0.045); // 0.1 + 0.1 × 0.5 × (−1 − 0.1)
    expect(next.trust).toBe(0.3099); // 0.335 − 0.15 × 0.5 × 0.335
    expect(next.respect).toBe(0.5119); // 0.525 − 0.05 × 0.5 × 0.525
    expect(next.familiarity).toBe(0.0975); // 0.05 + 0.05 × 0.95
    expect(next.firstMeeting).toBe(1000);
    expect(next.lastInteraction).toBe(2000);
  });

  it('leaves affinity, trust and respect alone after a neutral interaction, but grows familiarity', () => {
    const next = applyInteraction(newRelationship(), { quality: 0, durationMs: 1000, now: 5 });
    expect(next).toMatchObject({ affinity: 0, trust: 0.3, respect: 0.5, familiarity: 0.05 });
  });

  it('clamps a quality outside −1..1', () => {
    expect(applyInteraction(newRelationship(), { quality: 7, durationMs: 0, now: 0 }).affinity).toBe(0.1);
  });

  it('familiarity after n interactions is 1 − 0.95ⁿ', () => {
    expect(after(Array(10).fill(0)).familiarity).toBe(0.4013);
  });
});

describe('relationshipLabel', () => {
  it('names relationships from the figures, first rule first', () => {
    expect(relationshipLabel({ affinity: 0.9, trust: 0.9, respect: 0.5, familiarity: 0.05 })).toBe('stranger');
    expect(relationshipLabel({ affinity: -0.5, trust: 0.3, respect: 0.5, familiarity: 0.3 })).toBe('enemy');
    expect(relationshipLabel({ affinity: -0.2, trust: 0.3, respect: 0.5, familiarity: 0.3 })).toBe('rival');
    expect(relationshipLabel({ affinity: 0.6, trust: 0.6, respect: 0.5, familiarity: 0.5 })).toBe('close_friend');
    expect(relationshipLabel({ affinity: 0.6, trust: 0.5, respect: 0.5, familiarity: 0.5 })).toBe('friend');
    expect(relationshipLabel({ affinity: 0.3, trust: 0.3, respect: 0.5, familiarity: 0.25 })).toBe('friend');
    expect(relationshipLabel({ affinity: 0.1, trust: 0.3, respect: 0.5, familiarity: 0.25 })).toBe('acquaintance');
  });

  it('makes friends of a stranger after ten warm conversations', () => {
    const state = after(Array(10).fill(0.8));
    expect(state.affinity).toBe(0.5656);
    expect(state.familiarity).toBe(0.4013);
    expect(relationshipLabel(state)).toBe('friend');
  });
});

describe('derived figures', () => {
  it('intimacy is familiarity × positive affinity, strength the mean of |affinity|, trust and familiarity', () => {
    const figures = { affinity: -0.6, trust: 0.3, respect: 0.5, familiarity: 0.3 };
    expect(intimacy(figures)).toBe(0);
    expect(relationshipStrength(figures)).toBe(0.4);
    expect(intimacy({ ...figures, affinity: 0.5 })).toBe(0.15);
  });

  it('describes the feeling in a sentence for the prompt, nothing for someone never met', () => {
    expect(describeRelationship(newRelationship(), 'Kira')).toBe('');
    expect(describeRelationship({ affinity: 0.4, trust: 0.4, respect: 0.5, familiarity: 0.4 }, 'Kira')).toBe('You consider Kira a friend.');
  });
});
