/**
 * `npx tsx bench/retention-cap.ts [messages] [conversations]`: what the retention sweep's per-conversation
 * cap (`retention.maxMessagesPerConversation`, 10,000 by default) costs the event loop on a large store
 * with nothing to delete — the sweep runs 5 s after start and then hourly, synchronously. The real
 * `SqliteStore.applyRetention` (its two-step query) against the window-function statement it replaced
 * (every stored message ranked), alternately on the same file, CPU time of each, three rounds.
 */
import BetterSqlite3 from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SqliteStore } from '../src/adapters/sqlite/sqlite-store.js';

const messages = Number(process.argv[2] ?? 200_000);
const conversations = Number(process.argv[3] ?? 200);
const CAP = 10_000;
const WINDOW_STATEMENT = `DELETE FROM messages WHERE id IN (
  SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY conversation_id ORDER BY id DESC) AS newer_than FROM messages)
  WHERE newer_than > ?)`;

const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-retention-'));
const file = path.join(dir, 'persona-mcp.db');
const cpuMs = (): number => {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1000;
};

try {
  const store = SqliteStore.open(file);
  const raw = new BetterSqlite3(file);
  raw.pragma('foreign_keys = ON');
  const conversation = raw.prepare("INSERT INTO conversations (id, kind, status, started_at) VALUES (?, 'user', 'active', 0)");
  const message = raw.prepare("INSERT INTO messages (conversation_id, role, content, created_at) VALUES (?, 'user', ?, ?)");
  raw.transaction(() => {
    for (let index = 0; index < conversations; index++) conversation.run(`conv-${index}`);
    for (let index = 0; index < messages; index++) message.run(`conv-${index % conversations}`, 'a stored message of a few words '.repeat(6), index);
  })();
  const windowed = raw.prepare(WINDOW_STATEMENT);
  const policy = { sessionIdleMs: 0, messageMaxAgeMs: 0, maxMessagesPerConversation: CAP };
  const rows: string[] = [];
  for (let round = 1; round <= 3; round++) {
    let started = cpuMs();
    raw.transaction(() => windowed.run(CAP))();
    const before = cpuMs() - started;
    started = cpuMs();
    const result = await store.applyRetention(policy, Date.now());
    const now = cpuMs() - started;
    if (result.messagesRemoved !== 0) throw new Error(`expected nothing over the cap, removed ${result.messagesRemoved}`);
    rows.push(`round ${round}: window function ${before.toFixed(0)} ms CPU, applyRetention ${now.toFixed(0)} ms CPU`);
  }
  process.stdout.write(
    `${messages.toLocaleString('en')} messages in ${conversations.toLocaleString('en')} conversations, cap ${CAP.toLocaleString('en')} (nothing to delete)\n` +
      `${rows.join('\n')}\nload average ${os.loadavg().map((value) => value.toFixed(2)).join(' ')}\n`,
  );
  raw.close();
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
