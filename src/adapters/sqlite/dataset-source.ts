/** The SQLite side of fine-tuning datasets: a user's own one-to-one conversations with a persona. */
import type Database from 'better-sqlite3';
import type { DatasetConversation, DatasetSource } from '../../ports/dataset-source.js';

interface Row {
  conversation_id: string;
  role: 'user' | 'assistant';
  content: string;
}

export class SqliteDatasetSource implements DatasetSource {
  private readonly select: Database.Statement<[string, string | null], Row>;

  constructor(database: Database.Database) {
    // `IS` matches the anonymous local user (NULL) as well as a key's user id. Conversations whose session
    // expired (session_id NULL) have no owner any more and are never exported.
    this.select = database.prepare(`
      SELECT m.conversation_id, m.role, m.content
      FROM conversations c
      JOIN sessions s ON s.id = c.session_id
      JOIN conversation_personas cp ON cp.conversation_id = c.id AND cp.persona_id = ?
      JOIN messages m ON m.conversation_id = c.id
      WHERE c.kind = 'user' AND s.user_id IS ? AND m.role IN ('user', 'assistant')
      ORDER BY c.started_at, c.id, m.id`);
  }

  async userConversations(personaId: string, userId: string | null): Promise<DatasetConversation[]> {
    const conversations: DatasetConversation[] = [];
    for (const row of this.select.iterate(personaId, userId)) {
      let current = conversations.at(-1);
      if (current?.id !== row.conversation_id) {
        current = { id: row.conversation_id, turns: [] };
        conversations.push(current);
      }
      current.turns.push({ role: row.role, content: row.content });
    }
    return conversations;
  }
}
