/**
 * Rows as SQLite returns them, and the small functions that turn them into the port's records (and
 * records into bind parameters). JSON columns are parsed here, once, when a row is read.
 */
import type { PersonaDefinition } from '../../domain/persona.js';
import type { SocialEnergyState } from '../../domain/social-energy.js';
import type {
  AssistantTurnInput,
  ConversationKind,
  ConversationRecord,
  ConversationStatus,
  MessageRecord,
  MessageRole,
  PersonaRecord,
  SessionRecord,
  UserTurnInput,
} from '../../ports/store.js';

export interface PersonaRow {
  id: string;
  name: string;
  definition: string;
  is_builtin: 0 | 1;
  created_at: number;
  updated_at: number;
  owner_user_id: string | null;
}

export interface PersonaStateRow {
  energy: number;
  fatigue: number;
  updated_at: number;
  cooldown_until: number | null;
}

export interface SessionRow {
  id: string;
  user_id: string | null;
  active_persona_id: string | null;
  created_at: number;
  last_seen_at: number;
}

export interface ConversationRow {
  id: string;
  session_id: string | null;
  kind: ConversationKind;
  /** JSON array of persona ids in position order, built by the query (see `CONVERSATION_COLUMNS`). */
  persona_ids: string;
  topic: string | null;
  context: string | null;
  status: ConversationStatus;
  started_at: number;
  ended_at: number | null;
  end_reason: string | null;
  token_budget: number | null;
}

export interface MessageRow {
  id: number;
  conversation_id: string;
  role: MessageRole;
  persona_id: string | null;
  content: string;
  tokens: number;
  prompt_tokens: number | null;
  processing_ms: number | null;
  created_at: number;
}

/** The select list that gives a `ConversationRow` from `conversations AS c`. */
export const CONVERSATION_COLUMNS = `c.id, c.session_id, c.kind, c.topic, c.context, c.status, c.started_at,
  c.ended_at, c.end_reason, c.token_budget,
  (SELECT json_group_array(cp.persona_id ORDER BY cp.position) FROM conversation_personas cp
    WHERE cp.conversation_id = c.id) AS persona_ids`;

/**
 * The stored JSON: the definition alone. A `PersonaRecord` passed to `updatePersona` also carries
 * `isBuiltin`/`createdAt`/`updatedAt`; those live in their own columns, so they are left out here.
 */
export function definitionJson(definition: PersonaDefinition): string {
  const {
    isBuiltin: _isBuiltin,
    createdAt: _createdAt,
    updatedAt: _updatedAt,
    ownerUserId: _ownerUserId,
    ...rest
  } = definition as PersonaDefinition & Partial<PersonaRecord>;
  return JSON.stringify(rest);
}

export function personaParams(definition: PersonaDefinition, now: number, isBuiltin: boolean, ownerUserId: string | null = null): PersonaRow {
  return {
    id: definition.id,
    name: definition.name,
    definition: definitionJson(definition),
    is_builtin: isBuiltin ? 1 : 0,
    created_at: now,
    updated_at: now,
    owner_user_id: ownerUserId,
  };
}

/**
 * The JSON was written by `definitionJson` from a typed definition, so it is trusted here; a later
 * change to `PersonaDefinition` updates old rows in a migration. The id and name columns win over the
 * JSON copy because they are what the indexes enforce.
 */
export function toPersonaRecord(row: PersonaRow): PersonaRecord {
  const definition = JSON.parse(row.definition) as PersonaDefinition;
  return {
    ...definition,
    id: row.id,
    name: row.name,
    isBuiltin: row.is_builtin === 1,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ownerUserId: row.owner_user_id ?? null,
  };
}

export function toPersonaState(row: PersonaStateRow): SocialEnergyState {
  return { energy: row.energy, fatigue: row.fatigue, updatedAt: row.updated_at, cooldownUntil: row.cooldown_until };
}

export function personaStateParams(
  personaId: string,
  state: SocialEnergyState,
): PersonaStateRow & { personaId: string } {
  return {
    personaId,
    energy: state.energy,
    fatigue: state.fatigue,
    updated_at: state.updatedAt,
    cooldown_until: state.cooldownUntil,
  };
}

export function toSessionRecord(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    userId: row.user_id,
    activePersonaId: row.active_persona_id,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
  };
}

export function toConversationRecord(row: ConversationRow): ConversationRecord {
  return {
    id: row.id,
    sessionId: row.session_id,
    kind: row.kind,
    personaIds: JSON.parse(row.persona_ids) as string[],
    topic: row.topic,
    context: row.context,
    status: row.status,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    endReason: row.end_reason,
    tokenBudget: row.token_budget,
  };
}

export function conversationParams(
  id: string,
  conversation: Omit<ConversationRecord, 'id' | 'personaIds' | 'status' | 'endedAt' | 'endReason'>,
): Omit<ConversationRow, 'persona_ids' | 'status' | 'ended_at' | 'end_reason'> {
  return {
    id,
    session_id: conversation.sessionId,
    kind: conversation.kind,
    topic: conversation.topic,
    context: conversation.context,
    started_at: conversation.startedAt,
    token_budget: conversation.tokenBudget,
  };
}

export function toMessageRecord(row: MessageRow): MessageRecord {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    role: row.role,
    personaId: row.persona_id,
    content: row.content,
    tokens: row.tokens,
    promptTokens: row.prompt_tokens,
    processingMs: row.processing_ms,
    createdAt: row.created_at,
  };
}

/**
 * Bind parameters for a new message. Counts and durations are rounded: the columns are STRICT
 * integers, and an estimate (`chars / 4`) or a `performance.now()` difference is often fractional.
 */
export function messageParams(message: Omit<MessageRecord, 'id'>): Omit<MessageRow, 'id'> {
  return {
    conversation_id: message.conversationId,
    role: message.role,
    persona_id: message.personaId,
    content: message.content,
    tokens: Math.round(message.tokens),
    prompt_tokens: message.promptTokens === null ? null : Math.round(message.promptTokens),
    processing_ms: message.processingMs === null ? null : Math.round(message.processingMs),
    created_at: message.createdAt,
  };
}

export function userMessage(conversationId: string, turn: UserTurnInput): Omit<MessageRecord, 'id'> {
  return {
    conversationId,
    role: 'user',
    personaId: null,
    content: turn.content,
    tokens: turn.tokens,
    promptTokens: null,
    processingMs: null,
    createdAt: turn.now,
  };
}

export function assistantMessage(turn: AssistantTurnInput): Omit<MessageRecord, 'id'> {
  return {
    conversationId: turn.conversationId,
    role: 'assistant',
    personaId: turn.personaId,
    content: turn.content,
    tokens: turn.tokens,
    promptTokens: turn.promptTokens,
    processingMs: turn.processingMs,
    createdAt: turn.now,
  };
}
