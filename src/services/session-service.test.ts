/** The active-persona cache in SessionService stays right through every path that writes a session. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PersonaDefinition } from '../domain/persona.js';
import { InProcessEventBus } from '../adapters/events/in-process-bus.js';
import { SqliteStore } from '../adapters/sqlite/sqlite-store.js';
import type { SessionBinding } from './session-binding.js';
import { ConversationService } from './conversation-service.js';
import { RetentionService } from './retention-service.js';
import { SESSION_ID_PATTERN, SessionService } from './session-service.js';

const T0 = 1_700_000_000_000;
const HOUR = 3_600_000;

function persona(id: string): PersonaDefinition {
  return {
    id,
    name: id,
    description: `${id}, a test persona`,
    backstory: '',
    personalityTraits: {},
    speakingStyle: '',
    topicPreferences: {},
    exampleLines: [],
    attributes: {},
    socialRank: 'peer',
    defaultPriority: 'social',
    socialEnergy: { maxEnergy: 100, availableTime: 600, costPerTurn: 5, recoveryPerMinute: 1 },
    model: null,
    modelOptions: {},
    systemPromptTemplate: '',
    avatar: null,
  };
}

let dir: string;
let store: SqliteStore;
let events: InProcessEventBus;
let now: number;
let sessions: SessionService;
const binding: SessionBinding = { id: 'ses_cache_test', userId: null };

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pmcp-sessions-'));
  store = SqliteStore.open(path.join(dir, 'test.db'));
  await store.seedPersonas([persona('aria'), persona('kira')], T0);
  events = new InProcessEventBus();
  now = T0;
  sessions = new SessionService(store, { now: () => now }, events);
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('SessionService active-persona cache', () => {
  it('answers from the cache after a switch and follows the next switch', async () => {
    expect(await sessions.activePersonaId(binding)).toBeNull();
    await sessions.setActivePersona(binding, 'aria');
    expect(await sessions.activePersonaId(binding)).toBe('aria');
    await sessions.setActivePersona(binding, 'kira');
    expect(await sessions.activePersonaId(binding)).toBe('kira');
    expect((await store.getSession(binding.id))?.activePersonaId).toBe('kira');
  });

  it('knows a session it began has no active persona without reading the store, until it is switched', async () => {
    const begun = { id: sessions.begin(), userId: null };
    expect(begun.id).toMatch(SESSION_ID_PATTERN);
    expect(sessions.activePersonaIdNow(begun)).toBeNull();
    expect(sessions.activePersonaIdNow({ id: 'ses_never_seen', userId: null })).toBeUndefined();
    await sessions.setActivePersona(begun, 'aria');
    expect(sessions.activePersonaIdNow(begun)).toBe('aria');
    expect((await store.getSession(begun.id))?.activePersonaId).toBe('aria');
  });

  it('gives another user nothing for a session it does not own', async () => {
    await sessions.setActivePersona({ id: binding.id, userId: 'usr_a' }, 'aria');
    expect(await sessions.activePersonaId({ id: binding.id, userId: 'usr_a' })).toBe('aria');
    expect(await sessions.activePersonaId({ id: binding.id, userId: 'usr_b' })).toBeNull();
  });

  it('sees the persona a conversation start made active', async () => {
    const conversations = new ConversationService(store, { now: () => now }, events, sessions);
    expect(await sessions.activePersonaId(binding)).toBeNull();
    const kira = await store.getPersona('kira');
    await conversations.startWithUser(binding, kira!, { context: null, tokenBudget: null });
    expect(await sessions.activePersonaId(binding)).toBe('kira');
  });

  it('forgets the active persona when that persona is deleted', async () => {
    await sessions.setActivePersona(binding, 'aria');
    expect(await sessions.activePersonaId(binding)).toBe('aria');
    await store.deletePersona('aria', now);
    events.publish({ type: 'personaChanged', personaId: 'aria', change: 'deleted' });
    expect(await sessions.activePersonaId(binding)).toBeNull();
  });

  it('keeps sessions whose active persona was not the deleted one', async () => {
    await sessions.setActivePersona(binding, 'kira');
    await store.deletePersona('aria', now);
    events.publish({ type: 'personaChanged', personaId: 'aria', change: 'deleted' });
    expect(await sessions.activePersonaId(binding)).toBe('kira');
  });

  it('forgets sessions that retention removed', async () => {
    await sessions.setActivePersona(binding, 'aria');
    expect(await sessions.activePersonaId(binding)).toBe('aria');
    const retention = new RetentionService(store, { now: () => now }, pino({ level: 'silent' }), { sessionIdleMs: HOUR, messageMaxAgeMs: 0, maxMessagesPerConversation: 0 }, sessions);
    now = T0 + 2 * HOUR;
    expect((await retention.runOnce()).sessionsRemoved).toBe(1);
    expect(await store.getSession(binding.id)).toBeNull();
    expect(await sessions.activePersonaId(binding)).toBeNull();
  });

  it('rereads every session after a state import', async () => {
    await sessions.setActivePersona(binding, 'aria');
    expect(await sessions.activePersonaId(binding)).toBe('aria');
    // An import rewrites the sessions table underneath the service.
    await store.setActivePersona(binding.id, 'kira', now);
    events.publish({ type: 'stateImported', tables: ['sessions'] });
    expect(await sessions.activePersonaId(binding)).toBe('kira');
  });
});
