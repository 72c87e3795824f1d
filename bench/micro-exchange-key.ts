/**
 * `npx tsx bench/micro-exchange-key.ts [interactions]`: CPU µs per relationship interaction recorded through
 * the SQLite social store (a file in a temp dir, WAL), keyed by its exchange (`messageId`, a stored message: the lookup of
 * `relationship_events_exchange`, the message's, and the index entry, migration 0051) and without a key (`relationship.update`),
 * alternating in blocks of 500 so the machine's load moves both alike.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteSocialStore } from '../src/adapters/sqlite/social-store.js';
import { SqliteStore } from '../src/adapters/sqlite/sqlite-store.js';
import { buildPersonaDefinition } from '../src/domain/persona-schema.js';
import { applyInteraction, newRelationship } from '../src/domain/social/relationship.js';
import type { RelationshipRecord } from '../src/ports/social-store.js';

const total = Number(process.argv[2] ?? 20_000);
const BLOCK = 500;
const dir = mkdtempSync(path.join(os.tmpdir(), 'micro-exchange-key-'));
const store = SqliteStore.open(path.join(dir, 'persona-mcp.db'));
const social = new SqliteSocialStore(store.database);
await store.insertPersona(buildPersonaDefinition({ name: 'Aria' }), 1);
const key = { subjectId: 'aria', otherKind: 'user' as const, otherId: 'local' };
const change = { key, apply: (stored: RelationshipRecord | null) => ({ ...key, ...applyInteraction(stored ?? { ...key, ...newRelationship() }, { quality: 0.5, durationMs: 1_000, now: 2 }) }) };
// The keyed interactions' messages (a key names a stored message: a foreign key).
const conversation = await store.startConversation({ sessionId: 's1', kind: 'user', personaIds: ['aria'], topic: null, context: null, startedAt: 1, tokenBudget: null });
const messageIds: number[] = [];
for (let i = 0; i < total / 2; i++) {
  messageIds.push((await store.appendMessage({ conversationId: conversation.id, role: 'user', personaId: null, content: 'Thanks!', tokens: 1, promptTokens: null, processingMs: null, createdAt: 1 })).id);
}
const spent = { keyed: 0, unkeyed: 0 };
let keyed = 0;
for (let done = 0; done < total; done += 2 * BLOCK) {
  for (const kind of done % (4 * BLOCK) === 0 ? (['keyed', 'unkeyed'] as const) : (['unkeyed', 'keyed'] as const)) {
    const started = process.cpuUsage();
    for (let i = 0; i < BLOCK; i++) {
      const event = { quality: 0.5, source: 'chat' as const, conversationId: 'c1', context: null };
      await social.recordInteraction(change, kind === 'keyed' ? { ...event, messageId: messageIds[keyed++]! } : event);
    }
    const used = process.cpuUsage(started);
    spent[kind] += used.user + used.system;
  }
}
const half = total / 2;
process.stdout.write(`${total} interactions: CPU µs each keyed ${(spent.keyed / half).toFixed(1)}, without a key ${(spent.unkeyed / half).toFixed(1)}\n`);
await store.close();
rmSync(dir, { recursive: true, force: true });
