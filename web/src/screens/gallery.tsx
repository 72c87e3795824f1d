/**
 * The persona gallery: every persona with its avatar, mood, energy and availability; create and edit
 * personas; upload an avatar; import a Character Card (JSON or PNG) by dropping it, export one.
 */
import { useEffect, useState } from 'preact/hooks';
import { Avatar, EnergyBar, ErrorBox, fileToBase64, useClient, usePersonas } from '../shared.js';
import type { PersonaDetail, PersonaStatus, PersonaSummary } from '../types.js';

export function Gallery({ onChat }: { onChat: (personaId: string) => void }) {
  const client = useClient();
  const { personas, reload, error: listError } = usePersonas();
  const [statuses, setStatuses] = useState<Record<string, PersonaStatus>>({});
  const [editing, setEditing] = useState<PersonaDetail | 'new' | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [isDragging, setDragging] = useState(false);

  useEffect(() => {
    let cancelled = false;
    void Promise.all(personas.map((persona) => client.call<PersonaStatus>('persona.status', { persona_id: persona.id }).catch(() => null))).then((list) => {
      if (cancelled) return;
      const next: Record<string, PersonaStatus> = {};
      for (const status of list) if (status !== null) next[status.persona_id] = status;
      setStatuses(next);
    });
    return () => {
      cancelled = true;
    };
  }, [client, personas]);

  /** persona.import_card's `action`, in words. */
  const IMPORT_ACTIONS: Record<string, string> = {
    created: 'imported',
    renamed: 'imported as a new persona (one with its name or id existed)',
    replaced: 'replaced the persona of the same name',
    skipped: 'not imported (a persona of the same name exists)',
  };

  const importFiles = async (files: FileList | File[]): Promise<void> => {
    setError(null);
    for (const file of Array.from(files)) {
      try {
        const isPng = file.type === 'image/png' || file.name.toLowerCase().endsWith('.png');
        const params = isPng ? { png: await fileToBase64(file) } : { card: JSON.parse(await file.text()) as unknown };
        const result = await client.call<{ persona: { name: string }; action: string }>('persona.import_card', { ...params, on_conflict: 'rename' });
        setNotice(`${result.persona.name}: ${IMPORT_ACTIONS[result.action] ?? result.action} from ${file.name}.`);
      } catch (caught) {
        setError(caught instanceof SyntaxError ? new Error(`${file.name} is not a Character Card: it is neither a PNG nor valid JSON.`) : caught);
      }
    }
    await reload();
  };

  const exportCard = async (persona: PersonaSummary, format: 'json' | 'png'): Promise<void> => {
    try {
      const result = await client.call<{ card: unknown; png: string | null }>('persona.export_card', { persona_id: persona.id, format });
      const blob =
        format === 'png' && result.png !== null
          ? new Blob([Uint8Array.from(atob(result.png), (char) => char.charCodeAt(0))], { type: 'image/png' })
          : new Blob([JSON.stringify(result.card, null, 2)], { type: 'application/json' });
      const url = URL.createObjectURL(blob);
      const link = document.createElement('a');
      link.href = url;
      link.download = `${persona.id}.card.${format}`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    } catch (caught) {
      setError(caught);
    }
  };

  const edit = async (persona: PersonaSummary): Promise<void> => {
    try {
      setEditing(await client.call<PersonaDetail>('persona.get', { persona_id: persona.id }));
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section
      aria-labelledby="gallery-title"
      class={isDragging ? 'dropping' : undefined}
      onDragOver={(event) => {
        event.preventDefault();
        setDragging(true);
      }}
      onDragLeave={() => setDragging(false)}
      onDrop={(event) => {
        event.preventDefault();
        setDragging(false);
        if (event.dataTransfer?.files) void importFiles(event.dataTransfer.files);
      }}
    >
      <div class="toolbar">
        <h1 id="gallery-title">Personas</h1>
        <button type="button" onClick={() => setEditing('new')}>
          New persona
        </button>
        <label class="button secondary">
          Import card…
          <input
            type="file"
            accept=".json,.png,application/json,image/png"
            class="visually-hidden"
            onChange={(event) => {
              if (event.currentTarget.files) void importFiles(event.currentTarget.files);
              event.currentTarget.value = '';
            }}
          />
        </label>
      </div>
      <p class="muted">Drop a Character Card (JSON or PNG, V2 or V3) anywhere here to import it.</p>
      <ErrorBox error={error ?? listError} onDismiss={() => setError(null)} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {editing !== null && (
        <PersonaForm
          persona={editing === 'new' ? null : editing}
          onDone={async () => {
            setEditing(null);
            await reload();
          }}
        />
      )}
      <ul class="cards" aria-label="Personas">
        {personas.map((persona) => {
          const status = statuses[persona.id];
          return (
            <li key={persona.id} class="card" data-persona={persona.id}>
              <div class="card-head">
                <Avatar persona={persona} size={64} />
                <div>
                  <h2>{persona.name}</h2>
                  <span class={`badge ${persona.available ? 'ok' : 'warn'}`}>
                    {persona.available ? 'available' : `resting ${Math.ceil(persona.cooldown_remaining)} s`}
                  </span>
                  {status && <span class="badge mood">{status.mood}</span>}
                </div>
              </div>
              <p>{persona.description}</p>
              <EnergyBar energy={persona.social_energy} max={status?.max_social_energy ?? Math.max(persona.social_energy, 100)} label={`${persona.name}'s social energy`} />
              <p class="muted small">
                energy {Math.round(persona.social_energy)}
                {status ? ` / ${status.max_social_energy}` : ''} · {persona.model}
              </p>
              <div class="actions">
                <button type="button" onClick={() => onChat(persona.id)}>
                  Chat with {persona.name}
                </button>
                <button type="button" class="secondary" onClick={() => void edit(persona)}>
                  Edit
                </button>
                <AvatarUpload persona={persona} onUploaded={reload} onError={setError} />
                <button type="button" class="secondary" onClick={() => void exportCard(persona, 'json')}>
                  Export JSON
                </button>
                <button type="button" class="secondary" onClick={() => void exportCard(persona, 'png')}>
                  Export PNG
                </button>
              </div>
            </li>
          );
        })}
      </ul>
    </section>
  );
}

function AvatarUpload({ persona, onUploaded, onError }: { persona: PersonaSummary; onUploaded: () => Promise<void>; onError: (error: unknown) => void }) {
  const client = useClient();
  return (
    <label class="button secondary">
      Upload avatar
      <input
        type="file"
        accept="image/png,image/jpeg,image/webp,image/gif"
        class="visually-hidden"
        aria-label={`Upload an avatar for ${persona.name}`}
        onChange={async (event) => {
          const file = event.currentTarget.files?.[0];
          event.currentTarget.value = '';
          if (file === undefined) return;
          try {
            await client.call('persona.set_avatar', { persona_id: persona.id, image: await fileToBase64(await downscale(file, 512)) });
            await onUploaded();
          } catch (caught) {
            onError(caught);
          }
        }}
      />
    </label>
  );
}

/**
 * Scales a picture down in the browser before it is sent: the JSON-RPC frame limit (1 MiB by default)
 * holds a base64 image of ~750 KB. GIFs and small files are sent as they are.
 */
export async function downscale(file: File, maxSide: number): Promise<Blob> {
  if (file.type === 'image/gif' || file.size < 200_000) return file;
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext('2d')?.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return await new Promise<Blob>((resolve) => canvas.toBlob((blob) => resolve(blob ?? file), 'image/jpeg', 0.88));
  } catch {
    return file;
  }
}

