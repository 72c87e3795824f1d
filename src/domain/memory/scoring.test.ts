import { describe, expect, it } from 'vitest';
import { decayDue, decayedImportance, DEFAULT_DECAY_POLICY } from './decay.js';
import { convexFusion, reciprocalRankFusion, SEMANTIC_BASELINE, semanticRelevance, unionFusion } from './fusion.js';
import { recency, retrievalScore, salienceScore, MS_PER_HOUR } from './scoring.js';

const DAY = 24 * MS_PER_HOUR;
const T0 = Date.UTC(2026, 0, 1);

describe('recency', () => {
  it('is 0.995 per hour since the last access, as in Generative Agents', () => {
    expect(recency(T0, T0)).toBe(1);
    expect(recency(T0, T0 + MS_PER_HOUR)).toBeCloseTo(0.995, 12);
    expect(recency(T0, T0 + DAY)).toBeCloseTo(0.8866535105, 9);
    expect(recency(T0, T0 + 7 * DAY)).toBeCloseTo(0.4308018556, 9);
    expect(recency(T0, T0 + 30 * DAY)).toBeCloseTo(0.0270780968, 9);
  });

  it('treats an access in the future as now', () => {
    expect(recency(T0 + DAY, T0)).toBe(1);
  });
});

describe('retrievalScore', () => {
  it('is relevance times 0.75 + 0.15 importance + 0.10 recency by default', () => {
    expect(retrievalScore({ relevance: 0.5, importance: 0.8, recency: 1 })).toBeCloseTo(0.5 * (0.75 + 0.12 + 0.1), 12);
    expect(retrievalScore({ relevance: 0, importance: 1, recency: 1 })).toBe(0);
  });

  it('never lets importance and recency lift a clearly less relevant memory above a relevant one', () => {
    // The case: a reinforced sister fact (no relevance, importance 0.99) against the sardines fact.
    const sardines = retrievalScore({ relevance: 0.64, importance: 0.1, recency: 0.2 });
    const sister = retrievalScore({ relevance: 0.05, importance: 0.99, recency: 1 });
    expect(sardines).toBeGreaterThan(sister);
    // Importance and recency can at most make up a relevance ratio of 1 / 0.75.
    expect(retrievalScore({ relevance: 0.5, importance: 0, recency: 0 })).toBeGreaterThan(retrievalScore({ relevance: 0.37, importance: 1, recency: 1 }));
    // ...and they do break near ties.
    expect(retrievalScore({ relevance: 0.5, importance: 0.9, recency: 1 })).toBeGreaterThan(retrievalScore({ relevance: 0.52, importance: 0.1, recency: 0.1 }));
  });

  it('weights each term and clamps it to 0..1 first', () => {
    expect(retrievalScore({ relevance: 1.7, importance: -1, recency: 0.5 }, { relevance: 2, importance: 1, recency: 1 })).toBe(0.625);
  });

  it('ranks by importance and recency alone without a query', () => {
    expect(salienceScore({ importance: 1, recency: 0 })).toBeCloseTo(0.6, 12);
    expect(salienceScore({ importance: 0, recency: 1 })).toBeCloseTo(0.4, 12);
  });
});

describe('reciprocalRankFusion', () => {
  it('gives 1 to an item first in both lists and normalises the rest by that best sum', () => {
    const fused = reciprocalRankFusion([
      [10, 20],
      [10, 30],
    ]);
    expect(fused.get(10)).toBe(1);
    // 1/(60+2) over the best sum 2/(60+1)
    expect(fused.get(20)).toBeCloseTo(0.4919354839, 9);
    expect(fused.get(30)).toBeCloseTo(0.4919354839, 9);
  });

  it('ranks an item found by both retrievers above one found by a single retriever', () => {
    const fused = reciprocalRankFusion([
      [1, 2],
      [2, 3],
    ]);
    // 2: 1/62 + 1/61 = 0.99194 of best; 1: 1/61 only = 0.5
    expect(fused.get(2)).toBeCloseTo(0.9919354839, 9);
    expect(fused.get(1)).toBeCloseTo(0.5, 12);
  });

  it('ignores empty lists (a retriever that found nothing does not halve the rest)', () => {
    expect(reciprocalRankFusion([[7], []]).get(7)).toBe(1);
    expect(reciprocalRankFusion([]).size).toBe(0);
  });
});

