/**
 * Builds the social-dynamics services from the core's parts, so that the composition root (`app.ts`)
 * only adds a few lines: the services, the chat-turn hooks, and the group runner to start and stop.
 */
import type { Logger } from 'pino';
import type { Clock } from '../../ports/clock.js';
import type { EventBus } from '../../ports/events.js';
import type { LlmProvider } from '../../ports/llm.js';
import type { SocialStore } from '../../ports/social-store.js';
import type { Store } from '../../ports/store.js';
import type { ConversationService } from '../conversation-service.js';
import { GroupConversationService, type GroupSettings } from '../group/group-conversation-service.js';
import type { PersonaService } from '../persona-service.js';
import { AnalyticsService } from './analytics-service.js';
import { EmotionService } from './emotion-service.js';
import { RelationshipService } from './relationship-service.js';
import { SocialPromptContributor, SocialTurnObserver } from './social-turn-hooks.js';
import { TopicThreadService } from './topic-thread-service.js';

export interface SocialParts {
  services: { relationships: RelationshipService; emotions: EmotionService; threads: TopicThreadService; analytics: AnalyticsService };
  groups: GroupConversationService;
  contributor: SocialPromptContributor;
  observer: SocialTurnObserver;
}

export function composeSocial(deps: {
  store: Store;
  socialStore: SocialStore;
  personas: PersonaService;
  conversations: ConversationService;
  llm: LlmProvider;
  clock: Clock;
  events: EventBus;
  logger: Logger;
  groupSettings: GroupSettings;
}): SocialParts {
  const { store, socialStore, personas, clock, logger } = deps;
  const relationships = new RelationshipService(socialStore, clock, (id) => personas.list().find((persona) => persona.id === id) ?? null);
  const emotions = new EmotionService(socialStore, clock);
  deps.events.subscribe((event) => {
    if (event.type === 'stateImported') emotions.forget();
    if (event.type === 'personaChanged' && event.change === 'deleted') emotions.forget(event.personaId);
  });
  const threads = new TopicThreadService(socialStore, store, clock);
  threads.listen(deps.events, (error) => logger.warn({ err: error }, 'could not file a message in a topic thread'));
  const analytics = new AnalyticsService(store, socialStore, relationships);
  const groups = new GroupConversationService({
    store,
    social: socialStore,
    personas,
    conversations: deps.conversations,
    relationships,
    emotions,
    threads,
    llm: deps.llm,
    clock,
    events: deps.events,
    logger: logger.child({ component: 'groups' }),
    settings: deps.groupSettings,
  });
  const hookDeps = { personas, relationships, emotions, threads, logger: logger.child({ component: 'social' }) };
  return {
    services: { relationships, emotions, threads, analytics },
    groups,
    contributor: new SocialPromptContributor(hookDeps),
    observer: new SocialTurnObserver(hookDeps),
  };
}
