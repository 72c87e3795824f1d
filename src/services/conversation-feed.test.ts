/** The conversation feed with in-memory fakes of its ports: one update per event, participants looked up once. */
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../adapters/events/in-process-bus.js';
import type { MessageRecord, PersonaRecord } from '../ports/store.js';
import { ConversationFeed, type ConversationUpdate } from './conversation-feed.js';
import type { SceneRecord } from '../ports/media.js';
import type { GroupStatusChange, SpeakerChosen } from './group/group-conversation-service.js';

const message: MessageRecord = {
  id: 7,
  conversationId: 'conv_1',
  role: 'assistant',
  personaId: 'aria',
  content: 'Hello!',
  tokens: 2,
  promptTokens: null,
  processingMs: null,
  createdAt: 1_700_000_000_000,
};

function setup() {
  const events = new InProcessEventBus();
  const lookups: string[] = [];
  const statusListeners: Array<(change: GroupStatusChange) => void> = [];
  const sceneListeners: Array<(scene: SceneRecord) => void> = [];
  const speakerListeners: Array<(choice: SpeakerChosen) => void> = [];
  const feed = new ConversationFeed({
    events,
    personas: { find: (id) => (id === 'aria' ? ({ id: 'aria', name: 'Aria' } as PersonaRecord) : null) },
    conversations: {
      participants: async (conversationId) => {
        lookups.push(conversationId);
        return ['aria', 'kira'];
      },
    },
    groupStatus: (listener) => {
      statusListeners.push(listener);
      return () => statusListeners.splice(statusListeners.indexOf(listener), 1);
    },
    sceneChanges: (listener) => {
      sceneListeners.push(listener);
      return () => sceneListeners.splice(sceneListeners.indexOf(listener), 1);
    },
    speakerChoices: (listener) => {
      speakerListeners.push(listener);
      return () => speakerListeners.splice(speakerListeners.indexOf(listener), 1);
    },
    logger: pino({ level: 'silent' }),
  });
  return { events, feed, lookups, statusListeners, sceneListeners, speakerListeners };
}

describe('ConversationFeed', () => {
  it('turns a stored message into one turn update, named once and with participants looked up once for every listener', async () => {
    const { events, feed, lookups } = setup();
    const heard: ConversationUpdate[][] = [[], [], []];
    heard.forEach((list) => feed.subscribe((update) => list.push(update)));

    events.publish({ type: 'messageStored', conversationId: 'conv_1', message });

    expect(heard.map((list) => list.length)).toEqual([1, 1, 1]);
    const [update] = heard[0]!;
    expect(update).toMatchObject({ kind: 'turn', conversationId: 'conv_1', speakerName: 'Aria', message });
    // Every listener gets the same object, so the lookup below is shared.
    expect(heard[1]![0]).toBe(update);
    const all = await Promise.all(heard.map((list) => list[0]!.participants()));
    expect(all).toEqual([['aria', 'kira'], ['aria', 'kira'], ['aria', 'kira']]);
    expect(lookups).toEqual(['conv_1']);
  });

  it('reports ends and group pauses, but not a finished group (its end says it), and stops on close', () => {
    const { events, feed, statusListeners } = setup();
    const updates: ConversationUpdate[] = [];
    feed.subscribe((update) => updates.push(update));

    statusListeners.forEach((listener) => listener({ conversationId: 'conv_2', status: 'paused', reason: 'model down' }));
    statusListeners.forEach((listener) => listener({ conversationId: 'conv_2', status: 'finished', reason: 'turn_cap' }));
    events.publish({ type: 'conversationEnded', conversationId: 'conv_2', reason: 'turn_cap' });
    expect(updates.map((update) => update.kind)).toEqual(['status', 'ended']);
    expect(updates[0]).toMatchObject({ status: 'paused', reason: 'model down' });

    feed.close();
    events.publish({ type: 'messageStored', conversationId: 'conv_2', message });
    expect(updates).toHaveLength(2);
    expect(statusListeners).toHaveLength(0);
  });

  it('reports a scene change and a group\'s next speaker with the reason in words, each once', () => {
    const { feed, sceneListeners, speakerListeners } = setup();
    const updates: ConversationUpdate[] = [];
    feed.subscribe((update) => updates.push(update));

    const scene: SceneRecord = { conversationId: 'conv_3', location: 'the tavern', timeOfDay: null, weather: null, present: [], description: null, imageMediaId: null, updatedAt: 5 };
    sceneListeners.forEach((listener) => listener(scene));
    speakerListeners.forEach((listener) => listener({ conversationId: 'conv_3', personaId: 'aria', mode: 'continue', desire: 80, desires: { aria: 80, kira: 41.6 } }));

    expect(updates.map((update) => update.kind)).toEqual(['scene', 'speaker']);
    expect(updates[0]).toMatchObject({ kind: 'scene', conversationId: 'conv_3', scene });
    expect(updates[1]).toMatchObject({ kind: 'speaker', speakerName: 'Aria', reason: 'Aria wants to speak most (desire 80, against kira 42)' });
    feed.close();
    expect(sceneListeners).toHaveLength(0);
    expect(speakerListeners).toHaveLength(0);
  });
});
