/** Reads the shipped persona definitions (`personas/*.json`) so they can be seeded into the store. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PersonaDefinition } from '../domain/persona.js';
import { parsePersonaFile } from '../domain/persona-schema.js';

/** `personas/` at the package root, from both `src/` (tsx) and `dist/` (compiled). */
export function shippedPersonasDir(): string {
  return fileURLToPath(new URL('../../personas/', import.meta.url));
}

/** Parses every `*.json` in the folder; a bad file stops start-up with its name and the bad field. */
export function loadPersonaFiles(directory: string): PersonaDefinition[] {
  return readdirSync(directory)
    .filter((name) => name.endsWith('.json'))
    .sort()
    .map((name) => {
      const file = path.join(directory, name);
      let json: unknown;
      try {
        json = JSON.parse(readFileSync(file, 'utf8'));
      } catch (error) {
        throw new Error(`${file}: not valid JSON (${(error as Error).message})`, { cause: error });
      }
      return parsePersonaFile(json, file);
    });
}
