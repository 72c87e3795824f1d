/**
 * Builds the social-dynamics services from the core's parts, so that the composition root (`app.ts`)
 * only adds a few lines: the services, the chat-turn hooks, and the group runner to start and stop.
 */
import type { Logger } from 'pino';
import type { Clock } from '../ports/clock.js';
import type { EventBus } from '../ports/events.js';
import type { GroupOwnership } from '../ports/group-ownership.js';
import type { MoodHistory } from '../ports/mood-history.js';
import type { SocialStore } from '../ports/social-store.js';
import type { Store } from '../ports/store.js';
import type { ConversationService } from '../services/conversation-service.js';
import { GroupConversationService, type GroupSettings } from '../services/group/group-conversation-service.js';
import type { PersonaService } from '../services/persona-service.js';
import { AnalyticsService } from '../services/social/analytics-service.js';
import { EmotionService } from '../services/social/emotion-service.js';
import { MoodHistoryService } from '../services/social/mood-history-service.js';
import { RelationshipService } from '../services/social/relationship-service.js';
import { GroupSocialObserver } from '../services/social/group-social-observer.js';
import { SocialPromptContributor, SocialTurnObserver } from '../services/social/social-turn-hooks.js';
import type { TurnRunner } from '../services/turn-runner.js';
import { TopicThreadService } from '../services/social/topic-thread-service.js';

export interface SocialParts {
  services: { relationships: RelationshipService; emotions: EmotionService; threads: TopicThreadService; analytics: AnalyticsService; moodHistory: MoodHistoryService };
  groups: GroupConversationService;
  contributor: SocialPromptContributor;
  observer: SocialTurnObserver;
  /** Relationships, moods and topic threads after each group turn. */
  groupObserver: GroupSocialObserver;
}

export function composeSocial(deps: {
  store: Store;
  socialStore: SocialStore;
  /** Where mood and energy samples are kept. */
  moodHistory: MoodHistory;
  personas: PersonaService;
  conversations: ConversationService;
  turns: TurnRunner;
  clock: Clock;
  events: EventBus;
  logger: Logger;
  groupSettings: GroupSettings;
  /** Other nodes change the same store (PostgreSQL): moods are read from it, not kept in memory. */
  sharedStore?: boolean;
  /** With several nodes: which node runs each group (compose-cluster.ts). */
  ownership?: GroupOwnership | undefined;
}): SocialParts {
  const { store, socialStore, personas, clock, logger } = deps;
  const relationships = new RelationshipService(socialStore, clock, (id) => personas.find(id), { sharedStore: deps.sharedStore === true });
  const emotions = new EmotionService(socialStore, clock, { sharedStore: deps.sharedStore === true });
  deps.events.subscribe((event) => {
    if (event.type === 'stateImported') emotions.forget();
    if (event.type === 'personaChanged' && event.change === 'deleted') emotions.forget(event.personaId);
    // an import replaces relationships; a deleted persona's go with it (cascade)
    if (event.type === 'stateImported' || (event.type === 'personaChanged' && event.change === 'deleted')) relationships.forget();
  });
  const moodHistory = new MoodHistoryService({ history: deps.moodHistory, personas, emotions, clock, logger: logger.child({ component: 'mood-history' }), sharedStore: deps.sharedStore === true });
  moodHistory.listen(deps.events);
  const threads = new TopicThreadService(socialStore, store, clock, { sharedStore: deps.sharedStore === true });
  threads.listen(deps.events, (error) => logger.warn({ err: error }, 'could not file a message in a topic thread'));
  const analytics = new AnalyticsService(store, socialStore, relationships, async (conversationId) => {
    await Promise.all([emotions.settled(), conversationId === null ? undefined : threads.settled(conversationId)]);
  });
  const groups = new GroupConversationService({
    store,
    social: socialStore,
    personas,
    conversations: deps.conversations,
    relationships,
    emotions,
    threads,
    turnRunner: deps.turns,
    clock,
    events: deps.events,
    logger: logger.child({ component: 'groups' }),
    settings: deps.groupSettings,
    ...(deps.ownership === undefined ? {} : { ownership: deps.ownership }),
  });
  const hookDeps = { personas, relationships, emotions, threads, logger: logger.child({ component: 'social' }) };
  return {
    services: { relationships, emotions, threads, analytics, moodHistory },
    groups,
    contributor: new SocialPromptContributor(hookDeps),
    observer: new SocialTurnObserver(hookDeps),
    groupObserver: new GroupSocialObserver({ personas, relationships, emotions, threads }),
  };
}
