/**
 * One turn of a group conversation: choosing the speaker (continue scores + `chooseSpeaker`) and
 * generating its reply from the transcript it witnessed, then the social updates that follow. The
 * lifecycle around it (start, run, pause, resume, end) is `group-conversation-service.ts`.
 */
import { energyShare } from '../../domain/social-energy.js';
import type { Logger } from 'pino';
import { buildContextWindow } from '../../domain/context-window.js';
import { continueScore, ENGAGEMENT_WINDOW } from '../../domain/continue-score.js';
import { AppError } from '../../domain/errors.js';
import { buildSystemPrompt, describeEnergy } from '../../domain/prompt.js';
import { stripSpeakerPrefix, transcriptFor, witnessed, USER_SPEAKER_NAME } from '../../domain/social/group-transcript.js';
import { describeMood } from '../../domain/social/mood.js';
import { describeRelationship } from '../../domain/social/relationship.js';
import { exchangeQuality, sentiment } from '../../domain/social/sentiment.js';
import { chooseSpeaker, mentions, type SpeakerCandidate, type SpeakerChoice } from '../../domain/social/speaker-selection.js';
import { estimateTokens } from '../../domain/tokens.js';
import type { Clock } from '../../ports/clock.js';
import type { EventBus } from '../../ports/events.js';
import type { LlmProvider } from '../../ports/llm.js';
import type { GroupMemberRecord } from '../../ports/social-store.js';
import type { ConversationRecord, MessageRecord, PersonaRecord, Store } from '../../ports/store.js';
import type { PersonaService } from '../persona-service.js';
import type { EmotionService } from '../social/emotion-service.js';
import type { RelationshipService } from '../social/relationship-service.js';
import { CLOSING_INSTRUCTIONS } from '../social/social-turn-hooks.js';
import type { TopicThreadService } from '../social/topic-thread-service.js';

export interface GroupTurnSettings {
  /** Reply cap per group turn when the conversation names none. */
  tokenBudget: number;
  defaultModel: string;
  contextTokens: number;
  modelContextTokens: Record<string, number>;
}

/** The rules every persona follows in a group, after its own prompt. */
export function groupRules(name: string, others: string[]): string {
  return (
    `This is a group conversation${others.length > 0 ? ` with ${others.join(', ')}` : ''}. Other people's lines are shown as "Name: text". ` +
    `Reply only as ${name}, with one short message in your own voice. Do not write your name in front of it, and never write lines for anyone else.`
  );
}

export class GroupTurns {
  private sceneSource: ((conversationId: string) => Promise<string | null>) | null = null;

  constructor(
    private readonly deps: {
      store: Store;
      personas: PersonaService;
      relationships: RelationshipService;
      emotions: EmotionService;
      threads: TopicThreadService;
      llm: LlmProvider;
      clock: Clock;
      events: EventBus;
      logger: Logger;
      settings: GroupTurnSettings;
    },
  ) {}

  /** Who speaks next (or that the conversation ends), from what each present persona witnessed. */
  async choose(
    conversation: ConversationRecord,
    members: GroupMemberRecord[],
    recent: MessageRecord[],
    userId: string,
  ): Promise<SpeakerChoice> {
    const last = recent.at(-1) ?? null;
    const lastSpeakerId = last?.role === 'assistant' ? last.personaId : null;
    const candidates: SpeakerCandidate[] = [];
    for (const member of members) {
      const persona = this.persona(member.personaId);
      if (persona === null) continue;
      const seen = witnessed(recent, member);
      const ownLast = findLastIndex(seen, (message) => message.role === 'assistant' && message.personaId === persona.id);
      const heardSince = seen.slice(ownLast + 1).filter((message) => !(message.role === 'assistant' && message.personaId === persona.id));
      const heard = seen.filter((message) => !(message.role === 'assistant' && message.personaId === persona.id));
      const lastHeard = heard.at(-1);
      const snapshot = await this.deps.personas.snapshot(persona);
      const affinity =
        lastHeard === undefined
          ? 0
          : (
              await this.deps.relationships.get(
                lastHeard.role === 'user'
                  ? { subjectId: persona.id, otherKind: 'user', otherId: userId }
                  : { subjectId: persona.id, otherKind: 'persona', otherId: lastHeard.personaId ?? '' },
              )
            ).affinity;
      const score = continueScore({
        persona,
        message: lastHeard?.content ?? conversation.topic ?? '',
        energyShare: energyShare(snapshot.state, persona.socialEnergy),
        fatigue: snapshot.state.fatigue,
        relationship: affinity,
        recentUserMessages: heard.slice(-ENGAGEMENT_WINDOW).map((message) => message.content),
        turnCount: seen.filter((message) => message.role === 'assistant').length + 1,
      });
      candidates.push({
        personaId: persona.id,
        isAvailable: snapshot.availability.isAvailable,
        continueScore: score.score,
        decision: score.decision,
        isAddressed: heardSince.some((message) => mentions(message.content, persona.name)),
        affinityToLastSpeaker: affinity,
        turnsSinceSpoke: ownLast < 0 ? null : seen.length - 1 - ownLast,
      });
    }
    return chooseSpeaker(candidates, lastSpeakerId);
  }

  /** Where the scene of a conversation comes from (`scene.set`). */
  useScenes(source: (conversationId: string) => Promise<string | null>): void {
    this.sceneSource = source;
  }