function parseScores(text: string): Record<string, number> {
  const scores: Record<string, number> = {};
  for (const part of text.split(',')) {
    const [name, value] = part.split(':').map((piece) => piece.trim());
    if (name) scores[name] = value === undefined || value === '' ? 70 : Math.max(0, Math.min(100, Number(value) || 0));
  }
  return scores;
}

function formatScores(scores: Record<string, number>): string {
  return Object.entries(scores)
    .map(([name, value]) => `${name}: ${value}`)
    .join(', ');
}

function PersonaForm({ persona, onDone }: { persona: PersonaDetail | null; onDone: () => Promise<void> }) {
  const client = useClient();
  const [error, setError] = useState<unknown>(null);
  const [fields, setFields] = useState({
    name: persona?.name ?? '',
    description: persona?.description ?? '',
    backstory: persona?.backstory ?? '',
    speaking_style: persona?.speaking_style ?? '',
    traits: persona ? formatScores(persona.personality_traits) : '',
    topics: persona ? formatScores(persona.topic_preferences) : '',
    examples: persona?.example_lines.join('\n') ?? '',
    model: persona?.model ?? '',
  });
  const set = (name: keyof typeof fields) => (event: { currentTarget: HTMLInputElement | HTMLTextAreaElement }) =>
    setFields({ ...fields, [name]: event.currentTarget.value });

  const submit = async (event: Event): Promise<void> => {
    event.preventDefault();
    const params = {
      name: fields.name,
      description: fields.description,
      backstory: fields.backstory,
      speaking_style: fields.speaking_style,
      personality_traits: parseScores(fields.traits),
      topic_preferences: parseScores(fields.topics),
      example_lines: fields.examples.split('\n').map((line) => line.trim()).filter(Boolean),
      model: fields.model.trim() === '' ? null : fields.model.trim(),
    };
    try {
      if (persona === null) await client.call('persona.create', params);
      else await client.call('persona.update', { persona_id: persona.persona_id, ...params });
      await onDone();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <form class="panel persona-form" onSubmit={(event) => void submit(event)} aria-labelledby="persona-form-title">
      <h2 id="persona-form-title">{persona === null ? 'New persona' : `Edit ${persona.name}`}</h2>
      <ErrorBox error={error} />
      <label>
        Name
        <input required maxLength={100} value={fields.name} onInput={set('name')} />
      </label>
      <label>
        Description
        <textarea required rows={2} value={fields.description} onInput={set('description')} />
      </label>
      <label>
        Backstory
        <textarea rows={3} value={fields.backstory} onInput={set('backstory')} />
      </label>
      <label>
        Speaking style
        <textarea rows={2} value={fields.speaking_style} onInput={set('speaking_style')} />
      </label>
      <label>
        Personality traits <span class="muted">(name: 0–100, comma-separated)</span>
        <input value={fields.traits} onInput={set('traits')} placeholder="curious: 80, warm: 70" />
      </label>
      <label>
        Topic preferences <span class="muted">(topic: 0–100)</span>
        <input value={fields.topics} onInput={set('topics')} placeholder="music: 90, small talk: 20" />
      </label>
      <label>
        Example lines <span class="muted">(one per line)</span>
        <textarea rows={3} value={fields.examples} onInput={set('examples')} />
      </label>
      <label>
        Model <span class="muted">(empty: the server default)</span>
        <input value={fields.model} onInput={set('model')} placeholder="llama3.1:8b" />
      </label>
      <div class="actions">
        <button type="submit">{persona === null ? 'Create' : 'Save'}</button>
        <button type="button" class="secondary" onClick={() => void onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}
