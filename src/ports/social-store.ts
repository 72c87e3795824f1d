/**
 * The storage port of social dynamics: relationships and their timeline, emotional state and its
 * history, topic threads, group conversations and the figures analytics needs. Implemented by
 * `src/adapters/sqlite/social-store.ts` on the same database as the main `Store`.
 */
import type { MoodName, MoodState } from '../domain/social/mood.js';
import type { OtherKind, RelationshipState } from '../domain/social/relationship.js';
import type { TermVector } from '../domain/social/topic-threads.js';
import type { JobCompletion } from './jobs.js';

export interface RelationshipKey {
  /** The persona whose view this is. */
  subjectId: string;
  otherKind: OtherKind;
  otherId: string;
}

export interface RelationshipRecord extends RelationshipKey, RelationshipState {}

export type InteractionSource = 'chat' | 'group' | 'manual' | 'llm';

export interface RelationshipEventRecord extends RelationshipKey {
  id: number;
  at: number;
  quality: number;
  source: InteractionSource;
  conversationId: string | null;
  context: string | null;
  /** The figures after the interaction. */
  affinity: number;
  trust: number;
  respect: number;
  familiarity: number;
}

export interface MoodEventRecord {
  id: number;
  personaId: string;
  at: number;
  valence: number;
  arousal: number;
  stress: number;
  curiosity: number;
  mood: MoodName;
  cause: string;
  conversationId: string | null;
}

export interface ThreadRecord {
  id: number;
  conversationId: string;
  label: string;
  centroid: TermVector;
  isBranch: boolean;
  messageCount: number;
  createdAt: number;
  lastActiveAt: number;
}

/** A message filed in a topic thread, with the thread's centroid and label once it is in. */
export interface ThreadFiling {
  messageId: number;
  threadId: number;
  centroid: TermVector;
  label: string;
  /** When it was filed (the thread's last activity). */
  now: number;
}

export type GroupStatus = 'running' | 'paused' | 'finished';

export interface GroupRecord {
  conversationId: string;
  status: GroupStatus;
  maxTurns: number;
  turnDelayMs: number;
  statusReason: string | null;
  updatedAt: number;
}

export interface GroupMemberRecord {
  conversationId: string;
  personaId: string;
  /** The member witnessed messages with `joinedAfter < id` (and `id <= leftAfter` once it left). */
  joinedAfter: number;
  leftAfter: number | null;
  joinedAt: number;
  leftAt: number | null;
}

export interface SpeakerFigures {
  /** Persona id, or null for the user. */
  personaId: string | null;
  role: 'user' | 'assistant' | 'system';
  messages: number;
  tokens: number;
  characters: number;
  /** Sum and count of processing_ms over replies that recorded it. */
  processingMsTotal: number;
  timedReplies: number;
}

/** What a mood history entry says besides the figures. */
export interface MoodEventInput {
  mood: MoodName;
  cause: string;
  conversationId: string | null;
}

/** A mood change, applied by the store to the mood it holds (see `SocialStore.updateMood`). */
export type MoodChange = (stored: MoodState | null) => { state: MoodState; event?: MoodEventInput };

/** A relationship change, applied by the store to the relationship it holds (see `SocialStore.recordInteraction`). */
export type RelationshipChange = { key: RelationshipKey; apply: (stored: RelationshipRecord | null) => RelationshipRecord };

/** What an interaction's timeline event says besides the figures. */
export interface InteractionEvent {
  quality: number;
  source: InteractionSource;
  conversationId: string | null;
  context: string | null;
  /**
   * The message whose exchange this interaction counts (a chat turn's relationship job: the person's message;
   * a group turn: the reply). Each exchange counts once per relationship: recorded again (a job or an
   * after-reply step done again after a crash), it changes nothing. Absent: always applied (`relationship.update`).
   */
  messageId?: number;
}

