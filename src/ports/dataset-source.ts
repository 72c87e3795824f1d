/** Reads conversations for fine-tuning datasets, already filtered by who may see them. */
import type { DatasetTurn } from '../domain/fine-tune-dataset.js';

export interface DatasetConversation {
  id: string;
  turns: DatasetTurn[];
}

export interface DatasetSource {
  /**
   * The one-to-one conversations (`kind` user, never groups) between `personaId` and sessions owned by
   * `userId` (null: the anonymous local user), oldest first, with their user and assistant messages.
   */
  userConversations(personaId: string, userId: string | null): Promise<DatasetConversation[]>;
}
