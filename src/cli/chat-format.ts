/**
 * What `persona-mcp chat` shows: the server's results (as much of their wire shape as the chat reads)
 * turned into terminal lines. Pure functions, so the wording lives in one place.
 */
import { RpcError } from './rpc-client.js';

export interface PersonaSummary {
  id: string;
  name: string;
  description: string;
  available: boolean;
  social_energy: number;
  model: string;
}

export interface ChatResult {
  response: string;
  continue_score: number;
  continue_decision: string;
  tokens_used: number;
  processing_time: number;
}

export interface HistoryResult {
  messages: Array<{ role: string; persona_id: string | null; content: string; created_at: string }>;
  has_more: boolean;
}

export interface StatusResult {
  name: string;
  social_energy: number;
  max_social_energy: number;
  interaction_fatigue: number;
  available_time: number;
  is_available: boolean;
  cooldown_remaining: number;
}

/** A line of output; notes are secondary (dimmed on a colour terminal). */
export interface OutputLine {
  text: string;
  isNote?: boolean;
}

export const HELP: readonly string[] = [
  'Type a message and press Enter to send it. Commands:',
  '  /switch NAME   talk to another persona (its own conversation resumes)',
  '  /personas      list the personas',
  '  /history [N]   the last N messages with this persona (default 20)',
  '  /status        social energy and availability of this persona',
  '  /new           end this conversation and start a fresh one',
  '  /help          this list',
  '  /quit          leave (also Ctrl-D, or Ctrl-C at the prompt; Ctrl-C during a reply stops the reply)',
];

const DESCRIPTION_WIDTH = 60;

/** `  continue 72/100 · 431 tokens · 1.2 s`, with the decision when it is not "continue". */
export function formatTurnStats(result: ChatResult): string {
  const decision = result.continue_decision === 'continue' ? '' : ` (${result.continue_decision.replace('_', ' ')})`;
  return `  continue ${result.continue_score}/100${decision} · ${result.tokens_used} tokens · ${result.processing_time.toFixed(1)} s`;
}

/** Numbered (the chooser takes the number), the active persona marked with `*`. */
export function formatPersonaList(personas: readonly PersonaSummary[], activeId: string | null): OutputLine[] {
  return personas.flatMap((persona, index) => {
    const marker = persona.id === activeId ? '*' : ' ';
    const description =
      persona.description.length > DESCRIPTION_WIDTH ? `${persona.description.slice(0, DESCRIPTION_WIDTH - 1)}…` : persona.description;
    return [
      { text: `${marker} ${index + 1}. ${persona.name} (${persona.id}) — ${description}` },
      { text: `      energy ${persona.social_energy} · ${persona.available ? 'available' : 'resting'} · ${persona.model}`, isNote: true },
    ];
  });
}

/** `HH:MM speaker › text` per message, oldest first; `names` maps persona ids to names. */
export function formatHistory(
  history: HistoryResult,
  personaName: string,
  names: ReadonlyMap<string, string>,
  limit: number,
): OutputLine[] {
  if (history.messages.length === 0) return [{ text: `No messages with ${personaName} yet.`, isNote: true }];
  const lines: OutputLine[] = [{ text: `── history with ${personaName}: ${plural(history.messages.length, 'message')} ──` }];
  for (const message of history.messages) {
    const speaker = message.role === 'user' ? 'you' : (names.get(message.persona_id ?? '') ?? message.persona_id ?? message.role);
    const time = new Date(message.created_at).toTimeString().slice(0, 5);
    lines.push({ text: `${time} ${speaker} › ${message.content}` });
  }
  if (history.has_more) lines.push({ text: `(older messages exist: /history ${Math.min(500, limit * 2)})`, isNote: true });
  return lines;
}

export function formatStatus(status: StatusResult): string {
  const availability = status.is_available
    ? `available, ${Math.round(status.available_time)} s of talk left`
    : `resting, back in ${Math.round(status.cooldown_remaining)} s`;
  return `${status.name}: social energy ${status.social_energy}/${status.max_social_energy} · fatigue ${status.interaction_fatigue} · ${availability}`;
}

/** One readable line: the server's message, then its hint (`error.data.hint`) when it adds something, then the code. */
export function describeError(error: unknown, options: { withHint?: boolean } = {}): string {
  if (error instanceof RpcError) {
    const message = error.message.replace(/\s+/g, ' ').trim();
    const hint = options.withHint === false || error.hint === undefined ? '' : novelPart(message, error.hint);
    return `${message}${hint === '' ? '' : ` — ${hint}`} [${error.code}]`;
  }
  return error instanceof Error ? error.message : String(error);
}

/**
 * The sentences of a hint the message does not already say: a sentence whose commands (in backticks)
 * all appear in the message repeats it ("Start it with `ollama serve`…" / "Start Ollama (`ollama serve`)…").
 */
function novelPart(message: string, hint: string): string {
  if (message.includes(hint)) return '';
  const lowered = message.toLowerCase();
  return hint
    .split(/(?<=[.;])\s+/)
    .filter((sentence) => {
      const commands = [...sentence.matchAll(/`([^`]+)`/g)].map((match) => (match[1] ?? '').toLowerCase());
      return commands.length === 0 || !commands.every((command) => lowered.includes(command));
    })
    .join(' ')
    .trim();
}

export function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}
