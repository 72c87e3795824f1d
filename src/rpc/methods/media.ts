/**
 * Media methods: persona avatars, the scene of a conversation (`scene.set` / `scene.get`, and the old
 * server's `visual.update`), and the wire shapes of attachments that chat and history share.
 */
import { z } from 'zod';
import { AppError } from '../../domain/errors.js';
import type { AttachmentRecord, MediaInfo, SceneRecord } from '../../ports/media.js';
import type { Upload } from '../../services/media/media-service.js';
import type { Services } from '../../services/index.js';
import { defineMethod, type MethodDefinition } from '../registry.js';
import { conversationIdParam, isoTime, personaIdParam, toIso } from './wire.js';

/** A file in a request: base64 (or a `data:` URL), or `{data, mime_type}`. The type is read from the bytes. */
export const uploadParam = z
  .union([
    z.string().min(1),
    z.object({
      data: z.string().min(1).describe('The bytes, base64 (a data: URL is accepted).'),
      mime_type: z.string().max(100).optional().describe('What the client believes it is; the server reads the type from the content.'),
    }),
  ])
  .describe('A file as base64, or {data, mime_type}. Checked by content; see media.maxBytes for the size limit.');

export function toUpload(param: z.infer<typeof uploadParam>): Upload {
  return typeof param === 'string' ? { data: param } : { data: param.data, mimeType: param.mime_type };
}

export const attachmentWire = z.object({
  id: z.string().describe('SHA-256 of the file.'),
  kind: z.enum(['image', 'audio']),
  mime_type: z.string().describe('Read from the content.'),
  bytes: z.number().int(),
  width: z.number().int().nullable(),
  height: z.number().int().nullable(),
  url: z.string().describe('Relative to the server (`/media/ID`).'),
  thumbnail_url: z.string().nullable().describe('A small WebP of a picture; null for audio.'),
});

export function mediaToWire(info: MediaInfo): z.infer<typeof attachmentWire> {
  return {
    id: info.id,
    kind: info.kind,
    mime_type: info.mimeType,
    bytes: info.bytes,
    width: info.width,
    height: info.height,
    url: `/media/${info.id}`,
    thumbnail_url: info.hasThumbnail ? `/media/${info.id}/thumbnail` : null,
  };
}

export function attachmentsToWire(records: readonly AttachmentRecord[] | undefined): z.infer<typeof attachmentWire>[] {
  return (records ?? []).map((record) => mediaToWire(record.media));
}

export const sceneWire = z.object({
  conversation_id: z.string(),
  location: z.string().nullable(),
  time_of_day: z.string().nullable(),
  weather: z.string().nullable(),
  present: z.array(z.string()).describe('Who is there (names, free text).'),
  description: z.string().nullable(),
  image_url: z.string().nullable().describe('The scene picture (`/media/ID`), when one was given.'),
  updated_at: isoTime.nullable().describe('Null while no scene was set.'),
});

export function sceneToWire(scene: SceneRecord): z.infer<typeof sceneWire> {
  return {
    conversation_id: scene.conversationId,
    location: scene.location,
    time_of_day: scene.timeOfDay,
    weather: scene.weather,
    present: scene.present,
    description: scene.description,
    image_url: scene.imageMediaId === null ? null : `/media/${scene.imageMediaId}`,
    updated_at: scene.updatedAt === 0 ? null : toIso(scene.updatedAt),
  };
}

const sceneFields = {
  location: z.string().max(1000).nullable().optional().describe('Where: "the Silver Stag tavern". null clears it.'),
  time_of_day: z.string().max(1000).nullable().optional().describe('When: "late evening".'),
  weather: z.string().max(1000).nullable().optional().describe('"rain on the windows".'),
  present: z.array(z.string().max(1000)).max(100).optional().describe('Who is there besides the speakers.'),
  description: z.string().max(10_000).nullable().optional().describe('Anything else about the scene.'),
};

