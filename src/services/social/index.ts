/** Social dynamics: relationships, emotional state, topic threads, analytics and the chat-turn hooks. */
export { AnalyticsService } from './analytics-service.js';
export { EmotionService } from './emotion-service.js';
export { MoodHistoryService, type MoodHistoryPolicy } from './mood-history-service.js';
export { LOCAL_USER_ID, RelationshipService, userIdOf } from './relationship-service.js';
export { SocialPromptContributor, SocialTurnObserver } from './social-turn-hooks.js';
export { TopicThreadService } from './topic-thread-service.js';
