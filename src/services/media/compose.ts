/** Builds the media services (attachments, avatars, scenes) on the adapters `app.ts` hands in. */
import type { Clock } from '../../ports/clock.js';
import type { AvatarGenerator, MediaFiles, MediaIndex } from '../../ports/media.js';
import type { ConversationService } from '../conversation-service.js';
import type { PersonaService } from '../persona-service.js';
import { MediaService } from './media-service.js';
import { SceneService } from './scene-service.js';

export interface MediaServices {
  media: MediaService;
  scenes: SceneService;
}

export function composeMedia(deps: {
  files: MediaFiles;
  index: MediaIndex;
  avatars: AvatarGenerator;
  personas: PersonaService;
  conversations: ConversationService;
  clock: Clock;
}): MediaServices {
  const media = new MediaService({ files: deps.files, index: deps.index, personas: deps.personas, avatars: deps.avatars });
  const scenes = new SceneService({ index: deps.index, media, conversations: deps.conversations, clock: deps.clock });
  return { media, scenes };
}
