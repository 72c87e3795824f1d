/**
 * Media use cases: storing what people attach to messages (checked, deduplicated, thumbnailed), which
 * message carries what, and persona avatars — an uploaded picture, else a generated one.
 */
import { AppError } from '../../domain/errors.js';
import type { PersonaDefinition } from '../../domain/persona.js';
import type { LlmImage } from '../../ports/llm.js';
import type { AttachmentRecord, AvatarGenerator, MediaFiles, MediaIndex, MediaInfo, MediaKind } from '../../ports/media.js';
import type { MessageRecord, PersonaRecord } from '../../ports/store.js';
import type { PersonaService } from '../persona-service.js';

/** At most this many files on one message. */
export const MAX_ATTACHMENTS_PER_MESSAGE = 4;
/** Avatars stored by upload are written `media:<sha256>` in the persona's `avatar` field. */
const MEDIA_AVATAR = /^media:([0-9a-f]{64})$/;
/** Side of a generated avatar as PNG (Character Card images). */
const CARD_AVATAR_SIDE = 512;

/** A file as a client sent it: base64 bytes, and the type it claimed (checked against the content). */
export interface Upload {
  data: string;
  mimeType?: string | undefined;
}

/** What a turn sends on: the pictures for the model, the notes about the rest, and what was stored. */
export interface PreparedAttachments {
  stored: MediaInfo[];
  images: LlmImage[];
  notes: string[];
}

export class MediaService {
  constructor(
    private readonly deps: {
      files: MediaFiles;
      index: MediaIndex;
      personas: PersonaService;
      avatars: AvatarGenerator;
    },
  ) {}

  /**
   * Checks and stores a message's attachments before the turn starts, so a bad file is refused before
   * anything is written. Pictures go to the model; audio is stored and playable, and the model is
   * told it is there (it cannot hear it) rather than it being dropped silently.
   */
  async prepare(images: readonly Upload[], audio: readonly Upload[]): Promise<PreparedAttachments> {
    if (images.length + audio.length > MAX_ATTACHMENTS_PER_MESSAGE) {
      throw new AppError('limit_exceeded', `At most ${MAX_ATTACHMENTS_PER_MESSAGE} files may be attached to one message; ${images.length + audio.length} were sent.`);
    }
    const storedImages = await Promise.all(images.map((upload) => this.deps.files.put(decode(upload), ['image'])));
    const storedAudio = await Promise.all(audio.map((upload) => this.deps.files.put(decode(upload), ['audio'])));
    return {
      stored: [...storedImages, ...storedAudio],
      images: storedImages.map((info, index) => ({ mimeType: info.mimeType, data: stripDataUrl(images[index]!.data) })),
      notes: storedAudio.map((info) => `[The visitor also sent an audio clip (${info.mimeType}, ${Math.round(info.bytes / 1024)} KB), which you cannot hear; say so if it matters.]`),
    };
  }

  async attach(message: MessageRecord, media: readonly MediaInfo[]): Promise<void> {
    if (media.length > 0) await this.deps.index.attach(message.id, media);
  }

  attachmentsOf(messageIds: readonly number[]): Promise<Map<number, AttachmentRecord[]>> {
    return messageIds.length === 0 ? Promise.resolve(new Map()) : this.deps.index.attachmentsOf(messageIds);
  }

  /** Stores one picture (a scene image) and returns what it is. */
  storeImage(upload: Upload): Promise<MediaInfo> {
    return this.deps.files.put(decode(upload), ['image']);
  }

  /** Makes an uploaded picture the persona's avatar. */
  async setAvatar(persona: PersonaRecord, upload: Upload): Promise<PersonaRecord> {
    const info = await this.deps.files.put(decode(upload), ['image']);
    return this.deps.personas.update({ ...definitionOf(persona), avatar: `media:${info.id}` });
  }

  /** Goes back to the generated avatar. */
  async clearAvatar(persona: PersonaRecord): Promise<PersonaRecord> {
    return this.deps.personas.update({ ...definitionOf(persona), avatar: null });
  }

  /** The stored picture behind a persona's avatar, when it has an uploaded one. */
  avatarMediaId(persona: Pick<PersonaDefinition, 'avatar'>): string | null {
    return MEDIA_AVATAR.exec(persona.avatar ?? '')?.[1] ?? null;
  }

  /** Where the app loads the avatar from, relative to the server: the upload, or the generated picture. */
  avatarUrl(persona: Pick<PersonaDefinition, 'id' | 'avatar'>): string {
    const media = this.avatarMediaId(persona);
    return media === null ? `/avatars/${encodeURIComponent(persona.id)}.svg` : `/media/${media}`;
  }

  generatedAvatarSvg(seed: string): string {
    return this.deps.avatars.svg(seed);
  }

  /** The uploaded avatar as PNG (Character Card PNGs), or null when the persona has none. */
  async uploadedAvatarPng(persona: PersonaRecord): Promise<Buffer | null> {
    const media = this.avatarMediaId(persona);
    return media === null ? null : this.deps.files.toPng(media).catch(() => null);
  }

  /** The generated avatar as PNG. */
  generatedAvatarPng(persona: PersonaRecord): Promise<Buffer> {
    return this.deps.avatars.png(persona.id, CARD_AVATAR_SIDE);
  }

  /**
   * Removes stored files nothing points at any more (messages deleted by retention, avatars and scene
   * pictures replaced), once they are older than `minAgeMs` — younger ones may belong to a turn still
   * being stored. Returns how many were removed. Keeps the data directory bounded.
   */
  async pruneUnreferenced(now: number, minAgeMs: number): Promise<number> {
    const candidates = await this.deps.index.storedBefore(now - minAgeMs);
    if (candidates.length === 0) return 0;
    const referenced = await this.deps.index.referencedMedia();
    for (const persona of this.deps.personas.list()) {
      const avatar = this.avatarMediaId(persona);
      if (avatar !== null) referenced.add(avatar);
    }
    let removed = 0;
    for (const id of candidates) {
      if (referenced.has(id)) continue;
      await this.deps.files.remove(id);
      removed += 1;
    }
    return removed;
  }

  read(id: string, variant: 'original' | 'thumbnail'): Promise<{ info: MediaInfo; data: Buffer } | null> {
    return this.deps.files.read(id, variant);
  }
}

function definitionOf(persona: PersonaRecord): PersonaDefinition {
  const { isBuiltin: _builtin, createdAt: _created, updatedAt: _updated, ...definition } = persona;
  return definition;
}

function stripDataUrl(data: string): string {
  const comma = data.startsWith('data:') ? data.indexOf(',') : -1;
  return (comma >= 0 ? data.slice(comma + 1) : data).replace(/\s+/g, '');
}

/** Base64 (optionally a `data:` URL) to bytes; anything else is refused with a clear error. */
function decode(upload: Upload): Buffer {
  const text = stripDataUrl(upload.data);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length === 0) {
    throw new AppError('invalid_media', 'The file must be sent as base64 (optionally a data: URL); this is not base64.');
  }
  return Buffer.from(text, 'base64');
}

/** `MediaKind`s by the name clients use. */
export const MEDIA_KINDS: readonly MediaKind[] = ['image', 'audio'];
