/** Pieces every screen uses: the client, the persona catalogue, avatars, energy bars, error boxes. */
import { createContext } from 'preact';
import { useCallback, useContext, useEffect, useState } from 'preact/hooks';
import { explainError, RpcClient } from './rpc.js';
import type { PersonaSummary } from './types.js';

export const ClientContext = createContext<RpcClient | null>(null);

export function useClient(): RpcClient {
  const client = useContext(ClientContext);
  if (client === null) throw new Error('no RpcClient in context');
  return client;
}

/**
 * Runs `run` now, then every `everyMs` while the page is visible: a tab in the background asks the
 * server nothing (a user may leave the app open for days), and catches up at once when shown again.
 * Returns the function that stops it (an effect's clean-up).
 */
export function pollWhileVisible(run: () => void, everyMs: number): () => void {
  let timer: ReturnType<typeof setInterval> | null = null;
  const pause = (): void => {
    if (timer !== null) clearInterval(timer);
    timer = null;
  };
  const resume = (): void => {
    if (timer === null) timer = setInterval(run, everyMs);
  };
  const onVisibilityChange = (): void => {
    if (document.visibilityState === 'hidden') return pause();
    run();
    resume();
  };
  run();
  if (document.visibilityState !== 'hidden') resume();
  document.addEventListener('visibilitychange', onVisibilityChange);
  return () => {
    pause();
    document.removeEventListener('visibilitychange', onVisibilityChange);
  };
}

/** How often the catalogue (energy, availability) is refreshed while the app is open. */
const CATALOGUE_REFRESH_MS = 10_000;

/** The persona catalogue, refreshed periodically and on demand. */
export function usePersonas(): { personas: PersonaSummary[]; reload: () => Promise<void>; error: unknown } {
  const client = useClient();
  const [personas, setPersonas] = useState<PersonaSummary[]>([]);
  const [error, setError] = useState<unknown>(null);
  const reload = useCallback(async () => {
    try {
      const result = await client.call<{ personas: PersonaSummary[] }>('persona.list');
      setPersonas(result.personas);
      setError(null);
    } catch (caught) {
      setError(caught);
    }
  }, [client]);
  useEffect(() => pollWhileVisible(() => void reload(), CATALOGUE_REFRESH_MS), [reload]);
  return { personas, reload, error };
}

export function Avatar({ persona, size = 48 }: { persona: Pick<PersonaSummary, 'id' | 'name'> & { avatar_url?: string | undefined }; size?: number }) {
  const [failed, setFailed] = useState(false);
  if (persona.avatar_url === undefined || failed) {
    return (
      <span class="avatar avatar-letter" style={{ width: `${size}px`, height: `${size}px`, fontSize: `${size / 2.4}px` }} aria-hidden="true">
        {persona.name.slice(0, 1).toUpperCase()}
      </span>
    );
  }
  // Decorative: the persona's name is always written beside its avatar, so screen readers (and the
  // accessible names of checkboxes and links around it) say the name once, not "Aria's avatar Aria".
  return <img class="avatar" src={persona.avatar_url} width={size} height={size} alt="" onError={() => setFailed(true)} />;
}

export function EnergyBar({ energy, max, label }: { energy: number; max: number; label: string }) {
  const share = max > 0 ? Math.max(0, Math.min(1, energy / max)) : 0;
  return (
    <div class="energy" role="meter" aria-valuemin={0} aria-valuemax={Math.round(max)} aria-valuenow={Math.round(energy)} aria-label={label}>
      <div class={`energy-fill ${share < 0.3 ? 'low' : share < 0.6 ? 'mid' : 'high'}`} style={{ width: `${Math.round(share * 100)}%` }} />
    </div>
  );
}

export function ErrorBox({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  if (error === null || error === undefined) return null;
  const { title, detail } = explainError(error);
  return (
    <div class="error" role="alert">
      <strong>{title}</strong>
      <p>{detail}</p>
      {onDismiss && (
        <button type="button" class="link" onClick={onDismiss}>
          Dismiss
        </button>
      )}
    </div>
  );
}

/** Reads a file as base64 (without the data: prefix). */
export function fileToBase64(file: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const text = String(reader.result);
      resolve(text.slice(text.indexOf(',') + 1));
    };
    reader.onerror = () => reject(reader.error ?? new Error('could not read the file'));
    reader.readAsDataURL(file);
  });
}

export function formatTime(iso: string): string {
  const date = new Date(iso);
  return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** Navigates by hash (#/chat/aria); screens read it with {@link useRoute}. */
export function navigate(path: string): void {
  location.hash = `#${path}`;
}

export function useRoute(): string[] {
  const read = (): string[] => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const onChange = (): void => setRoute(read());
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