export interface SocialStore {
  // relationships
  getRelationship(key: RelationshipKey): Promise<RelationshipRecord | null>;
  /** Every relationship, or those of one subject; strongest first is the caller's business. */
  listRelationships(subjectId?: string): Promise<RelationshipRecord[]>;
  /**
   * One transaction: save the new figures and append the event to the timeline. Given a change, the store
   * applies it to the relationship it holds at that moment (null: none yet), under a lock, so interactions
   * recorded by several nodes at once all count; the saved relationship is the event's figures. An event
   * whose exchange (`messageId`) the relationship has recorded already is not applied again: the store
   * resolves with the event recorded then, and the change is not called. With `completes`, the
   * relationship job's completion is written in that transaction when the store can ({@link JobCompletion}).
   */
  recordInteraction(relationship: RelationshipRecord | RelationshipChange, event: InteractionEvent, completes?: JobCompletion): Promise<RelationshipEventRecord>;
  /**
   * Several {@link recordInteraction}s in one transaction, in order (a batch of relationship jobs: one
   * commit instead of one each); each its own outcome, a failed one leaving the others written. A store
   * without it records them one by one. Each entry's `completes` as recordInteraction's (written only
   * with an entry that was).
   */
  recordInteractions?(
    entries: ReadonlyArray<{
      relationship: RelationshipRecord | RelationshipChange;
      event: InteractionEvent;
      completes?: JobCompletion;
    }>,
  ): Promise<Array<PromiseSettledResult<RelationshipEventRecord>>>;
  /**
   * The relationships other writers changed since the last call, for a caller that keeps relationships in
   * memory ('all': too many to name; null: none). SQLite: other connections to the file (a jobs worker
   * thread, another process) by its change log. A store without it has no other writer to follow (or the
   * caller keeps nothing: PostgreSQL nodes share the store).
   */
  relationshipsChangedElsewhere?(): readonly RelationshipKey[] | 'all' | null;
  /** Newest first. */
  relationshipHistory(key: RelationshipKey, options: { limit: number; beforeId?: number }): Promise<RelationshipEventRecord[]>;
  relationshipEventsOf(conversationId: string): Promise<RelationshipEventRecord[]>;

  // emotional state
  getMood(personaId: string): Promise<MoodState | null>;
  /** Saves the state and, with `event`, appends it to the mood history. */
  saveMood(personaId: string, state: MoodState, event?: MoodEventInput): Promise<void>;
  /**
   * Applies `change` to the mood stored at that moment (null: none yet) under a lock and saves its result
   * (with its history entry), so moods changed by several nodes at once all count; returns the saved mood.
   */
  updateMood(personaId: string, change: MoodChange): Promise<MoodState>;
  /**
   * The mood the persona's next `updateMood` saved already, when the store knows that write was done before
   * (a reply redone from a PostgreSQL copy that marked its reaction committed: `sqlite/copied-marks.ts`);
   * that `updateMood` then resolves with it and does not apply its change. Undefined: the change will apply.
   * For a caller that decides the mood itself before asking for the write (one writer: `EmotionService`).
   */
  moodWrittenAlready?(personaId: string): MoodState | undefined;
  moodEvents(options: { personaId?: string; conversationId?: string; limit: number }): Promise<MoodEventRecord[]>;

  // topic threads
  listThreads(conversationId: string): Promise<ThreadRecord[]>;
  currentThreadId(conversationId: string): Promise<number | null>;
  /** Opens a thread and makes it current. */
  createThread(conversationId: string, label: string, now: number, isBranch: boolean): Promise<ThreadRecord>;
  /** Makes an existing thread of the conversation current (going back from a branch). */
  setCurrentThread(conversationId: string, threadId: number): Promise<void>;
  /**
   * One transaction for every filing given, in order: file each message in its thread, set the thread's
   * centroid, label and last activity to those of its last filing, make the last filing's thread
   * current. Resolves with each filing's thread message count after it (in the filings' order). A
   * message deleted meanwhile is skipped. The topic thread service hands in a person's message and
   * the reply to it together: one commit per turn.
   */
  fileInThreads(filings: readonly ThreadFiling[]): Promise<number[]>;
  /** message id → thread id, for the messages of a conversation that were threaded. */
  threadOfMessages(conversationId: string): Promise<Map<number, number>>;
  /**
   * message id → thread id for these messages only (those not filed are absent): what a turn needs for
   * its recent window, without reading every filed message of a long conversation.
   */
  threadsOfMessages(messageIds: readonly number[]): Promise<Map<number, number>>;
  /** thread id → id of its newest filed message, for these threads (a thread with none is absent). */
  newestMessageOfThreads(threadIds: readonly number[]): Promise<Map<number, number>>;

  // groups
  saveGroup(group: GroupRecord): Promise<void>;
  getGroup(conversationId: string): Promise<GroupRecord | null>;
  listGroups(status: GroupStatus): Promise<GroupRecord[]>;
  addMember(member: GroupMemberRecord): Promise<void>;
  markLeft(conversationId: string, personaId: string, leftAfter: number, now: number): Promise<void>;
  members(conversationId: string): Promise<GroupMemberRecord[]>;
  /** Id of the newest message of the conversation; 0 when it has none. */
  lastMessageId(conversationId: string): Promise<number>;

  // analytics
  speakerFigures(filter: { conversationId?: string; personaId?: string }): Promise<SpeakerFigures[]>;
  conversationCount(filter: { personaId?: string }): Promise<{ total: number; active: number; groups: number }>;
}
