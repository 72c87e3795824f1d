import type { ChatService } from './chat-service.js';
import type { ConversationService } from './conversation-service.js';
import type { PersonaService } from './persona-service.js';
import type { SessionService } from './session-service.js';
import type { SystemService } from './system-service.js';
import type { DatasetService } from './models/dataset-service.js';
import type { PromptTemplateService } from './models/prompt-template-service.js';
import type { StateServices } from './state/compose.js';
import type { GroupConversationService } from './group/group-conversation-service.js';
import type { MemoryServices } from './memory/compose.js';
import type { MediaServices } from './media/compose.js';
import type { AnalyticsService, EmotionService, RelationshipService, TopicThreadService } from './social/index.js';

/** The use cases, as the RPC methods see them. Built once in `app.ts`. */
export interface Services {
  personas: PersonaService;
  sessions: SessionService;
  conversations: ConversationService;
  chat: ChatService;
  system: SystemService;
  /** Relationships, emotional state, topic threads and analytics (issue 6). */
  social: { relationships: RelationshipService; emotions: EmotionService; threads: TopicThreadService; analytics: AnalyticsService };
  /** Group conversations between personas, run in the background. */
  groups: GroupConversationService;
  /** Long-term memory: search and edit, decay and pruning, formation (issue 5). */
  memory: MemoryServices;
  /** Export/import, backups, character cards and runtime configuration (issue 8). */
  state: StateServices;
  /** Attachments, avatars and scenes (issue 18). */
  media: MediaServices;
  /** Fine-tuning datasets from a user's own conversations (docs/backends.md). */
  datasets: DatasetService;
  /** Personas' prompt templates per task, versioned. */
  templates: PromptTemplateService;
}
