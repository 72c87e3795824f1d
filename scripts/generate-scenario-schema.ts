/** Writes scenarios/scenario.schema.json from the zod schema (`npm run docs:scenario-schema`); a test fails when it drifts. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { scenarioJsonSchema } from '../src/simulation/scenario/schema.js';

const file = path.resolve(import.meta.dirname, '..', 'scenarios', 'scenario.schema.json');
writeFileSync(file, `${JSON.stringify(scenarioJsonSchema(), null, 2)}\n`);
process.stdout.write(`wrote ${file}\n`);
