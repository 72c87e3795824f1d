/**
 * Chat with one persona: streamed replies, history paged backwards, switching persona, a new
 * conversation, the continue score and tokens of each turn, images and audio attached by picking,
 * pasting or dropping, replies read aloud and voice input where the browser offers them, and the scene.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { Avatar, ErrorBox, fileToBase64, formatTime, navigate, useClient, usePersonas } from '../shared.js';
import type { Attachment, ChatResult, Message, PersonaSummary } from '../types.js';
import { downscale } from './gallery.js';
import { ScenePanel } from './scene.js';
import { ReadAloud, VoiceInput } from './speech.js';

interface Turn extends Message {
  /** Figures of a turn sent from this tab (history has only tokens). */
  figures?: { continue_score: number; continue_decision: string; tokens_used: number; processing_time: number };
  isStreaming?: boolean;
}

interface Draft {
  kind: 'image' | 'audio';
  name: string;
  mimeType: string;
  data: string;
  preview: string;
}

const PAGE = 30;
/** Attachments bigger than this are refused in the browser; the server enforces its own limit too. */
const MAX_ATTACHMENT_BYTES = 700_000;

export function Chat({ personaId }: { personaId: string | null }) {
  const client = useClient();
  const { personas } = usePersonas();
  const [messages, setMessages] = useState<Turn[]>([]);
  const [conversationId, setConversationId] = useState<string | null>(null);
  const [nextBefore, setNextBefore] = useState<number | null>(null);
  const [text, setText] = useState('');
  const [drafts, setDrafts] = useState<Draft[]>([]);
  const [isSending, setSending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const logRef = useRef<HTMLOListElement>(null);
  const persona = personas.find((candidate) => candidate.id === personaId) ?? null;

  useEffect(() => {
    if (personaId === null && personas.length > 0) navigate(`/chat/${personas[0]!.id}`);
  }, [personaId, personas]);

  const loadLatest = async (id: string): Promise<void> => {
    setError(null);
    try {
      await client.call('persona.switch', { persona_id: id });
      const page = await client.call<{ conversation_id: string | null; messages: Message[]; next_before_id: number | null }>('conversation.history', {
        persona_id: id,
        limit: PAGE,
      });
      setMessages(page.messages);
      setConversationId(page.conversation_id);
      setNextBefore(page.next_before_id);
      requestAnimationFrame(() => logRef.current?.lastElementChild?.scrollIntoView({ block: 'end' }));
    } catch (caught) {
      setError(caught);
    }
  };

  useEffect(() => {
    if (personaId !== null) void loadLatest(personaId);
  }, [personaId]);

  const loadOlder = async (): Promise<void> => {
    if (conversationId === null || nextBefore === null) return;
    try {
      const page = await client.call<{ messages: Message[]; next_before_id: number | null }>('conversation.history', {
        conversation_id: conversationId,
        limit: PAGE,
        before_id: nextBefore,
      });
      setMessages((current) => [...page.messages, ...current]);
      setNextBefore(page.next_before_id);
    } catch (caught) {
      setError(caught);
    }
  };

  const addFiles = async (files: Iterable<File>): Promise<void> => {
    const added: Draft[] = [];
    for (const file of files) {
      const isImage = file.type.startsWith('image/');
      const isAudio = file.type.startsWith('audio/');
      if (!isImage && !isAudio) {
        setError(new Error(`${file.name}: only images (PNG, JPEG, WebP, GIF) and audio can be attached.`));
        continue;
      }
      const blob = isImage ? await downscale(file, 1280) : file;
      if (blob.size > MAX_ATTACHMENT_BYTES) {
        setError(new Error(`${file.name} is ${Math.round(blob.size / 1024)} KB; attachments may have at most ${MAX_ATTACHMENT_BYTES / 1000} KB.`));
        continue;
      }
      added.push({ kind: isImage ? 'image' : 'audio', name: file.name, mimeType: blob.type || file.type, data: await fileToBase64(blob), preview: URL.createObjectURL(blob) });
    }
    setDrafts((current) => [...current, ...added]);
  };

  const send = async (event?: Event): Promise<void> => {
    event?.preventDefault();
    if (persona === null || isSending || (text.trim() === '' && drafts.length === 0)) return;
    const sent = drafts;
    // A message is never empty on the wire: a picture or clip sent alone says so in words.
    const message = text.trim() || (sent.some((draft) => draft.kind === 'image') ? '(sends a picture)' : '(sends an audio clip)');
    setSending(true);
    setError(null);
    setText('');
    setDrafts([]);
    const now = new Date().toISOString();
    const localAttachments: Attachment[] = sent.map((draft, index) => ({
      id: `draft-${index}`,
      kind: draft.kind,
      mime_type: draft.mimeType,
      url: draft.preview,
      thumbnail_url: null,
      bytes: 0,
    }));
    setMessages((current) => [
      ...current,
      { id: -1, role: 'user', persona_id: null, content: message, tokens: 0, created_at: now, attachments: localAttachments },
      { id: -2, role: 'assistant', persona_id: persona.id, content: '', tokens: 0, created_at: now, isStreaming: true },
    ]);
    const onChunk = (delta: string): void =>
      setMessages((current) => current.map((turn) => (turn.id === -2 ? { ...turn, content: turn.content + delta } : turn)));
    try {
      const images = sent.filter((draft) => draft.kind === 'image').map((draft) => ({ mime_type: draft.mimeType, data: draft.data }));
      const audio = sent.filter((draft) => draft.kind === 'audio').map((draft) => ({ mime_type: draft.mimeType, data: draft.data }));
      const result = await client.call<ChatResult>(
        'persona.chat',
        { message, persona_id: persona.id, stream: true, ...(images.length > 0 ? { images } : {}), ...(audio.length > 0 ? { audio } : {}) },
        onChunk,
      );
      setConversationId(result.conversation_id);
      setMessages((current) =>
        current.map((turn) =>
          turn.id === -2
            ? {
                ...turn,
                id: result.message_id,
                content: result.response,
                isStreaming: false,
                figures: {
                  continue_score: result.continue_score,
                  continue_decision: result.continue_decision,
                  tokens_used: result.tokens_used,
                  processing_time: result.processing_time,
                },
              }
            : turn.id === -1
              ? { ...turn, id: result.message_id - 1 }
              : turn,
        ),
      );
    } catch (caught) {
      setError(caught);
      // The user's message is stored before the model is called: keep it, drop the empty reply.
      setMessages((current) => current.filter((turn) => turn.id !== -2).map((turn) => (turn.id === -1 ? { ...turn, id: -3 } : turn)));
    } finally {
      setSending(false);
      requestAnimationFrame(() => logRef.current?.lastElementChild?.scrollIntoView({ block: 'end' }));
    }
  };

  const newConversation = async (): Promise<void> => {
    if (persona === null) return;
    try {
      const started = await client.call<{ conversation_id: string }>('conversation.start', { persona_id: persona.id });
      setConversationId(started.conversation_id);
      setMessages([]);
      setNextBefore(null);
    } catch (caught) {
      setError(caught);
    }
  };

  return (
    <div class="chat-layout">
      <nav class="persona-list" aria-label="Choose a persona">
        <h2 class="small-title">Talk to</h2>
        <ul>
          {personas.map((candidate) => (
            <li key={candidate.id}>
              <a href={`#/chat/${candidate.id}`} aria-current={candidate.id === personaId ? 'true' : undefined}>
                <Avatar persona={candidate} size={32} /> {candidate.name}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <section class="chat" aria-labelledby="chat-title">
        <div class="toolbar">
          {persona && <Avatar persona={persona} size={40} />}
          <h1 id="chat-title">{persona ? `Chat with ${persona.name}` : 'Chat'}</h1>
          <button type="button" class="secondary" onClick={() => void newConversation()} disabled={persona === null}>
            New conversation
          </button>
        </div>
        {nextBefore !== null && (
          <button type="button" class="link" onClick={() => void loadOlder()}>
            Load older messages
          </button>
        )}
        <ol class="log" ref={logRef} aria-live="polite" aria-label="Messages">
          {messages.length === 0 && <li class="muted">No messages yet. Say hello!</li>}
          {messages.map((turn) => (
            <MessageItem key={`${turn.id}-${turn.created_at}`} turn={turn} persona={persona} />
          ))}
        </ol>
        <ErrorBox error={error} onDismiss={() => setError(null)} />
        <form
          class="composer"
          onSubmit={(event) => void send(event)}
          onDragOver={(event) => event.preventDefault()}
          onDrop={(event) => {
            event.preventDefault();
            if (event.dataTransfer?.files) void addFiles(Array.from(event.dataTransfer.files));
          }}
        >
          {drafts.length > 0 && (
            <ul class="drafts" aria-label="Attachments to send">
              {drafts.map((draft, index) => (
                <li key={draft.preview}>
                  {draft.kind === 'image' ? <img src={draft.preview} alt={draft.name} /> : <span>♪ {draft.name}</span>}
                  <button type="button" class="link" aria-label={`Remove ${draft.name}`} onClick={() => setDrafts(drafts.filter((_, other) => other !== index))}>
                    ✕
                  </button>
                </li>
              ))}
            </ul>
          )}
          <label for="chat-input" class="visually-hidden">
            Message
          </label>
          <textarea
            id="chat-input"
            rows={2}
            value={text}
            placeholder={persona ? `Say something to ${persona.name}… (Enter to send; paste or drop an image)` : ''}
            onInput={(event) => setText(event.currentTarget.value)}
            onPaste={(event) => {
              const files = Array.from(event.clipboardData?.files ?? []);
              if (files.length > 0) {
                event.preventDefault();
                void addFiles(files);
              }
            }}
            onKeyDown={(event) => {
              if (event.key === 'Enter' && !event.shiftKey) void send(event);
            }}
          />
          <div class="actions">
            <button type="submit" disabled={isSending || persona === null}>
              {isSending ? 'Sending…' : 'Send'}
            </button>
            <label class="button secondary">
              Attach
              <input
                type="file"
                multiple
                accept="image/*,audio/*"
                class="visually-hidden"
                onChange={(event) => {
                  if (event.currentTarget.files) void addFiles(Array.from(event.currentTarget.files));
                  event.currentTarget.value = '';
                }}
              />
            </label>
            <VoiceInput onText={(transcript) => setText((current) => `${current} ${transcript}`.trim())} />
          </div>
        </form>
      </section>
      {conversationId !== null && <ScenePanel conversationId={conversationId} />}
    </div>
  );
}

function MessageItem({ turn, persona }: { turn: Turn; persona: PersonaSummary | null }) {
  const isUser = turn.role === 'user';
  return (
    <li class={`message ${isUser ? 'from-user' : 'from-persona'}`} data-message-id={turn.id}>
      {!isUser && persona && <Avatar persona={persona} size={32} />}
      <div class="bubble">
        <p class="who">
          {isUser ? 'You' : (persona?.name ?? turn.persona_id)} <span class="muted small">{formatTime(turn.created_at)}</span>
        </p>
        {turn.content !== '' && <p class="text">{turn.content}</p>}
        {turn.isStreaming && turn.content === '' && <p class="muted">…</p>}
        {(turn.attachments ?? []).map((attachment) =>
          attachment.kind === 'image' ? (
            <a key={attachment.id} href={attachment.url} target="_blank" rel="noopener">
              <img class="attachment" src={attachment.thumbnail_url ?? attachment.url} alt="attached image" />
            </a>
          ) : (
            <audio key={attachment.id} controls src={attachment.url} aria-label="attached audio" />
          ),
        )}
        {!isUser && !turn.isStreaming && (
          <p class="figures muted small">
            {turn.figures
              ? `continue ${turn.figures.continue_score}/100 (${turn.figures.continue_decision.replace('_', ' ')}) · ${turn.figures.tokens_used} tokens · ${turn.figures.processing_time.toFixed(1)} s`
              : `${turn.tokens} tokens`}
            <ReadAloud text={turn.content} />
          </p>
        )}
      </div>
    </li>
  );
}