export function mediaMethods(services: Services): MethodDefinition[] {
  const { personas, sessions, conversations } = services;
  const { media, scenes } = services.media;

  return [
    defineMethod({
      name: 'persona.set_avatar',
      summary: "Upload a persona's avatar (PNG, JPEG, WebP or GIF), or remove it (null) to use the generated one.",
      description:
        'The picture is checked by content and stored once by its hash; `persona.list` and `persona.get` then give its `avatar_url`, ' +
        'and PNG Character Cards carry it. SVG is not accepted (it can carry script).',
      params: z.object({ persona_id: personaIdParam, image: uploadParam.nullable() }),
      result: z.object({ persona_id: z.string(), avatar_url: z.string(), is_generated: z.boolean() }),
      hints: { idempotent: true },
      // Changing a persona's picture is changing the persona: its owner (or an admin), as persona.update.
      requires: { owner: 'persona', param: 'persona_id' },
      handler: async ({ persona_id, image }) => {
        const persona = personas.resolve(persona_id);
        const updated = image === null ? await media.clearAvatar(persona) : await media.setAvatar(persona, toUpload(image));
        return { persona_id: updated.id, avatar_url: media.avatarUrl(updated), is_generated: media.avatarMediaId(updated) === null };
      },
    }),

    defineMethod({
      name: 'scene.get',
      summary: 'The scene of a conversation: where, when, the weather, who is present, a description and a picture.',
      params: z.object({ conversation_id: conversationIdParam }),
      result: sceneWire,
      hints: { readOnly: true, idempotent: true },
      requires: 'user',
      handler: async ({ conversation_id }, context) => sceneToWire(await scenes.get(context.session, conversation_id)),
    }),

    defineMethod({
      name: 'scene.set',
      summary: "Set a conversation's scene; every persona speaking in it is told, and subscribers get `conversation.scene`.",
      description:
        'Only the fields given change; `null` clears one. `image` (base64 picture, or null to remove it) is stored like an attachment. ' +
        'The scene enters the system prompt of every participant from the next turn on.',
      params: z.object({ conversation_id: conversationIdParam, ...sceneFields, image: uploadParam.nullable().optional() }),
      result: sceneWire,
      hints: { idempotent: true },
      requires: 'user',
      handler: async (params, context) => {
        const scene = await scenes.set(context.session, params.conversation_id, {
          location: params.location,
          timeOfDay: params.time_of_day,
          weather: params.weather,
          present: params.present,
          description: params.description,
          image: params.image === undefined ? undefined : params.image === null ? null : toUpload(params.image),
        });
        return sceneToWire(scene);
      },
    }),

    defineMethod({
      name: 'visual.update',
      summary: "The old server's scene update: `type` \"scene\" with `data` {conversation_id?, location, time_of_day, weather, present, description}.",
      description:
        'Kept for old clients; `scene.set` is the same with named params. Without `data.conversation_id` it sets the scene of the ' +
        "session's current conversation with its active persona.",
      params: z.object({
        type: z.enum(['scene', 'environment', 'location']).describe('"scene" ("environment" and "location" are taken as the same).'),
        data: z
          .object({ conversation_id: conversationIdParam.optional(), ...sceneFields })
          .passthrough()
          .describe('The scene fields; unknown ones are ignored.'),
      }),
      result: z.object({ visual_updated: z.literal(true), update_type: z.string(), timestamp: isoTime, scene: sceneWire }),
      requires: 'user',
      handler: async ({ type, data }, context) => {
        let conversationId = data.conversation_id;
        if (conversationId === undefined) {
          const active = await sessions.activePersonaId(context.session);
          const current = active === null ? null : await conversations.activeWith(context.session, active);
          if (current === null) {
            throw new AppError('conversation_not_found', 'No current conversation to set the scene of: pass data.conversation_id, or chat with a persona first.');
          }
          conversationId = current.id;
        }
        const scene = await scenes.set(context.session, conversationId, {
          location: data.location,
          timeOfDay: data.time_of_day,
          weather: data.weather,
          present: data.present,
          description: data.description,
        });
        return { visual_updated: true as const, update_type: type, timestamp: toIso(scene.updatedAt), scene: sceneToWire(scene) };
      },
    }),
  ];
}
