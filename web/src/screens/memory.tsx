/**
 * The memory browser: what a persona remembers (of you), searched, edited, and forgotten — always
 * with the server's two-step `memory.forget` (see the matches, then confirm exactly those).
 */
import { useEffect, useState } from 'preact/hooks';
import { ErrorBox, formatTime, navigate, useClient, usePersonas } from '../shared.js';
import type { Memory } from '../types.js';

const PAGE = 50;

export function MemoryBrowser({ personaId }: { personaId: string | null }) {
  const client = useClient();
  const { personas } = usePersonas();
  const [memories, setMemories] = useState<Memory[]>([]);
  const [offset, setOffset] = useState(0);
  const [query, setQuery] = useState('');
  const [isSearch, setSearch] = useState(false);
  const [editing, setEditing] = useState<Memory | null>(null);
  const [forgetting, setForgetting] = useState<Memory[] | null>(null);
  const [aboutYou, setAboutYou] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const scope = personaId === null ? {} : { persona_id: personaId };

  const load = async (from = 0): Promise<void> => {
    setError(null);
    try {
      const result = await client.call<{ memories: Memory[] }>('memory.list', { ...scope, limit: PAGE, offset: from });
      setMemories(result.memories);
      setOffset(from);
      setSearch(false);
    } catch (caught) {
      setError(caught);
    }
  };

  /**
   * "What I know about you": the block of the persona's prompt about the user, read from the exact
   * prompt a turn would send (persona.preview_prompt stores nothing and calls no model). Read again
   * after an edit or a forget, so a forgotten fact does not linger on screen.
   */
  const loadAboutYou = (): void => {
    if (personaId === null) return;
    void client
      .call<{ messages: { part: string; content: string }[] }>('persona.preview_prompt', { persona_id: personaId, message: 'Hello' })
      .then((preview) => setAboutYou(aboutUserBlock(preview.messages.filter((message) => message.part === 'system').map((message) => message.content).join('\n\n'))))
      .catch(() => setAboutYou(null));
  };

  useEffect(() => {
    void load(0);
    setAboutYou(null);
    loadAboutYou();
  }, [personaId]);

  const search = async (event: Event): Promise<void> => {
    event.preventDefault();
    if (query.trim() === '') return load(0);
    try {
      const result = await client.call<{ memories: Memory[] }>('memory.search', { ...scope, query: query.trim(), n_results: PAGE });
      setMemories(result.memories);
      setSearch(true);
    } catch (caught) {
      setError(caught);
    }
  };

  const askForget = async (): Promise<void> => {
    if (query.trim() === '') {
      setError(new Error('Describe what to forget in the search box first, e.g. "my address".'));
      return;
    }
    try {
      const result = await client.call<{ matches: Memory[] }>('memory.forget', { ...scope, query: query.trim() });
      setForgetting(result.matches);
    } catch (caught) {
      setError(caught);
    }
  };

  const confirmForget = async (ids: string[]): Promise<void> => {
    try {
      const result = await client.call<{ memories_removed: number }>('memory.forget', { ...scope, query: query.trim() || undefined, confirm: true, memory_ids: ids });
      setNotice(`Forgot ${result.memories_removed} ${result.memories_removed === 1 ? 'memory' : 'memories'}.`);
      setForgetting(null);
      await load(0);
      loadAboutYou();
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section aria-labelledby="memory-title">
      <div class="toolbar">
        <h1 id="memory-title">Memories</h1>
        <label>
          <span class="visually-hidden">Persona</span>
          <select value={personaId ?? ''} onChange={(event) => navigate(event.currentTarget.value === '' ? '/memory' : `/memory/${event.currentTarget.value}`)}>
            <option value="">every persona</option>
            {personas.map((persona) => (
              <option key={persona.id} value={persona.id}>
                {persona.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {aboutYou && (
        <div class="panel" aria-labelledby="about-you">
          <h2 id="about-you">What {personas.find((persona) => persona.id === personaId)?.name ?? 'this persona'} knows about you</h2>
          <p class="pre">{aboutYou}</p>
        </div>
      )}
      <form class="search" onSubmit={(event) => void search(event)} role="search">
        <label for="memory-query" class="visually-hidden">
          Search or describe what to forget
        </label>
        <input id="memory-query" type="search" value={query} placeholder="Search, or describe what to forget" onInput={(event) => setQuery(event.currentTarget.value)} />
        <button type="submit">Search</button>
        <button type="button" class="danger" onClick={() => void askForget()}>
          Forget…
        </button>
      </form>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
      {notice && (
        <p class="notice" role="status">
          {notice}
        </p>
      )}
      {forgetting !== null && <ForgetDialog matches={forgetting} query={query} onConfirm={(ids) => void confirmForget(ids)} onCancel={() => setForgetting(null)} />}
      {editing !== null && (
        <MemoryEditor
          memory={editing}
          onDone={async () => {
            setEditing(null);
            await load(offset);
            loadAboutYou();
          }}
        />
      )}
      <ul class="memories" aria-label="Memories">
        {memories.length === 0 && <li class="muted">{isSearch ? 'Nothing matches.' : 'No memories yet: they form after conversations.'}</li>}
        {memories.map((memory) => (
          <li key={memory.id} class="memory" data-memory-id={memory.id}>
            <p>{memory.content}</p>
            <p class="muted small">
              {memory.persona_id ? `${memory.persona_id} · ` : ''}
              {memory.memory_type ? `${memory.memory_type} · ` : ''}importance {memory.importance.toFixed(2)}
              {isSearch ? ` · relevance ${memory.similarity.toFixed(2)}` : ''} · {formatTime(memory.created_at)}
            </p>
            <div class="actions">
              <button type="button" class="secondary" onClick={() => setEditing(memory)}>
                Edit
              </button>
              <button type="button" class="danger" onClick={() => setForgetting([memory])}>
                Forget
              </button>
            </div>
          </li>
        ))}
      </ul>
      {!isSearch && (
        <div class="actions">
          <button type="button" class="secondary" disabled={offset === 0} onClick={() => void load(Math.max(0, offset - PAGE))}>
            Newer
          </button>
          <button type="button" class="secondary" disabled={memories.length < PAGE} onClick={() => void load(offset + PAGE)}>
            Older
          </button>
        </div>
      )}
    </section>
  );
}

/**
 * The matches ticked at first: those that contain a word of the description (the server's matching is
 * by meaning and may bring in near neighbours, e.g. every "The user said: ..." memory); all of them when
 * none does. The person confirms either way.
 */
export function preselectForForget(matches: readonly Memory[], query: string): string[] {
  const words = query.toLowerCase().split(/\W+/).filter((word) => word.length >= 3);
  const containing = matches.filter((memory) => words.some((word) => memory.content.toLowerCase().includes(word)));
  return (containing.length > 0 ? containing : matches).map((memory) => memory.id);
}

function ForgetDialog({ matches, query, onConfirm, onCancel }: { matches: Memory[]; query: string; onConfirm: (ids: string[]) => void; onCancel: () => void }) {
  const [chosen, setChosen] = useState<string[]>(() => preselectForForget(matches, query));
  return (
    <div class="panel confirm" role="alertdialog" aria-labelledby="forget-title" aria-describedby="forget-help">
      <h2 id="forget-title">Forget {chosen.length === 1 ? 'this memory' : `${chosen.length} memories`}?</h2>
      <p id="forget-help">
        {matches.length === 1 ? 'One memory matches' : `${matches.length} memories match`} what you described. Forgotten ones are removed everywhere (with summaries that quoted them), and cannot be brought back. Those containing your words are
        ticked; tick or untick as you wish.
      </p>
      {matches.length === 0 && <p class="muted">Nothing matches that description.</p>}
      <ul class="plain">
        {matches.map((memory) => (
          <li key={memory.id}>
            <label class="check">
              <input
                type="checkbox"
                checked={chosen.includes(memory.id)}
                onChange={(event) => setChosen(event.currentTarget.checked ? [...chosen, memory.id] : chosen.filter((id) => id !== memory.id))}
              />
              {memory.content}
            </label>
          </li>
        ))}
      </ul>
      <div class="actions">
        <button type="button" class="danger" disabled={chosen.length === 0} onClick={() => onConfirm(chosen)}>
          Yes, forget {chosen.length}
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          Keep them
        </button>
      </div>
    </div>
  );
}

function MemoryEditor({ memory, onDone }: { memory: Memory; onDone: () => Promise<void> }) {
  const client = useClient();
  const [content, setContent] = useState(memory.content);
  const [importance, setImportance] = useState(memory.importance);
  const [error, setError] = useState<unknown>(null);
  return (
    <form
      class="panel"
      aria-labelledby="edit-memory-title"
      onSubmit={async (event) => {
        event.preventDefault();
        try {
          await client.call('memory.update', { memory_id: memory.id, content, importance });
          await onDone();
        } catch (caught) {
          setError(caught);
        }
      }}
    >
      <h2 id="edit-memory-title">Edit memory</h2>
      <ErrorBox error={error} />
      <label>
        What is remembered
        <textarea rows={3} value={content} onInput={(event) => setContent(event.currentTarget.value)} />
      </label>
      <label>
        Importance: {importance.toFixed(2)}
        <input type="range" min={0} max={1} step={0.05} value={importance} onInput={(event) => setImportance(Number(event.currentTarget.value))} />
      </label>
      <div class="actions">
        <button type="submit">Save</button>
        <button type="button" class="secondary" onClick={() => void onDone()}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** The heading of the memory block about the user in a persona's system prompt. */
const ABOUT_USER_HEADING = 'What you know about the user:';

/** The lines under {@link ABOUT_USER_HEADING}, up to the next blank line; null when the prompt has none. */
export function aboutUserBlock(systemPrompt: string): string | null {
  const start = systemPrompt.indexOf(ABOUT_USER_HEADING);
  if (start < 0) return null;
  const body = systemPrompt.slice(start + ABOUT_USER_HEADING.length);
  const end = body.search(/\n\s*\n/);
  const block = (end < 0 ? body : body.slice(0, end)).trim();
  return block === '' ? null : block;
}
