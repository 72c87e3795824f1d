/**
 * Builds the media features (attachments, avatars, scenes; issue 18) for `app.ts`: files by content hash
 * (their bytes where the store keeps them, `Storage.mediaBlobs`), their rows in the store (`Storage.media`), generated avatars, and
 * the links into the rest of the server — the scene in every turn's situation, avatars in Character
 * Cards — and owns the hourly clean-up of files nothing points at any more.
 */
import type { Logger } from 'pino';
import { DiceBearAvatars } from '../adapters/media/dicebear-avatars.js';
import { FileMedia } from '../adapters/media/file-media.js';
import type { Clock } from '../ports/clock.js';
import type { MediaBlobs, MediaIndex } from '../ports/media.js';
import type { ConversationService } from '../services/conversation-service.js';
import type { MediaServices } from '../services/media/index.js';
import { MediaService } from '../services/media/media-service.js';
import { SceneService } from '../services/media/scene-service.js';
import type { PersonaService } from '../services/persona-service.js';
import type { CardService } from '../services/state/card-service.js';
import type { TurnRunner } from '../services/turn-runner.js';

/** Stored files nothing points at (deleted messages, replaced avatars) are removed once this old. */
const UNREFERENCED_GRACE_MS = 3_600_000;

export interface MediaFeature {
  services: MediaServices;
  /** Starts the clean-up of unreferenced files, every `intervalMs`. */
  start(intervalMs: number): void;
  stop(): void;
}

export function composeMedia(deps: {
  /** The rows about media, in the store's database (compose-storage.ts). */
  index: MediaIndex;
  /** The bytes (compose-storage.ts): the data directory's `media/`, or PostgreSQL shared by every node. */
  blobs: MediaBlobs;
  maxBytes: number;
  personas: PersonaService;
  conversations: ConversationService;
  turns: TurnRunner;
  cards: CardService;
  clock: Clock;
  logger: Logger;
}): MediaFeature {
  const { clock, logger } = deps;
  const { index } = deps;
  const files = new FileMedia({ blobs: deps.blobs, maxBytes: deps.maxBytes, index: index.files, now: () => clock.now() });
  const media = new MediaService({ files, index, personas: deps.personas, avatars: new DiceBearAvatars() });
  const scenes = new SceneService({ index, media, conversations: deps.conversations, clock });
  deps.cards.useAvatars({
    uploadedPng: (persona) => media.uploadedAvatarPng(persona),
    generatedPng: (persona) => media.generatedAvatarPng(persona),
    adopt: (persona, png) => media.setAvatar(persona, { data: png.toString('base64') }),
  });
  // The scene enters the situation of every turn of its conversation: chats, groups, MCP tool calls.
  deps.turns.useScenes((conversationId) => scenes.promptText(conversationId));

  let timer: NodeJS.Timeout | null = null;
  return {
    services: { media, scenes },
    start(intervalMs) {
      timer = setInterval(() => {
        media
          .pruneUnreferenced(clock.now(), UNREFERENCED_GRACE_MS)
          .then((removed) => {
            if (removed > 0) logger.info({ removed }, 'removed unreferenced media files');
          })
          .catch((error: unknown) => logger.warn({ err: error }, 'media clean-up failed; it runs again later'));
      }, intervalMs);
      timer.unref();
    },
    stop() {
      if (timer !== null) clearInterval(timer);
      timer = null;
    },
  };
}
