/**
 * The turn pipeline on its own: a real SQLite store in a temp dir, the shipped personas, a fixed clock
 * and an in-memory fake of the LLM port that records what it was asked.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../adapters/events/in-process-bus.js';
import { loadPersonaFiles, shippedPersonasDir } from '../adapters/persona-files.js';
import { SqliteStore } from '../adapters/sqlite/sqlite-store.js';
import { isAppError } from '../domain/errors.js';
import type { DomainEvent } from '../ports/events.js';
import type { LlmChatEvent, LlmChatRequest, LlmProvider } from '../ports/llm.js';
import type { ConversationRecord, MessageRecord } from '../ports/store.js';
import { PersonaService } from './persona-service.js';
import type { CompletedTurn, TurnObserver } from './turn-hooks.js';
import { TurnRunner, type TurnSettings } from './turn-runner.js';

const T0 = 1_700_000_000_000;

/** An LLM that answers with fixed text (or breaks off), recording each request. */
class ScriptedLlm implements LlmProvider {
  readonly name = 'scripted';
  readonly requests: LlmChatRequest[] = [];
  reply = 'Well met, traveller.';
  breaksOff = false;

  async *chat(request: LlmChatRequest): AsyncIterable<LlmChatEvent> {
    this.requests.push(request);
    for (const word of this.reply.split(/(?<= )/)) yield { type: 'delta', text: word };
    if (!this.breaksOff) yield { type: 'done', promptTokens: 40, completionTokens: 4, model: request.model };
  }
  async listModels() {
    return [];
  }
  async status() {
    return { reachable: true, provider: this.name, endpoint: 'memory' };
  }
}

class RecordingObserver implements TurnObserver {
  readonly turns: CompletedTurn[] = [];
  constructor(
    readonly name: string,
    readonly conversationKinds?: ('user' | 'personas')[],
  ) {}
  async turnCompleted(turn: CompletedTurn): Promise<void> {
    this.turns.push(turn);
  }
}

