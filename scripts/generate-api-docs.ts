/** Writes docs/API.md from the method registry (`npm run docs:api`). */
import { writeFileSync } from 'node:fs';
import { buildReferenceRegistry } from '../test/helpers/reference-registry.js';
import { renderApiReference } from '../src/rpc/api-reference.js';

const { registry, close } = await buildReferenceRegistry();
try {
  writeFileSync(new URL('../docs/API.md', import.meta.url), renderApiReference(registry));
  process.stdout.write(`docs/API.md: ${registry.size} methods\n`);
} finally {
  await close();
}
