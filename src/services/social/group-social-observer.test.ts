/**
 * A group turn's relationship changes are written in their own transactions, before the reply's other
 * after-reply writes commit with the clearing of its pending record: a crash in between has the turn's
 * observers run again at the next start (`TurnRunner.recoverAfterReplies`). The turn's exchange (its reply)
 * must still count once, both between the personas and towards the person.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../../adapters/events/in-process-bus.js';
import { SqliteSocialStore } from '../../adapters/sqlite/social-store.js';
import { SqliteStore } from '../../adapters/sqlite/sqlite-store.js';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import type { ConversationRecord, MessageRecord } from '../../ports/store.js';
import { PersonaService } from '../persona-service.js';
import type { CompletedTurn } from '../turn-hooks.js';
import { EmotionService } from './emotion-service.js';
import { GroupSocialObserver } from './group-social-observer.js';
import { RelationshipService } from './relationship-service.js';
import { TopicThreadService } from './topic-thread-service.js';

const T0 = 1_700_000_000_000;
const clock = { now: () => T0 };
let store: SqliteStore;
let social: SqliteSocialStore;
let personas: PersonaService;
let observer: GroupSocialObserver;
let conversation: ConversationRecord;

beforeEach(async () => {
  store = SqliteStore.open(':memory:');
  social = new SqliteSocialStore(store.database, ':memory:');
  personas = new PersonaService(store, clock, new InProcessEventBus());
  await personas.initialise([buildPersonaDefinition({ name: 'Aria' }), buildPersonaDefinition({ name: 'Kira' })]);
  observer = new GroupSocialObserver({
    personas,
    relationships: new RelationshipService(social, clock, (id) => personas.find(id)),
    emotions: new EmotionService(social, clock),
    threads: new TopicThreadService(social, store, clock),
  });
  conversation = await store.startConversation({ sessionId: 's1', kind: 'personas', personaIds: ['aria', 'kira'], topic: null, context: null, startedAt: T0, tokenBudget: null });
});
afterEach(async () => {
  await store.close();
});

function say(role: 'user' | 'assistant', personaId: string | null, content: string, at: number): Promise<MessageRecord> {
  return store.appendMessage({ conversationId: conversation.id, role, personaId, content, tokens: 5, promptTokens: null, processingMs: null, createdAt: at });
}

/** The turn in which `speaker` answered the last of `heard`. */
function turn(speaker: string, heard: MessageRecord[], reply: MessageRecord): CompletedTurn {
  return { session: { id: 's1', userId: null }, persona: personas.resolve(speaker), conversation, userMessage: null, heard, replyMessage: reply };
}

describe('GroupSocialObserver after a crash', () => {
  it("counts a turn's exchange once when its observers run again", async () => {
    const asked = await say('user', null, 'What a lovely evening, thank you both!', T0 + 1);
    const aria = await say('assistant', 'aria', 'It is lovely, thank you for asking.', T0 + 2);
    const kira = await say('assistant', 'kira', 'Aria, I really like how you put that.', T0 + 3);
    // the turns' observers, then the same again (the start after a crash)
    for (let run = 0; run < 2; run++) {
      await observer.turnCompleted(turn('aria', [asked], aria));
      await observer.turnCompleted(turn('kira', [asked, aria], kira));
    }
    const counted = async (subjectId: string, otherKind: 'user' | 'persona', otherId: string) =>
      [(await social.getRelationship({ subjectId, otherKind, otherId }))?.interactionCount, (await social.relationshipHistory({ subjectId, otherKind, otherId }, { limit: 10 })).length];
    expect(await counted('aria', 'user', 'local')).toEqual([1, 1]);
    expect(await counted('kira', 'persona', 'aria')).toEqual([1, 1]);
    expect(await counted('aria', 'persona', 'kira')).toEqual([1, 1]);
  });
});
