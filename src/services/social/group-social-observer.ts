/**
 * What a group turn changes between the personas, as a turn observer of group conversations: the
 * relationship between the speaker and the one it answered (both ways, or towards the user), both
 * moods, and (waited for) the reply's topic thread. The group runner waits for it before choosing the next speaker.
 */
import { exchangeQuality } from '../../domain/social/sentiment.js';
import type { ConversationKind } from '../../ports/store.js';
import type { PersonaService } from '../persona-service.js';
import type { CompletedTurn, TurnObserver } from '../turn-hooks.js';
import type { EmotionService } from './emotion-service.js';
import { userIdOf, type RelationshipService } from './relationship-service.js';
import type { TopicThreadService } from './topic-thread-service.js';

export class GroupSocialObserver implements TurnObserver {
  readonly name = 'group-social';
  readonly conversationKinds: readonly ConversationKind[] = ['personas'];

  constructor(
    private readonly deps: {
      personas: PersonaService;
      relationships: RelationshipService;
      emotions: EmotionService;
      threads: TopicThreadService;
    },
  ) {}

  async turnCompleted(turn: CompletedTurn): Promise<void> {
    const { persona: speaker, conversation, heard, replyMessage: reply } = turn;
    const answered = [...heard].reverse().find((message) => !(message.role === 'assistant' && message.personaId === speaker.id));
    const common = {
      durationMs: answered === undefined ? 0 : Math.max(0, reply.createdAt - answered.createdAt),
      source: 'group' as const,
      conversationId: conversation.id,
      context: null,
      now: reply.createdAt,
      // The turn's exchange counts once: its after-reply steps done again after a crash change nothing.
      messageId: reply.id,
    };
    // Both moods' reactions asked at once, so that both join the reply's after-reply batch, which clears its
    // pending record: a reaction asked once the other had committed came after that clearing (a kill -9
    // in between lost it, with nothing left to redo it).
    const reactions: Promise<unknown>[] = [];
    if (answered?.role === 'assistant' && answered.personaId !== null) {
      const other = this.deps.personas.find(answered.personaId);
      if (other !== null) {
        await this.deps.relationships.recordMutual(
          speaker.id,
          other.id,
          {
            firstTowardsSecond: exchangeQuality(answered.content, reply.content),
            secondTowardsFirst: exchangeQuality(reply.content, answered.content),
          },
          common,
        );
        reactions.push(
          this.deps.emotions.react(other, {
            heard: reply.content,
            cause: 'group',
            conversationId: conversation.id,
          }),
        );
      }
    } else if (answered?.role === 'user') {
      await this.deps.relationships.recordInteraction({
        ...common,
        subjectId: speaker.id,
        otherKind: 'user',
        otherId: userIdOf(turn.session),
        quality: exchangeQuality(answered.content, reply.content),
      });
    }
    if (answered !== undefined) {
      reactions.push(
        this.deps.emotions.react(speaker, {
          heard: answered.content,
          cause: 'group',
          conversationId: conversation.id,
        }),
      );
    }
    await Promise.all(reactions);
    // The reply is filed in its topic thread as it is stored (TopicThreadService.listen); the next speaker waits for it.
    await this.deps.threads.settled(conversation.id);
  }
}
