/**
 * Writes the fixtures of the state tests (issue 8):
 *
 * - `test/fixtures/cards/*.png`: the JSON sample cards embedded in small PNGs — V2 in a `chara` tEXt
 *   chunk, V3 in `ccv3` (plus a `chara` V2 copy, as the V3 spec asks).
 * - `test/fixtures/db/schema-vN.db`: a small database made by schema version N (the migrations up to
 *   N) with sample rows, for the upgrade test. Once a version has shipped, keep its file: it stands for
 *   the databases users have. `--version N` (repeatable) chooses versions; by default those not yet there.
 *
 *   npx tsx scripts/make-state-fixtures.ts [--version 1] [--force]
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import BetterSqlite3 from 'better-sqlite3';
import { placeholderImage, writeCardTexts } from '../src/adapters/cards/png.js';
import { MIGRATIONS } from '../src/adapters/sqlite/migrations.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cards = path.join(root, 'test/fixtures/cards');
const databases = path.join(root, 'test/fixtures/db');
const args = process.argv.slice(2);
const force = args.includes('--force');
const versions = args.flatMap((arg, index) => (arg === '--version' ? [Number(args[index + 1])] : []));

function writeCards(): void {
  const v2 = readFileSync(path.join(cards, 'seraphina-v2.json'), 'utf8');
  writeFileSync(path.join(cards, 'seraphina-v2.png'), writeCardTexts(placeholderImage('seraphina', 16), { chara: JSON.stringify(JSON.parse(v2)) }));
  const v3 = JSON.parse(readFileSync(path.join(cards, 'captain-v3.json'), 'utf8')) as { data: Record<string, unknown> };
  const v2Copy = { spec: 'chara_card_v2', spec_version: '2.0', data: v3.data };
  writeFileSync(path.join(cards, 'captain-v3.png'), writeCardTexts(placeholderImage('captain', 16), { chara: JSON.stringify(v2Copy), ccv3: JSON.stringify(v3) }));
}

/** Sample rows for the tables of migration 0001 (the only ones every version has). */
const SAMPLE_ROWS = /* sql */ `
INSERT INTO personas (id, name, definition, is_builtin, created_at, updated_at) VALUES
  ('tobias', 'Tobias', json('{"id":"tobias","name":"Tobias","description":"A retired knight who tends bees.","backstory":"","personalityTraits":{"gruff":70},"speakingStyle":"","topicPreferences":{"bees":95},"exampleLines":[],"attributes":{"charisma":10,"intelligence":10},"socialRank":"commoner","defaultPriority":"social","socialEnergy":{"maxEnergy":100,"availableTime":450,"costPerTurn":5,"recoveryPerMinute":2},"model":null,"modelOptions":{},"systemPromptTemplate":"","avatar":null}'), 0, 1767225600000, 1767225600000);
INSERT INTO persona_seeds (id, seeded_at) VALUES ('aria', 1767225600000), ('kira', 1767225600000);
INSERT INTO persona_state (persona_id, energy, fatigue, updated_at, cooldown_until) VALUES ('tobias', 90.5, 0.25, 1767225660000, NULL);
INSERT INTO sessions (id, user_id, active_persona_id, created_at, last_seen_at) VALUES ('ses_fixture_0001', NULL, 'tobias', 1767225600000, 1767225660000);
INSERT INTO conversations (id, session_id, kind, topic, context, status, started_at, ended_at, end_reason, token_budget)
  VALUES ('conv_fixture00000001', 'ses_fixture_0001', 'user', NULL, NULL, 'active', 1767225600000, NULL, NULL, NULL);
INSERT INTO conversation_personas (conversation_id, persona_id, position) VALUES ('conv_fixture00000001', 'tobias', 0);
INSERT INTO messages (conversation_id, role, persona_id, content, tokens, prompt_tokens, processing_ms, created_at) VALUES
  ('conv_fixture00000001', 'user', NULL, 'How are the bees this spring?', 8, NULL, NULL, 1767225600000),
  ('conv_fixture00000001', 'assistant', 'tobias', 'Busy, and so am I.', 6, 120, 900, 1767225660000);
`;

function writeDatabase(version: number): void {
  const file = path.join(databases, `schema-v${version}.db`);
  if (existsSync(file) && !force) {
    console.log(`kept ${path.relative(root, file)}`);
    return;
  }
  rmSync(file, { force: true });
  const db = new BetterSqlite3(file);
  // Small pages keep the committed file small (one page per table and index).
  db.pragma('page_size = 1024');
  db.pragma('journal_mode = DELETE');
  db.exec('CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)');
  for (const migration of [...MIGRATIONS].sort((a, b) => a.version - b.version)) {
    if (migration.version > version) continue;
    db.exec(migration.sql);
    db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(migration.version, migration.name, 1767225600000);
  }
  db.exec(SAMPLE_ROWS);
  db.exec('VACUUM');
  db.close();
  console.log(`wrote ${path.relative(root, file)}`);
}

writeCards();
for (const version of versions.length > 0 ? versions : [1]) writeDatabase(version);
