/**
 * The scene of a conversation (`scene.set` / `scene.get`, and the old `visual.update`): stored per
 * conversation, told to every persona that speaks in it (the turn pipeline's scene source puts it in the
 * situation of every turn: chats, groups, MCP), and announced to subscribers when it changes.
 */
import { AppError } from '../../domain/errors.js';
import { describeScene, SCENE_DESCRIPTION_MAX_CHARS, SCENE_FIELD_MAX_CHARS, SCENE_MAX_PRESENT } from '../../domain/scene.js';
import type { Clock } from '../../ports/clock.js';
import type { MediaIndex, SceneRecord } from '../../ports/media.js';
import type { ConversationService } from '../conversation-service.js';
import type { SessionBinding } from '../session-binding.js';
import type { MediaService, Upload } from './media-service.js';

/** The fields `scene.set` changes; a field left undefined keeps its value, null clears it. */
export interface ScenePatch {
  location?: string | null | undefined;
  timeOfDay?: string | null | undefined;
  weather?: string | null | undefined;
  present?: string[] | undefined;
  description?: string | null | undefined;
  /** A new picture, or null to remove it. */
  image?: Upload | null | undefined;
}

export type SceneListener = (scene: SceneRecord) => void;

export class SceneService {
  private readonly listeners = new Set<SceneListener>();

  constructor(
    private readonly deps: {
      index: MediaIndex;
      media: MediaService;
      conversations: ConversationService;
      clock: Clock;
    },
  ) {}

  /** The scene, empty when none was set (the conversation must be the caller's). */
  async get(binding: SessionBinding, conversationId: string): Promise<SceneRecord> {
    const conversation = await this.deps.conversations.accessible(binding, conversationId);
    return (await this.deps.index.getScene(conversation.id)) ?? emptyScene(conversation.id, 0);
  }

  async set(binding: SessionBinding, conversationId: string, patch: ScenePatch): Promise<SceneRecord> {
    const conversation = await this.deps.conversations.accessible(binding, conversationId);
    if (conversation.status !== 'active') {
      throw new AppError('conflict', `Conversation "${conversation.id}" has ended; a scene can only be set for an active conversation.`);
    }
    const current = (await this.deps.index.getScene(conversation.id)) ?? emptyScene(conversation.id, 0);
    const present = patch.present === undefined ? current.present : cleanNames(patch.present);
    let imageMediaId = current.imageMediaId;
    if (patch.image === null) imageMediaId = null;
    else if (patch.image !== undefined) imageMediaId = (await this.deps.media.storeImage(patch.image)).id;
    const scene: SceneRecord = {
      conversationId: conversation.id,
      location: field(patch.location, current.location, 'location', SCENE_FIELD_MAX_CHARS),
      timeOfDay: field(patch.timeOfDay, current.timeOfDay, 'time_of_day', SCENE_FIELD_MAX_CHARS),
      weather: field(patch.weather, current.weather, 'weather', SCENE_FIELD_MAX_CHARS),
      present,
      description: field(patch.description, current.description, 'description', SCENE_DESCRIPTION_MAX_CHARS),
      imageMediaId,
      updatedAt: this.deps.clock.now(),
    };
    await this.deps.index.putScene(scene);
    for (const listener of this.listeners) listener(scene);
    return scene;
  }

  /** Scene changes, for subscribers' notifications. Returns the function that stops listening. */
  onChange(listener: SceneListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The scene as the personas of a conversation are told it (after "The scene: "), or null when none is set. */
  async promptText(conversationId: string): Promise<string | null> {
    const scene = await this.deps.index.getScene(conversationId);
    if (scene === null) return null;
    const text = describeScene(scene);
    return text === '' ? null : text;
  }
}

export function emptyScene(conversationId: string, updatedAt: number): SceneRecord {
  return { conversationId, location: null, timeOfDay: null, weather: null, present: [], description: null, imageMediaId: null, updatedAt };
}

function field(next: string | null | undefined, current: string | null, name: string, max: number): string | null {
  if (next === undefined) return current;
  if (next === null) return null;
  const text = next.trim();
  if (text.length > max) throw new AppError('limit_exceeded', `The scene's ${name} has ${text.length} characters; at most ${max} are accepted.`);
  return text === '' ? null : text;
}

function cleanNames(names: string[]): string[] {
  const cleaned = names.map((name) => name.trim()).filter((name) => name !== '');
  if (cleaned.length > SCENE_MAX_PRESENT) throw new AppError('limit_exceeded', `At most ${SCENE_MAX_PRESENT} names may be present in a scene; ${cleaned.length} were given.`);
  for (const name of cleaned) {
    if (name.length > SCENE_FIELD_MAX_CHARS) throw new AppError('limit_exceeded', `A name in the scene has ${name.length} characters; at most ${SCENE_FIELD_MAX_CHARS} are accepted.`);
  }
  return cleaned;
}
