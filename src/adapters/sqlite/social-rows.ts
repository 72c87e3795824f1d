/**
 * Rows of the social tables as records, for both stores: SQLite's and PostgreSQL's tables have the same
 * columns (`social-statements.ts` has the row types), so one mapper each keeps them from drifting apart.
 */
import type { MoodName } from '../../domain/social/mood.js';
import type { TermVector } from '../../domain/social/topic-threads.js';
import type {
  GroupMemberRecord,
  GroupRecord,
  InteractionSource,
  MoodEventRecord,
  RelationshipEventRecord,
  RelationshipRecord,
  ThreadRecord,
} from '../../ports/social-store.js';
import type { GroupRow, MemberRow, MoodEventRow, RelationshipEventRow, RelationshipRow, ThreadRow } from './social-statements.js';

export function toRelationship(row: RelationshipRow): RelationshipRecord {
  return {
    subjectId: row.subject_id,
    otherKind: row.other_kind,
    otherId: row.other_id,
    affinity: row.affinity,
    trust: row.trust,
    respect: row.respect,
    familiarity: row.familiarity,
    interactionCount: row.interaction_count,
    totalInteractionMs: row.total_interaction_ms,
    firstMeeting: row.first_meeting,
    lastInteraction: row.last_interaction,
  };
}

export function toRelationshipEvent(row: RelationshipEventRow): RelationshipEventRecord {
  return {
    id: row.id,
    subjectId: row.subject_id,
    otherKind: row.other_kind,
    otherId: row.other_id,
    at: row.at,
    quality: row.quality,
    source: row.source as InteractionSource,
    conversationId: row.conversation_id,
    context: row.context,
    affinity: row.affinity,
    trust: row.trust,
    respect: row.respect,
    familiarity: row.familiarity,
  };
}

export function toMoodEvent(row: MoodEventRow): MoodEventRecord {
  return {
    id: row.id,
    personaId: row.persona_id,
    at: row.at,
    valence: row.valence,
    arousal: row.arousal,
    stress: row.stress,
    curiosity: row.curiosity,
    mood: row.mood as MoodName,
    cause: row.cause,
    conversationId: row.conversation_id,
  };
}

export function toThread(row: ThreadRow): ThreadRecord {
  return {
    id: row.id,
    conversationId: row.conversation_id,
    label: row.label,
    centroid: JSON.parse(row.centroid) as TermVector,
    isBranch: row.is_branch === 1,
    messageCount: row.message_count,
    createdAt: row.created_at,
    lastActiveAt: row.last_active_at,
  };
}

export function toGroup(row: GroupRow): GroupRecord {
  return {
    conversationId: row.conversation_id,
    status: row.status,
    maxTurns: row.max_turns,
    turnDelayMs: row.turn_delay_ms,
    statusReason: row.status_reason,
    updatedAt: row.updated_at,
  };
}

export function toMember(row: MemberRow): GroupMemberRecord {
  return {
    conversationId: row.conversation_id,
    personaId: row.persona_id,
    joinedAfter: row.joined_after,
    leftAfter: row.left_after,
    joinedAt: row.joined_at,
    leftAt: row.left_at,
  };
}
