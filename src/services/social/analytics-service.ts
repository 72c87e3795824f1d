/**
 * Conversation analytics (`conversation.analytics`): figures computed from the stored transcript and
 * the social timelines, never estimated — for one conversation, for one persona, or overall.
 */
import type { MoodEventRecord, RelationshipEventRecord, SocialStore, SpeakerFigures, ThreadRecord } from '../../ports/social-store.js';
import type { ConversationRecord, ConversationStats, Store } from '../../ports/store.js';
import type { RelationshipService, RelationshipStatistics } from './relationship-service.js';

export interface SpeakerShare {
  /** Persona id, or null for the user (and system notes). */
  personaId: string | null;
  role: 'user' | 'assistant' | 'system';
  messages: number;
  /** Share of all messages in scope, 0..1 (4 decimals). */
  share: number;
  tokens: number;
  characters: number;
  /** Mean processing time of the replies that recorded it (ms); null when none did. */
  averageResponseMs: number | null;
}

export interface Totals {
  messages: number;
  /** Persona replies. */
  turns: number;
  userMessages: number;
  /** Message tokens (replies' model counts, users' estimates). */
  tokens: number;
  averageResponseMs: number | null;
}

export interface ConversationAnalytics {
  conversation: ConversationRecord;
  stats: ConversationStats;
  totals: Totals;
  speakers: SpeakerShare[];
  topics: Array<ThreadRecord & { isCurrent: boolean }>;
  moodChanges: MoodEventRecord[];
  relationshipChanges: RelationshipEventRecord[];
}

export interface PersonaAnalytics {
  personaId: string;
  conversations: { total: number; active: number; groups: number };
  /** Figures of every conversation the persona took part in. */
  totals: Totals;
  speakers: SpeakerShare[];
  moodChanges: MoodEventRecord[];
}

export interface OverallAnalytics {
  conversations: { total: number; active: number; groups: number };
  totals: Totals;
  speakers: SpeakerShare[];
  relationships: RelationshipStatistics;
}

/** Mood and relationship changes returned per scope, newest kept. */
export const MAX_TIMELINE_EVENTS = 200;

export class AnalyticsService {
  constructor(
    private readonly store: Store,
    private readonly social: SocialStore,
    private readonly relationships: RelationshipService,
    /**
     * Settles when the writes that follow a reply (its topic thread filing, the mood reaction) are
     * done: they are made after the reply goes out, and analytics asked for right after must count them.
     */
    private readonly afterReplies: (conversationId: string | null) => Promise<void> = () => Promise.resolve(),
  ) {}

  async conversation(conversation: ConversationRecord): Promise<ConversationAnalytics> {
    await this.afterReplies(conversation.id);
    const [stats, figures, threads, currentId, moodChanges, relationshipChanges] = await Promise.all([
      this.store.conversationStats(conversation.id),
      this.social.speakerFigures({ conversationId: conversation.id }),
      this.social.listThreads(conversation.id),
      this.social.currentThreadId(conversation.id),
      this.social.moodEvents({ conversationId: conversation.id, limit: MAX_TIMELINE_EVENTS }),
      this.social.relationshipEventsOf(conversation.id),
    ]);
    return {
      conversation,
      stats,
      totals: totalsOf(figures),
      speakers: sharesOf(figures),
      topics: threads.map((thread) => ({ ...thread, isCurrent: thread.id === currentId })),
      moodChanges,
      relationshipChanges: relationshipChanges.slice(-MAX_TIMELINE_EVENTS),
    };
  }

  async persona(personaId: string): Promise<PersonaAnalytics> {
    await this.afterReplies(null);
    const [conversations, figures, moodChanges] = await Promise.all([
      this.social.conversationCount({ personaId }),
      this.social.speakerFigures({ personaId }),
      this.social.moodEvents({ personaId, limit: MAX_TIMELINE_EVENTS }),
    ]);
    return { personaId, conversations, totals: totalsOf(figures), speakers: sharesOf(figures), moodChanges };
  }

  async overall(): Promise<OverallAnalytics> {
    const [conversations, figures, relationships] = await Promise.all([
      this.social.conversationCount({}),
      this.social.speakerFigures({}),
      this.relationships.statistics(),
    ]);
    return { conversations, totals: totalsOf(figures), speakers: sharesOf(figures), relationships };
  }
}

export function totalsOf(figures: readonly SpeakerFigures[]): Totals {
  const sum = (pick: (row: SpeakerFigures) => number, rows = figures): number => rows.reduce((total, row) => total + pick(row), 0);
  const replies = figures.filter((row) => row.role === 'assistant');
  const timed = sum((row) => row.timedReplies, replies);
  return {
    messages: sum((row) => row.messages),
    turns: sum((row) => row.messages, replies),
    userMessages: sum(
      (row) => row.messages,
      figures.filter((row) => row.role === 'user'),
    ),
    tokens: sum((row) => row.tokens),
    averageResponseMs: timed === 0 ? null : Math.round(sum((row) => row.processingMsTotal, replies) / timed),
  };
}

export function sharesOf(figures: readonly SpeakerFigures[]): SpeakerShare[] {
  const all = figures.reduce((total, row) => total + row.messages, 0);
  return figures
    .map((row) => ({
      personaId: row.personaId,
      role: row.role,
      messages: row.messages,
      share: all === 0 ? 0 : Math.round((row.messages / all) * 10_000) / 10_000,
      tokens: row.tokens,
      characters: row.characters,
      averageResponseMs: row.timedReplies === 0 ? null : Math.round(row.processingMsTotal / row.timedReplies),
    }))
    .sort((a, b) => b.messages - a.messages || (a.personaId ?? '').localeCompare(b.personaId ?? ''));
}
