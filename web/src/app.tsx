/** The app shell: navigation, the connection banner (and API key prompt), and the current screen. */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { RpcClient, type ConnectionState } from './rpc.js';
import { ClientContext, navigate, useRoute } from './shared.js';
import { Gallery } from './screens/gallery.js';
import { Chat } from './screens/chat.js';
import { Groups } from './screens/groups.js';
import { MemoryBrowser } from './screens/memory.js';
import { Relations } from './screens/relations.js';

const SCREENS = [
  { path: 'gallery', label: 'Personas' },
  { path: 'chat', label: 'Chat' },
  { path: 'group', label: 'Group talk' },
  { path: 'memory', label: 'Memories' },
  { path: 'relations', label: 'Relationships & mood' },
] as const;

export function App() {
  const client = useMemo(() => new RpcClient(), []);
  const [state, setState] = useState<ConnectionState>(client.state);
  const route = useRoute();
  useEffect(() => {
    const stop = client.onState(setState);
    void client.connect().catch(() => undefined);
    return stop;
  }, [client]);
  const screen = route[0] ?? 'gallery';

  return (
    <ClientContext.Provider value={client}>
      <header class="top">
        <a class="brand" href="#/gallery">
          persona-mcp
        </a>
        <nav aria-label="Screens">
          {SCREENS.map((item) => (
            <a key={item.path} href={`#/${item.path}`} aria-current={screen === item.path ? 'page' : undefined}>
              {item.label}
            </a>
          ))}
        </nav>
        <ConnectionBadge state={state} />
      </header>
      {state.status === 'closed' && <ConnectionProblem state={state} client={client} />}
      <main id="main">
        {state.status === 'open' ? (
          screen === 'chat' ? (
            <Chat personaId={route[1] ?? null} />
          ) : screen === 'group' ? (
            <Groups conversationId={route[1] ?? null} />
          ) : screen === 'memory' ? (
            <MemoryBrowser personaId={route[1] ?? null} />
          ) : screen === 'relations' ? (
            <Relations />
          ) : (
            <Gallery onChat={(id) => navigate(`/chat/${id}`)} />
          )
        ) : (
          <p class="muted">{state.status === 'connecting' ? 'Connecting to the server…' : 'Not connected.'}</p>
        )}
      </main>
    </ClientContext.Provider>
  );
}

function ConnectionBadge({ state }: { state: ConnectionState }) {
  const text = state.status === 'open' ? 'Connected' : state.status === 'connecting' ? 'Connecting…' : 'Disconnected';
  return (
    <span class={`badge conn-${state.status}`} role="status" title={state.status === 'open' ? `Session ${state.sessionId}` : undefined}>
      {text}
    </span>
  );
}

function ConnectionProblem({ state, client }: { state: Extract<ConnectionState, { status: 'closed' }>; client: RpcClient }) {
  const [key, setKey] = useState('');
  return (
    <section class="banner" aria-labelledby="conn-title">
      <h2 id="conn-title">{state.needsKey ? 'An API key is needed' : 'Connection lost'}</h2>
      <p>{state.reason}</p>
      {state.needsKey && (
        <form
          onSubmit={(event) => {
            event.preventDefault();
            client.setApiKey(key);
          }}
        >
          <label for="api-key">API key (kept for this tab only)</label>
          <input id="api-key" type="password" autocomplete="off" value={key} onInput={(event) => setKey(event.currentTarget.value)} />
          <button type="submit">Connect</button>
        </form>
      )}
    </section>
  );
}