let dir: string;
let store: SqliteStore;
let events: InProcessEventBus;
let published: DomainEvent[];
let personas: PersonaService;
let llm: ScriptedLlm;
let settings: TurnSettings;
let runner: TurnRunner;
let now: number;

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-turns-'));
  store = SqliteStore.open(path.join(dir, 'test.db'));
  events = new InProcessEventBus();
  published = [];
  events.subscribe((event) => published.push(event));
  now = T0;
  const clock = { now: () => now };
  personas = new PersonaService(store, clock, events);
  await personas.initialise(loadPersonaFiles(shippedPersonasDir()));
  llm = new ScriptedLlm();
  settings = {
    defaultModel: 'llama3.1:8b',
    defaultTokenBudget: 300,
    maxTokenBudget: 1000,
    maxMessageChars: 200,
    historyMessages: 20,
    maxConcurrentTurnsPerSession: 2,
    maxQueuedTurnsPerConversation: 4,
    contextTokens: 4096,
    modelContextTokens: {},
  };
  runner = new TurnRunner({ store, personas, llm, clock, events, logger: pino({ level: 'silent' }), settings });
});
afterEach(async () => {
  await store.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const session = { id: 'ses_turn_runner', userId: null };

async function chatTurn(message: string): Promise<{ conversation: ConversationRecord; userMessage: MessageRecord; history: MessageRecord[] }> {
  const stored = await store.appendUserTurn({ sessionId: session.id, personaId: 'aria', content: message, tokens: 3, now });
  return { ...stored, userMessage: stored.message, history: await store.recentMessages(stored.conversation.id, settings.historyMessages) };
}

describe('TurnRunner', () => {
  it('stores the reply with the spent energy, publishes it, runs the chat observers, and scores on the energy it answered with', async () => {
    const chatObserver = new RecordingObserver('chat');
    const groupObserver = new RecordingObserver('group', ['personas']);
    runner.addObserver(chatObserver);
    runner.addObserver(groupObserver);
    const aria = personas.resolve('aria');
    const before = (await personas.snapshot(aria)).state.energy;
    const { conversation, userMessage, history } = await chatTurn('Hello there!');
    now += 2_000;

    const outcome = await runner.run({ session, persona: aria, conversation, userMessage, history, replyTokens: 120 }, { signal: new AbortController().signal });
    await outcome.observed;

    expect(outcome.reply).toBe('Well met, traveller.');
    const [stored] = await store.recentMessages(conversation.id, 1);
    expect(stored).toMatchObject({ id: outcome.replyMessage.id, role: 'assistant', content: 'Well met, traveller.', tokens: 4, promptTokens: 40 });
    // The energy was spent once and stored with the reply (the store's copy is the one the service returns).
    expect(outcome.state.energy).toBeLessThan(before);
    expect((await store.getPersonaState('aria'))?.energy).toBe(outcome.state.energy);
    expect(published.filter((event) => event.type === 'messageStored')).toHaveLength(1);
    expect(chatObserver.turns.map((turn) => turn.replyMessage.id)).toEqual([outcome.replyMessage.id]);
    expect(groupObserver.turns).toHaveLength(0);
    // One continue score, the one the prompt was built with.
    expect(outcome.continueScore).toBe(outcome.prepared.continueScore);
    expect(outcome.prepared.energyBefore.energy).toBe(before);
  });

  it('publishes the stored reply and starts its observers only after the turn has returned (its answer goes out first)', async () => {
    const chatObserver = new RecordingObserver('chat');
    runner.addObserver(chatObserver);
    const { conversation, userMessage, history } = await chatTurn('Hello there!');
    const storedReplies = (): number => published.filter((event) => event.type === 'messageStored' && event.message.role === 'assistant').length;

    const outcome = await runner.run({ session, persona: personas.resolve('aria'), conversation, userMessage, history, replyTokens: 120 }, { signal: new AbortController().signal });
    const whenReturned = { published: storedReplies(), observed: chatObserver.turns.length };
    await outcome.observed;

    expect(whenReturned).toEqual({ published: 0, observed: 0 });
    expect({ published: storedReplies(), observed: chatObserver.turns.length }).toEqual({ published: 1, observed: 1 });
  });

  it('reads its settings when each turn runs: a changed model, context window and message limit apply to the next turn', async () => {
    const aria = personas.resolve('aria');
    const first = await chatTurn('First words');
    await runner.run({ session, persona: aria, ...first, replyTokens: 100 }, { signal: new AbortController().signal });
    settings.defaultModel = 'live-model';
    settings.modelContextTokens = { 'live-model': 2048 };
    settings.maxMessageChars = 10;
    const second = await chatTurn('Second words');
    await runner.run({ session, persona: aria, ...second, replyTokens: 100 }, { signal: new AbortController().signal });

    expect(llm.requests.map((request) => [request.model, request.contextTokens])).toEqual([
      ['llama3.1:8b', 4096],
      ['live-model', 2048],
    ]);
    expect(() => runner.checkMessage('x'.repeat(11))).toThrow(/at most 10 .*chat\.maxMessageChars/);
    expect(() => runner.tokenBudget(1001)).toThrow(/chat\.maxTokenBudget/);
    expect(runner.tokenBudget(undefined)).toBe(300);
  });

  it('fails a reply that broke off, storing nothing and keeping the energy', async () => {
    llm.breaksOff = true;
    const aria = personas.resolve('aria');
    const turn = await chatTurn('Are you there?');
    const before = (await personas.snapshot(aria)).state;
    const error = await runner.run({ session, persona: aria, ...turn, replyTokens: 100 }, { signal: new AbortController().signal }).catch((caught: unknown) => caught);
    expect(isAppError(error) && error.kind).toBe('llm_failed');
    expect((await store.recentMessages(turn.conversation.id, 5)).map((message) => message.role)).toEqual(['user']);
    expect((await personas.snapshot(aria)).state.energy).toBe(before.energy);
  });

  it('builds a group turn from its view: transcript, rules, a cleaned reply, and only the group observers', async () => {
    const chatObserver = new RecordingObserver('chat');
    const groupObserver = new RecordingObserver('group', ['personas']);
    runner.addObserver(chatObserver);
    runner.addObserver(groupObserver);
    llm.reply = 'Kira: The stars are bright tonight.';
    const kira = personas.resolve('kira');
    const conversation = await store.startConversation({
      id: 'conv_group_test',
      sessionId: null,
      kind: 'personas',
      personaIds: ['aria', 'kira'],
      topic: 'the night sky',
      context: null,
      startedAt: now,
      tokenBudget: null,
    });
    const heard = await store.appendMessage({
      conversationId: conversation.id,
      role: 'assistant',
      personaId: 'aria',
      content: 'Look up, Kira!',
      tokens: 3,
      promptTokens: null,
      processingMs: null,
      createdAt: now,
    });

    const outcome = await runner.run(
      {
        session,
        persona: kira,
        conversation,
        userMessage: null,
        history: [heard],
        replyTokens: 80,
        view: {
          situation: { otherParticipants: ['Aria'] },
          sections: ['Reply only as Kira.'],
          messages: (shown) => shown.map((message) => ({ role: 'user' as const, content: `Aria: ${message.content}` })),
          cleanReply: (text) => text.replace(/^Kira:\s*/, ''),
        },
      },
      { signal: new AbortController().signal },
    );
    await outcome.observed;

    expect(outcome.reply).toBe('The stars are bright tonight.');
    const request = llm.requests[0]!;
    expect(request.maxTokens).toBe(80);
    expect(request.messages[0]?.content).toContain('Reply only as Kira.');
    expect(request.messages.at(-1)).toEqual({ role: 'user', content: 'Aria: Look up, Kira!' });
    expect(groupObserver.turns.map((turn) => turn.heard.map((message) => message.id))).toEqual([[heard.id]]);
    expect(chatObserver.turns).toHaveLength(0);
  });
});
