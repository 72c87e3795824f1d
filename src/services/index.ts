import type { Clock } from '../ports/clock.js';
import type { ChatService } from './chat-service.js';
import type { TurnRunner } from './turn-runner.js';
import type { ConversationService } from './conversation-service.js';
import type { PersonaService } from './persona-service.js';
import type { PersonaTarget } from './persona-target.js';
import type { SessionService } from './session-service.js';
import type { SystemService } from './system-service.js';
import type { StateServices } from './state/index.js';
import type { DatasetService } from './models/dataset-service.js';
import type { PromptTemplateService } from './models/prompt-template-service.js';
import type { GroupConversationService } from './group/group-conversation-service.js';
import type { MemoryServices } from './memory/index.js';
import type { MediaServices } from './media/index.js';
import type { AnalyticsService, EmotionService, MoodHistoryService, RelationshipService, TopicThreadService } from './social/index.js';

/** The use cases, as the RPC methods see them. Built once in the composition root, `src/app/`. */
export interface Services {
  /** The server's clock: every time a method stamps comes from it (tests inject their own). */
  clock: Clock;
  personas: PersonaService;
  /** The persona a request names, else its session's active one. */
  target: PersonaTarget;
  sessions: SessionService;
  conversations: ConversationService;
  chat: ChatService;
  /** The one turn pipeline (prompt previews, MCP prompts, other entry points that run turns). */
  turns: TurnRunner;
  system: SystemService;
  /** Relationships, emotional state, topic threads and analytics (issue 6). */
  social: { relationships: RelationshipService; emotions: EmotionService; threads: TopicThreadService; analytics: AnalyticsService; moodHistory: MoodHistoryService };
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
