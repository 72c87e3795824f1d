/**
 * How deeply JSON from clients may nest. `JSON.parse` copes with any depth, but much else does not:
 * `JSON.stringify`, zod and structured clones recurse, and a value nested a few thousand levels deep
 * overflows the stack in them. Nothing we accept needs more than a few levels (a Character Card's
 * extensions are the deepest, at about ten), so 64 leaves ample room.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Whether `value` nests objects/arrays more than `limit` levels deep (a scalar is depth 0, `{}` and
 * `[]` depth 1). Iterative, so it is safe on any input, and it stops at the first path over the limit.
 */
export function exceedsJsonDepth(value: unknown, limit: number = MAX_JSON_DEPTH): boolean {
  if (typeof value !== 'object' || value === null) return false;
  if (limit >= 1 && isFlat(value)) return false; // most params: no allocation for them
  const stack: Array<{ value: object; depth: number }> = [{ value, depth: 1 }];
  while (stack.length > 0) {
    const { value: current, depth } = stack.pop() as { value: object; depth: number };
    if (depth > limit) return true;
    const children = Array.isArray(current) ? current : Object.values(current);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push({ value: child, depth: depth + 1 });
    }
  }
  return false;
}

/** Whether no member of an object or array is itself an object or array (depth 1). */
function isFlat(value: object): boolean {
  if (Array.isArray(value)) {
    for (const child of value) if (typeof child === 'object' && child !== null) return false;
    return true;
  }
  for (const key in value) {
    const child = (value as Record<string, unknown>)[key];
    if (typeof child === 'object' && child !== null) return false;
  }
  return true;
}
