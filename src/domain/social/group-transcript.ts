/**
 * What one persona of a group conversation knows: only the messages it witnessed (present from the
 * message after it joined until the message before it left), told from its own point of view — its
 * own lines as the assistant's, everyone else's as "Name: text".
 */

export interface TranscriptMessage {
  id: number;
  role: 'user' | 'assistant' | 'system';
  personaId: string | null;
  content: string;
}

export interface Presence {
  /** Witnessed messages have `joinedAfter < id`. */
  joinedAfter: number;
  /** …and `id <= leftAfter` once it left; null while present. */
  leftAfter: number | null;
}

export function witnessed<T extends { id: number }>(messages: readonly T[], presence: Presence): T[] {
  return messages.filter(
    (message) => message.id > presence.joinedAfter && (presence.leftAfter === null || message.id <= presence.leftAfter),
  );
}

/** How the user appears in a persona's transcript. */
export const USER_SPEAKER_NAME = 'The visitor';

export interface PromptLine {
  role: 'user' | 'assistant';
  content: string;
}

/**
 * The persona's view of the witnessed messages: its own lines as `assistant`, others' as `user`
 * prefixed with the speaker's name (system notes prefixed "(note)"). A final `user` line asks for the
 * persona's turn when the transcript does not already end with someone else speaking.
 */
export function transcriptFor(
  personaId: string,
  messages: readonly TranscriptMessage[],
  nameOf: (personaId: string) => string,
  opening: string,
): PromptLine[] {
  const lines: PromptLine[] = messages.map((message) => {
    if (message.role === 'assistant' && message.personaId === personaId) return { role: 'assistant', content: message.content };
    if (message.role === 'system') return { role: 'user', content: `(note) ${message.content}` };
    const speaker = message.role === 'user' ? USER_SPEAKER_NAME : nameOf(message.personaId ?? '');
    return { role: 'user', content: `${speaker}: ${message.content}` };
  });
  if (lines.length === 0) return [{ role: 'user', content: opening }];
  if (lines[lines.length - 1]!.role === 'assistant') lines.push({ role: 'user', content: '(It is your turn to speak again.)' });
  return lines;
}

/** Removes a leading "Name:" the model may write in front of its own line. */
export function stripSpeakerPrefix(text: string, name: string): string {
  const escaped = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(`^\\s*\\**${escaped}\\**\\s*:\\s*`, 'i'), '').trim();
}

/** Longest recollection a persona keeps of one group conversation (characters). */
export const RECOLLECTION_MAX_CHARS = 800;

/**
 * What a persona remembers of a group conversation, in its own words, from what it witnessed only:
 * who was there and the last lines that fit in {@link RECOLLECTION_MAX_CHARS} ("…" marks the cut).
 * Null when it witnessed nothing.
 */
export function recollection(
  personaId: string,
  messages: readonly TranscriptMessage[],
  nameOf: (personaId: string) => string,
  topic: string | null,
): string | null {
  const spoken = messages.filter((message) => message.role !== 'system');
  if (spoken.length === 0) return null;
  const others = [
    ...new Set(
      spoken
        .filter((message) => message.personaId !== personaId)
        .map((message) => (message.role === 'user' ? 'the visitor' : nameOf(message.personaId ?? ''))),
    ),
  ];
  const head = `A group conversation${topic ? ` about ${topic}` : ''}${others.length > 0 ? ` with ${others.join(', ')}` : ''}.`;
  const lines = spoken.map((message) => {
    const who = message.role === 'user' ? 'The visitor' : message.personaId === personaId ? 'I' : nameOf(message.personaId ?? '');
    return `${who}: ${message.content.replace(/\s+/g, ' ').trim()}`;
  });
  const kept: string[] = [];
  let length = head.length;
  for (const line of [...lines].reverse()) {
    if (length + line.length + 1 > RECOLLECTION_MAX_CHARS) break;
    kept.unshift(line);
    length += line.length + 1;
  }
  const cut = kept.length < lines.length ? ['…'] : [];
  return [head, ...cut, ...kept].join('\n');
}
