/**
 * One turn of a group conversation: choosing the speaker (continue scores + `chooseSpeaker`) and running
 * its turn through the turn pipeline (`turn-runner.ts`) from the transcript it witnessed; the social
 * updates that follow are a turn observer (`social/group-social-observer.ts`). The lifecycle around it
 * (start, run, pause, resume, end) is `group-conversation-service.ts`.
 */
import { energyShare } from '../../domain/social-energy.js';
import { continueScore, ENGAGEMENT_WINDOW } from '../../domain/continue-score.js';
import { CLOSING_INSTRUCTIONS } from '../../domain/prompt.js';
import { stripSpeakerPrefix, transcriptFor, witnessed, USER_SPEAKER_NAME } from '../../domain/social/group-transcript.js';
import { describeMood } from '../../domain/social/mood.js';
import { describeRelationship } from '../../domain/social/relationship.js';
import { addressees, chooseSpeaker, mentions, type SpeakerCandidate, type SpeakerChoice } from '../../domain/social/speaker-selection.js';
import type { GroupMemberRecord } from '../../ports/social-store.js';
import type { ConversationRecord, MessageRecord, PersonaRecord } from '../../ports/store.js';
import type { PersonaService } from '../persona-service.js';
import type { SessionBinding } from '../session-binding.js';
import type { EmotionService } from '../social/emotion-service.js';
import { userIdOf, type RelationshipService } from '../social/relationship-service.js';
import type { TurnRunner } from '../turn-runner.js';

export interface GroupTurnSettings {
  /** Reply cap per group turn when the conversation names none (`social.groupTokenBudget`). */
  tokenBudget: number;
}

/** The rules every persona follows in a group, after its own prompt. */
export function groupRules(name: string, others: string[]): string {
  return (
    `This is a group conversation${others.length > 0 ? ` with ${others.join(', ')}` : ''}. Other people's lines are shown as "Name: text". ` +
    `Reply only as ${name}, with one short message in your own voice. Do not write your name in front of it, and never write lines for anyone else.`
  );
}

export class GroupTurns {
  constructor(
    private readonly deps: {
      personas: PersonaService;
      relationships: RelationshipService;
      emotions: EmotionService;
      /** The one turn pipeline: prompt, model, storing, energy, events and observers (the social updates). */
      turnRunner: TurnRunner;
      settings: GroupTurnSettings;
    },
  ) {}

  /** Who speaks next (or that the conversation ends), from what each present persona witnessed. */
  async choose(
    conversation: ConversationRecord,
    members: GroupMemberRecord[],
    recent: MessageRecord[],
    session: SessionBinding,
  ): Promise<SpeakerChoice> {
    const userId = userIdOf(session);
    const last = recent.at(-1) ?? null;
    const lastSpeakerId = last?.role === 'assistant' ? last.personaId : null;
    // Direct address decides before any score (domain/social/speaker-selection.ts, rule 2).
    const spokenTo = addressees(
      recent.filter((message) => message.role !== 'system').map((message) => ({ speakerId: message.role === 'user' ? null : message.personaId, content: message.content })),
      members.flatMap((member) => {
        const persona = this.persona(member.personaId);
        return persona === null ? [] : [{ personaId: persona.id, name: persona.name }];
      }),
    );
    const candidates: SpeakerCandidate[] = [];
    for (const member of members) {
      const persona = this.persona(member.personaId);
      if (persona === null) continue;
      const seen = witnessed(recent, member);
      const ownLast = findLastIndex(seen, (message) => message.role === 'assistant' && message.personaId === persona.id);
      const heardSince = seen.slice(ownLast + 1).filter((message) => !(message.role === 'assistant' && message.personaId === persona.id));
      const heard = seen.filter((message) => !(message.role === 'assistant' && message.personaId === persona.id));
      const lastHeard = heard.at(-1);
      // its first turn in this group starts fresh after a rest, as the turn runner will read it (domain/social-energy.ts)
      const snapshot = await this.deps.personas.snapshot(persona, { opensConversation: ownLast < 0 });
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
        addressRank: spokenTo.includes(persona.id) ? spokenTo.indexOf(persona.id) : null,
        affinityToLastSpeaker: affinity,
        turnsSinceSpoke: ownLast < 0 ? null : seen.length - 1 - ownLast,
      });
    }
    return chooseSpeaker(candidates, lastSpeakerId);
  }

  /**
   * Runs the chosen persona's turn through the turn pipeline, from the transcript it witnessed; the
   * social updates that follow (relationships, moods, topic threads) are its turn observers, awaited so
   * that the next speaker is chosen on them.
   */
  async speak(
    conversation: ConversationRecord,
    members: GroupMemberRecord[],
    recent: MessageRecord[],
    choice: Extract<SpeakerChoice, { kind: 'speak' }>,
    session: SessionBinding,
    signal: AbortSignal,
  ): Promise<void> {
    const persona = this.persona(choice.personaId);
    const member = members.find((candidate) => candidate.personaId === choice.personaId);
    if (persona === null || member === undefined) throw new Error(`speaker ${choice.personaId} is not in the group`);
    const seen = witnessed(recent, member);
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
    const sections = [groupRules(persona.name, otherNames), ...feelings];
    if (choice.mode === 'wind_down') sections.push(CLOSING_INSTRUCTIONS.wind_down);
    const opening = conversation.topic
      ? `(The conversation begins. The topic: ${conversation.topic}. You speak first.)`
      : '(The conversation begins. You speak first.)';
    const outcome = await this.deps.turnRunner.run(
      {
        session,
        persona,
        conversation,
        userMessage: null,
        history: seen,
        replyTokens: conversation.tokenBudget ?? this.deps.settings.tokenBudget,
        view: {
          situation: { moodLine: describeMood(mood), topic: conversation.topic, otherParticipants: otherNames },
          sections,
          messages: (heard) => transcriptFor(persona.id, heard, (id) => this.persona(id)?.name ?? id, opening),
          cleanReply: (text) => stripSpeakerPrefix(text, persona.name) || text.trim(),
          // an interjection interrupts the turn in flight: the person is heard before anyone answers past them
          dropsRepliesOnAbort: true,
        },
      },
      { signal },
    );
    await outcome.observed;
  }

  private persona(id: string): PersonaRecord | null {
    return this.deps.personas.find(id);
  }
}

function findLastIndex<T>(items: readonly T[], predicate: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (predicate(items[i]!)) return i;
  return -1;
}
