import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { renderApiReference } from '../../src/rpc/api-reference.js';
import { buildReferenceRegistry } from '../helpers/reference-registry.js';

describe('docs/API.md', () => {
  it('matches the method registry (run `npm run docs:api` after changing a method)', async () => {
    const { registry, close } = await buildReferenceRegistry();
    try {
      const checkedIn = readFileSync(new URL('../../docs/API.md', import.meta.url), 'utf8');
      expect(checkedIn).toBe(renderApiReference(registry));
    } finally {
      await close();
    }
  });
});
