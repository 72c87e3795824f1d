/**
 * The one conversation feed: what happens in conversations, as updates for every transport that
 * pushes to clients. Each stored message (a turn), each end, each group pause or resumption, each scene
 * change and each choice of a group's next speaker becomes one `ConversationUpdate`, made once per event: the speaker's name is looked up once, and the
 * participants (which MCP needs for transcript resources) at most once, however many WebSocket
 * connections and MCP sessions listen. Transports turn updates into their notifications — serialised
 * once per transport, written to all of its subscribers.
 */
import type { Logger } from 'pino';
import { explainSpeakerChoice } from '../domain/social/speaker-explanation.js';
import type { EventBus } from '../ports/events.js';
import type { SceneRecord } from '../ports/media.js';
import type { GroupStatus } from '../ports/social-store.js';
import type { MessageRecord } from '../ports/store.js';
import type { ConversationService } from './conversation-service.js';
import type { GroupStatusChange, SpeakerChosen } from './group/group-conversation-service.js';
import type { PersonaService } from './persona-service.js';

interface UpdateBase {
  conversationId: string;
  /** The personas taking part (looked up on first call, then shared by every listener). */
  participants(): Promise<string[]>;
}

export type ConversationUpdate =
  | (UpdateBase & { kind: 'turn'; message: MessageRecord; speakerName: string | null })
  | (UpdateBase & { kind: 'ended'; reason: string })
  | (UpdateBase & { kind: 'status'; status: Exclude<GroupStatus, 'finished'>; reason: string | null })
  | (UpdateBase & { kind: 'scene'; scene: SceneRecord })
  | (UpdateBase & {
      kind: 'speaker';
      /** Who speaks next in a group, with each present persona's wish to speak. */
      choice: SpeakerChosen;
      speakerName: string;
      /** Why, in words for people watching ("Kira wants to speak most (desire 84, against Aria 61)"). */
      reason: string;
    });

export type ConversationListener = (update: ConversationUpdate) => void;

export class ConversationFeed {
  private readonly listeners = new Set<ConversationListener>();
  private readonly stops: Array<() => void> = [];

  constructor(
    private readonly deps: {
      events: EventBus;
      personas: Pick<PersonaService, 'find'>;
      conversations: Pick<ConversationService, 'participants'>;
      /** Group status changes (running ↔ paused); a finished group is told by its conversation's end. */
      groupStatus: (listener: (change: GroupStatusChange) => void) => () => void;
      /** Scene changes (`scene.set`). */
      sceneChanges: (listener: (scene: SceneRecord) => void) => () => void;
      /** The next speaker of a group, chosen before each persona turn. */
      speakerChoices: (listener: (choice: SpeakerChosen) => void) => () => void;
      logger: Logger;
    },
  ) {
    const nameOf = (personaId: string): string => deps.personas.find(personaId)?.name ?? personaId;
    this.stops.push(
      deps.events.subscribe((event) => {
        if (event.type === 'messageStored') {
          const personaId = event.message.personaId;
          const speakerName = personaId === null ? null : (deps.personas.find(personaId)?.name ?? personaId);
          this.emit({ kind: 'turn', conversationId: event.conversationId, message: event.message, speakerName, participants: this.participantsOf(event.conversationId) });
        } else if (event.type === 'conversationEnded') {
          this.emit({ kind: 'ended', conversationId: event.conversationId, reason: event.reason, participants: this.participantsOf(event.conversationId) });
        }
      }),
      deps.groupStatus((change) => {
        if (change.status === 'finished') return; // the conversation's end says it
        this.emit({ kind: 'status', conversationId: change.conversationId, status: change.status, reason: change.reason, participants: this.participantsOf(change.conversationId) });
      }),
      deps.sceneChanges((scene) => {
        this.emit({ kind: 'scene', conversationId: scene.conversationId, scene, participants: this.participantsOf(scene.conversationId) });
      }),
      deps.speakerChoices((choice) => {
        this.emit({
          kind: 'speaker',
          conversationId: choice.conversationId,
          choice,
          speakerName: nameOf(choice.personaId),
          reason: explainSpeakerChoice({ ...choice, nameOf }),
          participants: this.participantsOf(choice.conversationId),
        });
      }),
    );
  }

  /** Receives every update from now on; returns the function that stops it. */
  subscribe(listener: ConversationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops listening to the events (shutdown). */
  close(): void {
    for (const stop of this.stops.splice(0)) stop();
    this.listeners.clear();
  }

  /** Listeners run synchronously, inside the event: a subscriber hears a turn before its request's answer. */
  private emit(update: ConversationUpdate): void {
    for (const listener of this.listeners) {
      try {
        listener(update);
      } catch (error) {
        this.deps.logger.error({ err: error, conversationId: update.conversationId }, 'conversation feed listener failed');
      }
    }
  }

  private participantsOf(conversationId: string): () => Promise<string[]> {
    let participants: Promise<string[]> | null = null;
    return () => (participants ??= this.deps.conversations.participants(conversationId));
  }
}
