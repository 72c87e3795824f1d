import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exceedsJsonDepth } from './json-depth.js';

function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let level = 0; level < depth; level += 1) value = level % 2 === 0 ? { a: value } : [value];
  return value;
}

describe('exceedsJsonDepth', () => {
  it('counts containers, not scalars', () => {
    expect(exceedsJsonDepth('text', 0)).toBe(false);
    expect(exceedsJsonDepth({}, 0)).toBe(true);
    expect(exceedsJsonDepth({ a: [1] }, 2)).toBe(false);
    expect(exceedsJsonDepth({ a: [[1]] }, 2)).toBe(true);
  });

  it('handles 100,000 levels without recursion', () => {
    expect(exceedsJsonDepth(nested(100_000))).toBe(true);
  });

  it('is true exactly when the depth is over the limit (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 200 }), fc.integer({ min: 0, max: 200 }), (depth, limit) => {
        expect(exceedsJsonDepth(nested(depth), limit)).toBe(depth > limit);
      }),
    );
  });
});
