/** The media index contract (what each file is, attachments, scenes); src/adapters/postgres/pg-media-index.test.ts runs it on PostgreSQL. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildPersonaDefinition } from '../../domain/persona-schema.js';
import type { MediaIndex, MediaInfo } from '../../ports/media.js';
import type { Store } from '../../ports/store.js';
import { PostgresMediaIndex } from '../postgres/pg-media-index.js';
import { PostgresStore } from '../postgres/pg-store.js';
import { dropFreshPostgres, freshPostgres, onPostgres } from '../../../test/helpers/store-backend.js';
import { SqliteMediaIndex } from './media-index.js';
import { SqliteStore } from './sqlite-store.js';

let store: Store;
let index: MediaIndex;
const T0 = 1_700_000_000_000;
const picture: MediaInfo = { id: 'a'.repeat(64), kind: 'image', mimeType: 'image/png', bytes: 2048, width: 640, height: 480, hasThumbnail: true };
const clip: MediaInfo = { id: 'b'.repeat(64), kind: 'audio', mimeType: 'audio/mpeg', bytes: 4096, width: null, height: null, hasThumbnail: false };

beforeEach(async () => {
  if (onPostgres()) {
    const database = await freshPostgres();
    store = new PostgresStore(database);
    index = new PostgresMediaIndex(database);
  } else {
    const sqlite = SqliteStore.open(':memory:');
    store = sqlite;
    index = new SqliteMediaIndex(sqlite.database, ':memory:');
  }
  await store.insertPersona(buildPersonaDefinition({ name: 'Aria' }), T0);
});
afterEach(async () => {
  await store.close();
  if (onPostgres()) await dropFreshPostgres();
});

describe('MediaIndex', () => {
  it('records a file once, attaches files to a message in order, and lists them per message', async () => {
    await index.files.put(picture, T0);
    await index.files.put(picture, T0 + 5); // the same bytes again: nothing changes
    await index.files.put(clip, T0 + 10);
    expect(await index.files.get(picture.id)).toEqual(picture);
    const { message } = await store.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: 'look', tokens: 1, now: T0 });
    await index.attach(message.id, [picture, clip]);

    const attached = await index.attachmentsOf([message.id, message.id + 1000]);
    expect([...attached.keys()]).toEqual([message.id]);
    expect(attached.get(message.id)).toEqual([
      { messageId: message.id, position: 0, media: picture },
      { messageId: message.id, position: 1, media: clip },
    ]);
    expect(await index.storedBefore(T0 + 10)).toEqual([picture.id]);
    expect(await index.referencedMedia()).toEqual(new Set([picture.id, clip.id]));
  });

  it('stores a scene per conversation, replaces it, and counts its picture as referenced', async () => {
    const { conversation } = await store.appendUserTurn({ sessionId: 's1', personaId: 'aria', content: 'hello', tokens: 1, now: T0 });
    expect(await index.getScene(conversation.id)).toBeNull();
    await index.files.put(picture, T0);
    const scene = { conversationId: conversation.id, location: 'the tavern', timeOfDay: 'night', weather: null, present: ['an old sailor'], description: null, imageMediaId: picture.id, updatedAt: T0 + 1 };
    await index.putScene(scene);
    expect(await index.getScene(conversation.id)).toEqual(scene);
    await index.putScene({ ...scene, weather: 'rain', imageMediaId: null, updatedAt: T0 + 2 });
    expect(await index.getScene(conversation.id)).toMatchObject({ location: 'the tavern', weather: 'rain', imageMediaId: null });
    expect(await index.referencedMedia()).toEqual(new Set());
    await index.files.remove(picture.id);
    expect(await index.files.get(picture.id)).toBeNull();
  });
});
