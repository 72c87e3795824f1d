/**
 * The settings that are safe to change while the server runs (`config.get` / `config.set`): each with
 * its validation and the place it takes effect. Everything else (host, port, data dir, the LLM
 * backend's address, frame limits of open sockets) needs a restart and is not listed here.
 */
import { z } from 'zod';

/** The objects the running server reads its settings from on every use; `config.set` changes them. */
export interface LiveTargets {
  chat: {
    defaultModel: string;
    defaultTokenBudget: number;
    maxTokenBudget: number;
    maxMessageChars: number;
    historyMessages: number;
    contextTokens: number;
  };
  retention: {
    sessionIdleMs: number;
    messageMaxAgeMs: number;
    maxMessagesPerConversation: number;
    moodHistoryMaxAgeMs: number;
    maxMoodSamplesPerPersona: number;
  };
  backup: { intervalHours: number; keep: number };
  /** pino's logger: its `level` can be changed at any time. */
  logger: { level: string };
}

export interface LiveSetting<T = unknown> {
  schema: z.ZodType<T>;
  description: string;
  read(targets: LiveTargets): T;
  apply(targets: LiveTargets, value: T): void;
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const positiveInt = z.number().int().positive();

function setting<T>(definition: LiveSetting<T>): LiveSetting {
  return definition as unknown as LiveSetting;
}

export const LIVE_SETTINGS: Readonly<Record<string, LiveSetting>> = {
  'llm.model': setting({
    schema: z.string().trim().min(1).max(200),
    description: 'Model for personas that name none.',
    read: (t) => t.chat.defaultModel,
    apply: (t, value) => (t.chat.defaultModel = value),
  }),
  'llm.contextTokens': setting({
    schema: z.number().int().min(512),
    description: 'Context window asked of the model and used to budget the prompt.',
    read: (t) => t.chat.contextTokens,
    apply: (t, value) => (t.chat.contextTokens = value),
  }),
  'chat.defaultTokenBudget': setting({
    schema: positiveInt,
    description: 'Reply cap when a request gives no token_budget.',
    read: (t) => t.chat.defaultTokenBudget,
    apply: (t, value) => (t.chat.defaultTokenBudget = value),
  }),
  'chat.maxTokenBudget': setting({
    schema: positiveInt,
    description: 'Largest token_budget a client may ask for.',
    read: (t) => t.chat.maxTokenBudget,
    apply: (t, value) => (t.chat.maxTokenBudget = value),
  }),
  'chat.maxMessageChars': setting({
    schema: positiveInt,
    description: 'Longest chat message accepted, in characters.',
    read: (t) => t.chat.maxMessageChars,
    apply: (t, value) => (t.chat.maxMessageChars = value),
  }),
  'chat.historyMessages': setting({
    schema: positiveInt,
    description: 'Messages loaded when building a prompt.',
    read: (t) => t.chat.historyMessages,
    apply: (t, value) => (t.chat.historyMessages = value),
  }),
  logLevel: setting({
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    description: 'Log level.',
    read: (t) => t.logger.level as 'info',
    apply: (t, value) => (t.logger.level = value),
  }),
  'retention.sessionIdleHours': setting({
    schema: z.number().positive(),
    description: 'Sessions idle for longer are removed at the next clean-up.',
    read: (t) => t.retention.sessionIdleMs / HOUR_MS,
    apply: (t, value) => (t.retention.sessionIdleMs = value * HOUR_MS),
  }),
  'retention.messageMaxAgeDays': setting({
    schema: z.number().min(0),
    description: 'Messages older than this are deleted at the next clean-up; 0 keeps them.',
    read: (t) => t.retention.messageMaxAgeMs / DAY_MS,
    apply: (t, value) => (t.retention.messageMaxAgeMs = value * DAY_MS),
  }),
  'retention.maxMessagesPerConversation': setting({
    schema: z.number().int().min(0),
    description: 'Newest messages kept per conversation; 0 = unlimited.',
    read: (t) => t.retention.maxMessagesPerConversation,
    apply: (t, value) => (t.retention.maxMessagesPerConversation = value),
  }),
  'retention.moodHistoryDays': setting({
    schema: z.number().min(0),
    description: 'Mood and energy samples older than this are deleted at the next clean-up; 0 keeps them by age.',
    read: (t) => t.retention.moodHistoryMaxAgeMs / DAY_MS,
    apply: (t, value) => (t.retention.moodHistoryMaxAgeMs = value * DAY_MS),
  }),
  'retention.maxMoodSamplesPerPersona': setting({
    schema: z.number().int().min(0),
    description: 'Newest mood and energy samples kept per persona; 0 = unlimited.',
    read: (t) => t.retention.maxMoodSamplesPerPersona,
    apply: (t, value) => (t.retention.maxMoodSamplesPerPersona = value),
  }),
  'backup.intervalHours': setting({
    schema: z.number().min(0),
    description: 'Hours between scheduled backups; 0 switches them off.',
    read: (t) => t.backup.intervalHours,
    apply: (t, value) => (t.backup.intervalHours = value),
  }),
  'backup.keep': setting({
    schema: z.number().int().min(0),
    description: 'Scheduled backups kept; 0 keeps all.',
    read: (t) => t.backup.keep,
    apply: (t, value) => (t.backup.keep = value),
  }),
};

/** Checks that hold between settings, on the values as they would be after a change. */
export function crossCheck(values: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const budget = values['chat.defaultTokenBudget'];
  const max = values['chat.maxTokenBudget'];
  if (typeof budget === 'number' && typeof max === 'number' && budget > max) {
    problems.push(`chat.defaultTokenBudget (${budget}) must not exceed chat.maxTokenBudget (${max})`);
  }
  return problems;
}
