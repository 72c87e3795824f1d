/**
 * The scene of a conversation (`scene.get` / `scene.set`): where it takes place, when, the weather,
 * who is present, a free description and an optional picture. Changes made anywhere arrive as
 * `conversation.scene` notifications and show here at once.
 */
import { useEffect, useState } from 'preact/hooks';
import { ErrorBox, fileToBase64, useClient } from '../shared.js';
import type { Scene } from '../types.js';
import { downscale } from './gallery.js';

export function ScenePanel({ conversationId }: { conversationId: string }) {
  const client = useClient();
  const [scene, setScene] = useState<Scene | null>(null);
  const [isEditing, setEditing] = useState(false);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let active = true;
    void client
      .call<Scene>('scene.get', { conversation_id: conversationId })
      .then((loaded) => active && setScene(loaded))
      .catch((caught: unknown) => active && setError(caught));
    void client.subscribe(conversationId).catch(() => undefined);
    const stop = client.on('conversation.scene', (params) => {
      if (params.conversation_id === conversationId) setScene(params.scene as Scene);
    });
    return () => {
      active = false;
      stop();
    };
  }, [client, conversationId]);

  return (
    <aside class="scene panel" aria-labelledby="scene-title">
      <div class="toolbar">
        <h2 id="scene-title">Scene</h2>
        <button type="button" class="secondary" onClick={() => setEditing(!isEditing)}>
          {isEditing ? 'Close' : 'Set the scene'}
        </button>
      </div>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
      {scene && !isEditing && <SceneView scene={scene} />}
      {isEditing && (
        <SceneForm
          scene={scene}
          conversationId={conversationId}
          onSaved={(saved) => {
            setScene(saved);
            setEditing(false);
          }}
          onError={setError}
        />
      )}
    </aside>
  );
}

function SceneView({ scene }: { scene: Scene }) {
  const isEmpty = scene.location === null && scene.description === null && scene.time_of_day === null && scene.weather === null && scene.present.length === 0;
  if (isEmpty && scene.image_url === null) return <p class="muted">No scene set. Setting one tells every persona here where they are.</p>;
  return (
    <div class="scene-view" data-testid="scene-view">
      {scene.image_url && <img src={scene.image_url} alt={scene.description ?? scene.location ?? 'the scene'} />}
      <dl>
        {scene.location && (
          <>
            <dt>Where</dt>
            <dd>{scene.location}</dd>
          </>
        )}
        {scene.time_of_day && (
          <>
            <dt>When</dt>
            <dd>{scene.time_of_day}</dd>
          </>
        )}
        {scene.weather && (
          <>
            <dt>Weather</dt>
            <dd>{scene.weather}</dd>
          </>
        )}
        {scene.present.length > 0 && (
          <>
            <dt>Present</dt>
            <dd>{scene.present.join(', ')}</dd>
          </>
        )}
      </dl>
      {scene.description && <p>{scene.description}</p>}
    </div>
  );
}

function SceneForm({ scene, conversationId, onSaved, onError }: { scene: Scene | null; conversationId: string; onSaved: (scene: Scene) => void; onError: (error: unknown) => void }) {
  const client = useClient();
  const [fields, setFields] = useState({
    location: scene?.location ?? '',
    time_of_day: scene?.time_of_day ?? '',
    weather: scene?.weather ?? '',
    present: scene?.present.join(', ') ?? '',
    description: scene?.description ?? '',
  });
  const [image, setImage] = useState<File | null>(null);
  const set = (name: keyof typeof fields) => (event: { currentTarget: HTMLInputElement | HTMLTextAreaElement }) =>
    setFields({ ...fields, [name]: event.currentTarget.value });
  const orNull = (value: string): string | null => (value.trim() === '' ? null : value.trim());
  return (
    <form
      class="scene-form"
      onSubmit={async (event) => {
        event.preventDefault();
        try {
          const saved = await client.call<Scene>('scene.set', {
            conversation_id: conversationId,
            location: orNull(fields.location),
            time_of_day: orNull(fields.time_of_day),
            weather: orNull(fields.weather),
            present: fields.present.split(',').map((name) => name.trim()).filter(Boolean),
            description: orNull(fields.description),
            ...(image ? { image: { mime_type: image.type, data: await fileToBase64(await downscale(image, 1024)) } } : {}),
          });
          onSaved(saved);
        } catch (caught) {
          onError(caught);
        }
      }}
    >
      <label>
        Location
        <input name="location" value={fields.location} onInput={set('location')} placeholder="a busy tavern" />
      </label>
      <label>
        Time of day
        <input name="time_of_day" value={fields.time_of_day} onInput={set('time_of_day')} placeholder="late evening" />
      </label>
      <label>
        Weather
        <input name="weather" value={fields.weather} onInput={set('weather')} placeholder="rain on the windows" />
      </label>
      <label>
        Who is present <span class="muted">(comma-separated)</span>
        <input name="present" value={fields.present} onInput={set('present')} />
      </label>
      <label>
        Description
        <textarea name="description" rows={3} value={fields.description} onInput={set('description')} />
      </label>
      <label>
        Picture <span class="muted">(optional)</span>
        <input type="file" accept="image/png,image/jpeg,image/webp,image/gif" onChange={(event) => setImage(event.currentTarget.files?.[0] ?? null)} />
      </label>
      <button type="submit">Save scene</button>
    </form>
  );
}
