import type { ChatService } from './chat-service.js';
import type { ConversationService } from './conversation-service.js';
import type { PersonaService } from './persona-service.js';
import type { SessionService } from './session-service.js';
import type { SystemService } from './system-service.js';

/** The use cases, as the RPC methods see them. Built once in `app.ts`. */
export interface Services {
  personas: PersonaService;
  sessions: SessionService;
  conversations: ConversationService;
  chat: ChatService;
  system: SystemService;
}
