/**
 * Extension points of a turn (`turn-runner.ts`), so that features (memory, relationships, mood, scenes)
 * plug into every turn without editing it: contributors add context to the prompt before the model is
 * called, observers react after the reply is stored (and must not make the client wait: queue slow work).
 * Each says which conversations it takes part in (`conversationKinds`, default one-to-one chats).
 */
import type { SocialEnergyState } from '../domain/social-energy.js';
import type { ConversationKind, ConversationRecord, MessageRecord, PersonaRecord } from '../ports/store.js';
import type { SessionBinding } from './session-binding.js';

export interface TurnContext {
  session: SessionBinding;
  persona: PersonaRecord;
  conversation: ConversationRecord;
  /** The user's message of this turn (already stored). */
  message: MessageRecord;
  /** Recent messages of the conversation, oldest first, including `message`. */
  history: MessageRecord[];
  /**
   * The persona's social energy this turn answers with — the one the prompt's energy line and the
   * continue score use (read once by the turn runner; a conversation's opening after a rest starts fresh).
   */
  energy: SocialEnergyState;
  /** Tokens of the context window this contributor may fill (a share of the model's window). */
  budgetTokens: number;
  /** A `persona.preview_prompt`: the turn will not happen, so contributors change nothing (no recall reinforcement). */
  isPreview?: boolean;
}

export interface PromptContribution {
  /** Paragraphs appended to the system prompt, e.g. "Things you remember: ...". */
  sections?: string[];
  /** The persona's feeling towards the speaker, −1..1, used by the continue score. */
  affinity?: number;
  /** Replaces the generic energy line (e.g. with the persona's mood). */
  stateLine?: string;
  /**
   * A running summary of the conversation up to a message: it goes right after the system prompt and
   * replaces those turns in the context window (they stay in the store).
   */
  summary?: { text: string; coversThroughMessageId: number };
  /** Recent messages to leave out of the window (turns of other topic threads, summarised instead). */
  excludeMessageIds?: readonly number[];
  /** What the contributor added, in numbers (e.g. memory lines and tokens), reported in the turn's result. */
  usage?: Record<string, number>;
}

export interface PromptContributor {
  readonly name: string;
  /** The conversations whose turns it contributes to; default `['user']` (one-to-one chats). */
  readonly conversationKinds?: readonly ConversationKind[];
  /** Share of the context window (0..1) this contributor may use; the chat turn divides it. */
  readonly budgetShare: number;
  contribute(turn: TurnContext): Promise<PromptContribution>;
}

export interface CompletedTurn {
  session: SessionBinding;
  persona: PersonaRecord;
  conversation: ConversationRecord;
  /** The person's message the turn answered; null when the persona spoke to a room (group turns). */
  userMessage: MessageRecord | null;
  /** The messages the turn's prompt was built from, oldest first: what the persona had heard. */
  heard: MessageRecord[];
  replyMessage: MessageRecord;
}

export interface TurnObserver {
  readonly name: string;
  /** The conversations whose turns it observes; default `['user']` (one-to-one chats). */
  readonly conversationKinds?: readonly ConversationKind[];
  /** Called after the reply is stored. Errors are logged, never shown to the client. */
  turnCompleted(turn: CompletedTurn): Promise<void>;
}