describe('importance decay', () => {
  it('halves importance every half-life (30 days by default)', () => {
    expect(decayedImportance(0.8, 30 * DAY)).toBeCloseTo(0.4, 12);
    expect(decayedImportance(0.8, 15 * DAY)).toBeCloseTo(0.5656854249, 9);
    expect(decayedImportance(0.8, 0)).toBe(0.8);
  });

  it('stops at the floor but never raises a memory already below it', () => {
    expect(decayedImportance(0.8, 3650 * DAY)).toBe(DEFAULT_DECAY_POLICY.floor);
    expect(decayedImportance(0.005, 3650 * DAY)).toBe(0.005);
  });

  it('counts from the later of the last decay run and the last access', () => {
    const memory = { importance: 0.8, decayedAt: T0, lastAccessedAt: T0 + 15 * DAY };
    expect(decayDue(memory, T0 + 45 * DAY)).toBeCloseTo(0.4, 12);
  });
});

describe('convexFusion', () => {
  it('averages the absolute lexical relevance and the cosine above chance', () => {
    const fused = convexFusion(
      [
        { id: 1, relevance: 1 },
        { id: 2, relevance: 0.25 },
      ],
      [
        [
          { id: 1, similarity: 0.66 },
          { id: 3, similarity: -0.2 },
        ],
        [{ id: 1, similarity: 0.9 }],
      ],
    );
    expect(fused.get(1)).toBeCloseTo(0.5 * 1 + 0.5 * semanticRelevance(0.66), 12); // first list that has it wins
    expect(fused.get(2)).toBeCloseTo(0.5 * 0.25, 12);
    expect(fused.get(3)).toBe(0);
  });
});

describe('unionFusion', () => {
  it('keeps either evidence whole and adds the other as a probabilistic OR', () => {
    const fused = unionFusion([{ id: 1, relevance: 0.4 }, { id: 2, relevance: 0.5 }], [[{ id: 1, similarity: SEMANTIC_BASELINE + (1 - SEMANTIC_BASELINE) * 0.5 }]]);
    expect(fused.relevanceOf(1)).toBeCloseTo(1 - 0.6 * 0.5, 12);
    expect(fused.relevanceOf(2)).toBeCloseTo(0.5, 12); // a paraphrase found through WordNet only is not halved
  });

  it('fuses the literal relevance (direct) with the same vector evidence, the first list that has a memory winning', () => {
    const fused = unionFusion(
      [
        { id: 1, relevance: 0.4, literal: 0.2 },
        { id: 2, relevance: 1.5 },
        { id: 3 },
      ],
      [
        [{ id: 4, similarity: SEMANTIC_BASELINE + (1 - SEMANTIC_BASELINE) * 0.5 }],
        [
          { id: 1, similarity: SEMANTIC_BASELINE + (1 - SEMANTIC_BASELINE) * 0.5 },
          { id: 4, similarity: 1 },
        ],
      ],
    );
    expect(fused.ids).toEqual([1, 2, 3, 4]); // the lexical hits in their order, then the vectors' own
    expect([...fused.relevance.subarray(0, fused.size)]).toEqual([1 - 0.6 * 0.5, 1, 0, 1 - (1 - 0.5)]);
    expect([...fused.direct.subarray(0, fused.size)]).toEqual([1 - 0.8 * 0.5, 1, 0, 1 - (1 - 0.5)]);
    expect(fused.directOf(9)).toBe(0);
  });

  it('treats cosine at or below the chance level as no evidence', () => {
    expect(semanticRelevance(0.1)).toBe(0);
    expect(semanticRelevance(1)).toBe(1);
    expect(unionFusion([], [[{ id: 7, similarity: SEMANTIC_BASELINE }]]).relevanceOf(7)).toBe(0);
  });
});
