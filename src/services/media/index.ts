/** Attachments, avatars and scenes (issue 18), built in `src/app/compose-media.ts`. */
import type { MediaService } from './media-service.js';
import type { SceneService } from './scene-service.js';

export interface MediaServices {
  media: MediaService;
  scenes: SceneService;
}