  /** Generates, stores and publishes the chosen persona's turn, then updates relationships, moods and threads. */
  async speak(
    conversation: ConversationRecord,
    members: GroupMemberRecord[],
    recent: MessageRecord[],
    choice: Extract<SpeakerChoice, { kind: 'speak' }>,
    userId: string,
    signal: AbortSignal,
  ): Promise<void> {
    const { store, personas, settings } = this.deps;
    const persona = this.persona(choice.personaId);
    const member = members.find((candidate) => candidate.personaId === choice.personaId);
    if (persona === null || member === undefined) throw new Error(`speaker ${choice.personaId} is not in the group`);
    const started = this.deps.clock.now();
    const seen = witnessed(recent, member);
    const snapshot = await personas.snapshot(persona);
    const mood = await this.deps.emotions.current(persona);
    const others = members
      .filter((other) => other.personaId !== persona.id)
      .map((other) => this.persona(other.personaId))
      .filter((other): other is PersonaRecord => other !== null);
    const otherNames = others.map((other) => other.name);
    if (seen.some((message) => message.role === 'user')) otherNames.push(USER_SPEAKER_NAME.toLowerCase());
    const feelings: string[] = [];
    for (const other of others) {
      const line = describeRelationship(
        await this.deps.relationships.get({ subjectId: persona.id, otherKind: 'persona', otherId: other.id }),
        other.name,
      );
      if (line.length > 0) feelings.push(line);
    }
    const share = energyShare(snapshot.state, persona.socialEnergy);
    const base = buildSystemPrompt(persona, {
      moodLine: describeMood(mood),
      energyLine: describeEnergy(share, snapshot.state.fatigue),
      topic: conversation.topic,
      otherParticipants: otherNames,
      scene: (await this.sceneSource?.(conversation.id)) ?? null,
    });
    const sections = [groupRules(persona.name, otherNames), ...feelings];
    if (choice.mode === 'wind_down') sections.push(CLOSING_INSTRUCTIONS.wind_down);
    const systemPrompt = `${base}\n\n${sections.join('\n')}`;
    const opening = conversation.topic
      ? `(The conversation begins. The topic: ${conversation.topic}. You speak first.)`
      : '(The conversation begins. You speak first.)';
    const lines = transcriptFor(persona.id, seen, (id) => this.persona(id)?.name ?? id, opening);
    const model = persona.model ?? settings.defaultModel;
    const contextTokens = settings.modelContextTokens[model] ?? settings.contextTokens;
    const replyTokens = conversation.tokenBudget ?? settings.tokenBudget;
    const window = buildContextWindow({ systemPrompt, history: lines, contextTokens, replyTokens });

    let text = '';
    let promptTokens: number | null = null;
    let completionTokens: number | null = null;
    let finished = false;
    for await (const event of this.deps.llm.chat(
      { model, messages: window.messages, maxTokens: replyTokens, contextTokens, options: persona.modelOptions },
      signal,
    )) {
      if (event.type === 'delta') text += event.text;
      else {
        promptTokens = event.promptTokens;
        completionTokens = event.completionTokens;
        finished = true;
      }
    }
    if (!finished) throw new AppError('llm_failed', `The reply of ${persona.name} broke off before it finished.`);
    const content = stripSpeakerPrefix(text, persona.name) || text.trim();
    if (content.length === 0) throw new AppError('llm_failed', `The model gave ${persona.name} an empty reply.`);

    const now = this.deps.clock.now();
    const reply = await store.appendMessage({
      conversationId: conversation.id,
      role: 'assistant',
      personaId: persona.id,
      content,
      tokens: completionTokens ?? estimateTokens(content),
      promptTokens: promptTokens ?? window.promptTokens,
      processingMs: now - started,
      createdAt: now,
    });
    const state = await personas.spendOnExchange(persona, content.length);
    await personas.replaceState(persona, state);
    this.deps.events.publish({ type: 'messageStored', conversationId: conversation.id, message: reply });
    await this.afterTurn(conversation, persona, seen, reply, userId);
  }

  /** Relationships with the one answered, both moods, and the topic thread. */
  private async afterTurn(
    conversation: ConversationRecord,
    speaker: PersonaRecord,
    seen: MessageRecord[],
    reply: MessageRecord,
    userId: string,
  ): Promise<void> {
    const answered = [...seen].reverse().find((message) => !(message.role === 'assistant' && message.personaId === speaker.id));
    const common = {
      durationMs: answered === undefined ? 0 : Math.max(0, reply.createdAt - answered.createdAt),
      source: 'group' as const,
      conversationId: conversation.id,
      context: null,
      now: reply.createdAt,
    };
    if (answered?.role === 'assistant' && answered.personaId !== null) {
      const other = this.persona(answered.personaId);
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
        await this.deps.emotions.react(other, {
          sentiment: sentiment(reply.content).score,
          askedQuestion: reply.content.includes('?'),
          cause: 'group',
          conversationId: conversation.id,
        });
      }
    } else if (answered?.role === 'user') {
      await this.deps.relationships.recordInteraction({
        ...common,
        subjectId: speaker.id,
        otherKind: 'user',
        otherId: userId,
        quality: exchangeQuality(answered.content, reply.content),
      });
    }
    if (answered !== undefined) {
      await this.deps.emotions.react(speaker, {
        sentiment: sentiment(answered.content).score,
        askedQuestion: answered.content.includes('?'),
        cause: 'group',
        conversationId: conversation.id,
      });
    }
    await this.deps.threads.fileMessage(reply);
  }

  private persona(id: string): PersonaRecord | null {
    return this.deps.personas.list().find((persona) => persona.id === id) ?? null;
  }
}

function findLastIndex<T>(items: readonly T[], predicate: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (predicate(items[i]!)) return i;
  return -1;
}
