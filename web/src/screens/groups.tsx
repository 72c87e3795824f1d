/**
 * Group conversations, live: start one with chosen personas and a topic, then watch the turns arrive
 * (`conversation.subscribe`; any number of tabs and browsers can watch the same one by its link),
 * interject, pause and resume, and see who speaks next and why (`conversation.speaker`).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { Avatar, ErrorBox, formatTime, navigate, useClient, usePersonas } from '../shared.js';
import type { GroupStatus, Message, PersonaSummary } from '../types.js';
import { ScenePanel } from './scene.js';

interface ConversationSummary {
  conversation_id: string;
  kind: 'user' | 'personas';
  participants: string[];
  topic: string | null;
  status: 'active' | 'ended';
  started_at: string;
}

interface NextSpeaker {
  persona_id: string;
  reason: string;
  desires: Record<string, number>;
}

export function Groups({ conversationId }: { conversationId: string | null }) {
  return conversationId === null ? <GroupLobby /> : <GroupRoom conversationId={conversationId} />;
}

function GroupLobby() {
  const client = useClient();
  const { personas } = usePersonas();
  const [chosen, setChosen] = useState<string[]>([]);
  const [topic, setTopic] = useState('');
  const [maxTurns, setMaxTurns] = useState(10);
  const [mine, setMine] = useState<ConversationSummary[]>([]);
  const [watchId, setWatchId] = useState('');
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    void client
      .call<{ conversations: ConversationSummary[] }>('session.info')
      .then((info) => setMine(info.conversations.filter((conversation) => conversation.kind === 'personas')))
      .catch(setError);
  }, [client]);

  const start = async (event: Event): Promise<void> => {
    event.preventDefault();
    try {
      const started = await client.call<{ conversation_id: string }>('conversation.start', {
        personas: chosen,
        topic: topic.trim() === '' ? undefined : topic.trim(),
        max_turns: maxTurns,
        subscribe: true,
      });
      navigate(`/group/${started.conversation_id}`);
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <section aria-labelledby="groups-title">
      <h1 id="groups-title">Group conversations</h1>
      <ErrorBox error={error} onDismiss={() => setError(null)} />
      <form class="panel" onSubmit={(event) => void start(event)}>
        <h2>Start one</h2>
        <fieldset>
          <legend>Who takes part (two or more)</legend>
          {personas.map((persona) => (
            <label key={persona.id} class="check">
              <input
                type="checkbox"
                name="persona"
                value={persona.id}
                checked={chosen.includes(persona.id)}
                onChange={(event) => setChosen(event.currentTarget.checked ? [...chosen, persona.id] : chosen.filter((id) => id !== persona.id))}
              />
              <Avatar persona={persona} size={24} /> {persona.name}
            </label>
          ))}
        </fieldset>
        <label>
          Topic
          <input name="topic" value={topic} onInput={(event) => setTopic(event.currentTarget.value)} placeholder="the oldest song in the world" />
        </label>
        <label>
          Turns at most
          <input type="number" min={1} max={200} value={maxTurns} onInput={(event) => setMaxTurns(Number(event.currentTarget.value) || 10)} />
        </label>
        <button type="submit" disabled={chosen.length < 2}>
          Start the conversation
        </button>
      </form>
      <form
        class="panel"
        onSubmit={(event) => {
          event.preventDefault();
          if (watchId.trim() !== '') navigate(`/group/${watchId.trim()}`);
        }}
      >
        <h2>Watch one by id</h2>
        <label>
          Conversation id
          <input value={watchId} onInput={(event) => setWatchId(event.currentTarget.value)} />
        </label>
        <button type="submit">Watch</button>
      </form>
      {mine.length > 0 && (
        <div class="panel">
          <h2>Yours</h2>
          <ul class="plain">
            {mine.map((conversation) => (
              <li key={conversation.conversation_id}>
                <a href={`#/group/${conversation.conversation_id}`}>
                  {conversation.topic ?? 'no topic'} — {conversation.participants.join(', ')}
                </a>{' '}
                <span class="muted small">
                  {conversation.status} · {formatTime(conversation.started_at)}
                </span>
              </li>
            ))}
          </ul>
        </div>
      )}
    </section>
  );
}

function GroupRoom({ conversationId }: { conversationId: string }) {
  const client = useClient();
  const { personas } = usePersonas();
  const [messages, setMessages] = useState<Message[]>([]);
  const [status, setStatus] = useState<GroupStatus | null>(null);
  const [ended, setEnded] = useState<string | null>(null);
  const [next, setNext] = useState<NextSpeaker | null>(null);
  const [text, setText] = useState('');
  const [error, setError] = useState<unknown>(null);
  const logRef = useRef<HTMLOListElement>(null);
  const byId = new Map(personas.map((persona) => [persona.id, persona]));

  const refreshStatus = async (): Promise<void> => {
    try {
      setStatus(await client.call<GroupStatus>('conversation.group_status', { conversation_id: conversationId }));
    } catch (caught) {
      setError(caught);
    }
  };

  useEffect(() => {
    let active = true;
    const append = (message: Message): void =>
      setMessages((current) => (current.some((existing) => existing.id === message.id) ? current : [...current, message].sort((a, b) => a.id - b.id)));
    const stops = [
      client.on('conversation.turn', (params) => {
        if (params.conversation_id !== conversationId) return;
        append(params.message as Message);
        setNext(null);
        requestAnimationFrame(() => logRef.current?.lastElementChild?.scrollIntoView({ block: 'end' }));
      }),
      client.on('conversation.ended', (params) => {
        if (params.conversation_id === conversationId) setEnded(String(params.reason ?? 'ended'));
      }),
      client.on('conversation.group_status', (params) => {
        if (params.conversation_id === conversationId) void refreshStatus();
      }),
      client.on('conversation.speaker', (params) => {
        if (params.conversation_id === conversationId) setNext(params as unknown as NextSpeaker);
      }),
    ];
    void (async () => {
      try {
        // Subscribe first, then read the history: a turn stored in between arrives twice and is kept once.
        await client.subscribe(conversationId);
        const page = await client.call<{ messages: Message[] }>('conversation.history', { conversation_id: conversationId, limit: 100 });
        if (active) for (const message of page.messages) append(message);
        await refreshStatus();
      } catch (caught) {
        if (active) setError(caught);
      }
    })();
    return () => {
      active = false;
      for (const stop of stops) stop();
      void client.unsubscribe(conversationId);
    };
  }, [client, conversationId]);

  const act = async (method: string, params: Record<string, unknown> = {}): Promise<void> => {
    try {
      setError(null);
      await client.call(method, { conversation_id: conversationId, ...params });
      await refreshStatus();
    } catch (caught) {
      setError(caught);
    }
  };

  const nameOf = (id: string | null): string => (id === null ? 'You' : (byId.get(id)?.name ?? id));
  const isFinished = ended !== null || status?.status === 'finished';
  // From the notification, or — for a page opened after the end — from the group's status.
  const endReason = ended ?? (status?.status === 'finished' ? (status.status_reason ?? 'ended') : null);

  return (
    <div class="chat-layout">
      <section class="chat" aria-labelledby="room-title">
        <div class="toolbar">
          <h1 id="room-title">Group conversation</h1>
          <span class={`badge ${status?.status === 'running' ? 'ok' : 'warn'}`} data-testid="group-status">
            {isFinished ? 'finished' : (status?.status ?? '…')}
          </span>
          {!isFinished && status?.status === 'running' && (
            <button type="button" class="secondary" onClick={() => void act('conversation.pause')}>
              Pause
            </button>
          )}
          {!isFinished && status?.status === 'paused' && (
            <button type="button" class="secondary" onClick={() => void act('conversation.resume')}>
              Resume
            </button>
          )}
          {!isFinished && (
            <button type="button" class="secondary" onClick={() => void act('conversation.end', { reason: 'ended from the web app' })}>
              End
            </button>
          )}
        </div>
        <p class="muted small">
          Share this page's address to let others watch: <code>{conversationId}</code>
        </p>
        {status?.status_reason && !isFinished && <p class="notice">{status.status_reason}</p>}
        <ul class="members" aria-label="Members">
          {(status?.members ?? []).map((member) => {
            const persona = byId.get(member.persona_id);
            return (
              <li key={member.persona_id} class={member.present ? '' : 'left'}>
                {persona && <Avatar persona={persona} size={28} />} {nameOf(member.persona_id)}
                {!member.present && ' (left)'}
              </li>
            );
          })}
        </ul>
        <ol class="log" ref={logRef} aria-live="polite" aria-label="Turns">
          {messages.map((message) => (
            <GroupTurn key={message.id} message={message} persona={message.persona_id === null ? null : (byId.get(message.persona_id) ?? null)} name={nameOf(message.persona_id)} />
          ))}
        </ol>
        {next !== null && !isFinished && (
          <p class="next" role="status" data-testid="next-speaker">
            Next: <strong>{nameOf(next.persona_id)}</strong> — {next.reason}
            <span class="muted small">
              {' '}
              (wish to speak:{' '}
              {Object.entries(next.desires)
                .map(([id, desire]) => `${nameOf(id)} ${Math.round(desire)}`)
                .join(', ')}
              )
            </span>
          </p>
        )}
        {endReason !== null && <p class="notice">The conversation ended: {describeEnd(endReason)}.</p>}
        <ErrorBox error={error} onDismiss={() => setError(null)} />
        {!isFinished && (
          <form
            class="composer"
            onSubmit={(event) => {
              event.preventDefault();
              if (text.trim() === '') return;
              void act('conversation.interject', { message: text.trim() }).then(() => setText(''));
            }}
          >
            <label for="interject" class="visually-hidden">
              Say something to the group
            </label>
            <textarea id="interject" rows={2} value={text} placeholder="Interject…" onInput={(event) => setText(event.currentTarget.value)} />
            <button type="submit">Interject</button>
          </form>
        )}
      </section>
      <ScenePanel conversationId={conversationId} />
    </div>
  );
}

/**
 * The server's end reasons in words (docs/social.md); anything else (a reason someone typed with
 * conversation.end) is shown as given.
 */
const END_REASONS: Record<string, string> = {
  turn_cap: 'it reached its turn limit',
  nobody_wants_to_continue: 'nobody wanted to go on',
  nobody_available: 'nobody could speak: every persona is resting to regain social energy (try again later, or choose rested personas)',
};

export function describeEnd(reason: string): string {
  return END_REASONS[reason] ?? reason;
}

function GroupTurn({ message, persona, name }: { message: Message; persona: PersonaSummary | null; name: string }) {
  return (
    <li class={`message ${message.role === 'user' ? 'from-user' : 'from-persona'}`} data-message-id={message.id}>
      {persona && <Avatar persona={persona} size={32} />}
      <div class="bubble">
        <p class="who">
          {name} <span class="muted small">{formatTime(message.created_at)}</span>
        </p>
        <p class="text">{message.content}</p>
      </div>
    </li>
  );
}
