/**
 * `persona-mcp chat`: an interactive terminal client of a running server. It resumes the last session
 * (see `session-file.ts`), picks a persona, then sends each line with `persona.chat` (`stream: true`),
 * printing the reply as it arrives. Lines starting with `/` are commands (`/help`).
 *
 * Works the same with piped input (`printf 'hello\n' | persona-mcp chat --persona aria`): each line is
 * one message, echoed after the prompt so the transcript reads naturally, and the command exits at
 * end of input once the last reply has arrived.
 */
import readline from 'node:readline';
import { RpcClient, RpcConnectionError, RpcError } from './rpc-client.js';
import { rememberedSession, rememberSession } from './session-file.js';
import { ChatTerminal } from './chat-terminal.js';

export const DEFAULT_CHAT_URL = 'ws://127.0.0.1:8000/mcp';

/** `session_not_found`: the remembered session expired or the server's data was reset. */
const SESSION_NOT_FOUND = -32004;
const CONVERSATION_NOT_FOUND = -32003;
const HISTORY_DEFAULT_LIMIT = 20;

export interface ChatOptions {
  url: string;
  persona?: string;
  session?: string;
  /** Commander turns `--new` into `new`. */
  new?: boolean;
}

interface PersonaSummary {
  id: string;
  name: string;
  description: string;
  available: boolean;
  social_energy: number;
  model: string;
}

interface SessionInfo {
  session_id: string;
  active_persona: { id: string; name: string } | null;
}

interface ChatResult {
  response: string;
  continue_score: number;
  continue_decision: string;
  tokens_used: number;
  processing_time: number;
  persona_name: string;
}

interface HistoryResult {
  conversation_id: string | null;
  messages: Array<{ role: string; persona_id: string | null; content: string; created_at: string }>;
  has_more: boolean;
}

interface StatusResult {
  name: string;
  social_energy: number;
  max_social_energy: number;
  interaction_fatigue: number;
  available_time: number;
  is_available: boolean;
  cooldown_remaining: number;
}

const HELP = [
  'Type a message and press Enter to send it. Commands:',
  '  /switch NAME   talk to another persona (its own conversation resumes)',
  '  /personas      list the personas',
  '  /history [N]   the last N messages with this persona (default 20)',
  '  /status        social energy and availability of this persona',
  '  /new           end this conversation and start a fresh one',
  '  /help          this list',
  '  /quit          leave (also Ctrl-D or Ctrl-C)',
];

/** Runs the chat until the user leaves; resolves to the exit code (0, or 1 when the server is unreachable or gone). */
export async function chat(options: ChatOptions): Promise<number> {
  const terminal = new ChatTerminal(process.stdin, process.stdout);
  let client: RpcClient;
  try {
    client = await RpcClient.connect(options.url);
  } catch (error) {
    const detail = error instanceof RpcConnectionError ? ` (${error.message})` : '';
    process.stderr.write(`Cannot reach persona-mcp at ${options.url}${detail} — start it with \`npm start\` / \`persona-mcp serve\`\n`);
    terminal.close();
    return 1;
  }
  const session = new ChatSession(client, terminal, options);
  return session.run();
}

class ChatSession {
  private personaId: string | null = null;
  private personaName = '';
  private personaNames = new Map<string, string>();
  private isQuitting = false;
  private lostConnection: string | null = null;

  constructor(
    private readonly client: RpcClient,
    private readonly terminal: ChatTerminal,
    private readonly options: ChatOptions,
  ) {}

  async run(): Promise<number> {
    const quit = (): void => {
      this.isQuitting = true;
      this.terminal.close();
      void this.client.close();
    };
    this.terminal.onInterrupt(quit);
    process.once('SIGINT', quit);
    this.client.onClose((reason) => {
      this.lostConnection = reason;
      this.terminal.close();
    });
    try {
      await this.start();
      if (this.personaId !== null) await this.loop();
    } catch (error) {
      if (!this.isQuitting && !this.lostConnection) this.terminal.error(describeError(error));
      if (!(error instanceof RpcConnectionError)) this.lostConnection ??= 'failed';
    } finally {
      process.removeListener('SIGINT', quit);
      this.terminal.close();
      await this.client.close();
    }
    if (this.lostConnection !== null && !this.isQuitting) {
      if (this.lostConnection !== 'failed') this.terminal.error(`Lost the connection to persona-mcp at ${this.client.url}: ${this.lostConnection}`);
      return 1;
    }
    return this.personaId === null && !this.isQuitting ? 1 : 0;
  }

  /** Resumes (or starts) the session and settles on a persona. */
  private async start(): Promise<void> {
    const info = await this.attachSession();
    try {
      rememberSession(this.client.url, info.session_id);
    } catch (error) {
      this.terminal.note(`(could not remember the session: ${(error as Error).message})`);
    }
    await this.refreshPersonaNames();

    if (this.options.persona !== undefined) {
      try {
        await this.switchTo(this.options.persona);
        return;
      } catch (error) {
        if (!(error instanceof RpcError) || !this.terminal.isInteractive) throw error;
        this.terminal.error(describeError(error));
      }
    } else if (info.active_persona !== null) {
      this.setPersona(info.active_persona.id, info.active_persona.name);
      this.terminal.note(`Resuming your conversation with ${info.active_persona.name} (/history shows it, /help lists commands).`);
      return;
    }
    await this.choosePersona();
  }

  private async attachSession(): Promise<SessionInfo> {
    const wanted = this.options.session ?? (this.options.new ? undefined : rememberedSession(this.client.url));
    if (wanted !== undefined) {
      try {
        return await this.client.request<SessionInfo>('session.resume', { session_id: wanted });
      } catch (error) {
        if (!(error instanceof RpcError) || error.code !== SESSION_NOT_FOUND) throw error;
        // An expired remembered session is normal; only a session the user named is worth a word.
        if (this.options.session !== undefined) this.terminal.note(`Session ${wanted} no longer exists; starting a new one.`);
      }
    }
    return this.client.request<SessionInfo>('session.info');
  }

  private async choosePersona(): Promise<void> {
    const personas = await this.listPersonas();
    this.printPersonas(personas);
    for (;;) {
      const answer = await this.terminal.ask('Choose a persona (number or name): ');
      if (answer === null) return;
      const choice = answer.trim();
      if (choice === '') continue;
      const byNumber = /^\d+$/.test(choice) ? personas[Number(choice) - 1] : undefined;
      const picked = byNumber ?? personas.find((persona) => persona.id === choice.toLowerCase() || persona.name.toLowerCase() === choice.toLowerCase());
      if (picked === undefined) {
        this.terminal.error(`No persona "${choice}"; type a number from 1 to ${personas.length} or a name.`);
        continue;
      }
      await this.switchTo(picked.id);
      return;
    }
  }

  private async loop(): Promise<void> {
    this.terminal.note('Type /help for commands.');
    for (;;) {
      const line = await this.terminal.ask('you › ');
      if (line === null || this.isQuitting) return;
      const text = line.trim();
      if (text === '') continue;
      try {
        if (text.startsWith('/')) {
          if ((await this.command(text)) === 'quit') return;
        } else {
          await this.say(text);
        }
      } catch (error) {
        if (this.isQuitting || error instanceof RpcConnectionError) throw error;
        this.terminal.error(describeError(error));
      }
    }
  }

  private async say(message: string): Promise<void> {
    const prefix = `${this.personaName} › `;
    let hasStreamed = false;
    try {
      const result = await this.client.request<ChatResult>(
        'persona.chat',
        { message, stream: true, ...(this.personaId ? { persona_id: this.personaId } : {}) },
        {
          onNotification: ({ method, params }) => {
            if (method !== 'persona.chat.chunk' || typeof params.delta !== 'string') return;
            if (!hasStreamed) this.terminal.write(prefix);
            hasStreamed = true;
            this.terminal.write(params.delta);
          },
        },
      );
      // A server that does not stream still answers with the whole reply.
      this.terminal.write(hasStreamed ? '\n' : `${prefix}${result.response}\n`);
      const decision = result.continue_decision === 'continue' ? '' : ` (${result.continue_decision.replace('_', ' ')})`;
      this.terminal.note(`  continue ${result.continue_score}/100${decision} · ${result.tokens_used} tokens · ${result.processing_time.toFixed(1)} s`);
    } catch (error) {
      if (hasStreamed) this.terminal.write('\n');
      throw error;
    }
  }

  private async command(text: string): Promise<'quit' | void> {
    const [name = '', ...rest] = text.slice(1).split(/\s+/);
    const argument = rest.join(' ').trim();
    switch (name.toLowerCase()) {
      case 'quit':
      case 'exit':
      case 'q':
        return 'quit';
      case 'help':
      case '?':
        for (const line of HELP) this.terminal.line(line);
        return;
      case 'personas':
        this.printPersonas(await this.listPersonas());
        return;
      case 'switch':
        if (argument === '') {
          this.terminal.error('Usage: /switch NAME (see /personas)');
          return;
        }
        await this.switchTo(argument);
        return;
      case 'history':
        return this.printHistory(argument);
      case 'status':
        return this.printStatus();
      case 'new':
        return this.startFresh();
      default:
        this.terminal.error(`Unknown command /${name}; /help lists the commands.`);
    }
  }

  private async switchTo(persona: string): Promise<void> {
    const result = await this.client.request<{ persona_id: string; name: string; conversation_id: string | null }>('persona.switch', { persona_id: persona });
    this.setPersona(result.persona_id, result.name);
    const how = result.conversation_id === null ? 'a new conversation' : 'your conversation';
    this.terminal.note(`Talking with ${result.name} (${how}; /help lists commands).`);
  }

  private setPersona(id: string, name: string): void {
    this.personaId = id;
    this.personaName = name;
    this.personaNames.set(id, name);
  }

  private async listPersonas(): Promise<PersonaSummary[]> {
    const result = await this.client.request<{ personas: PersonaSummary[] }>('persona.list');
    for (const persona of result.personas) this.personaNames.set(persona.id, persona.name);
    return result.personas;
  }

  private async refreshPersonaNames(): Promise<void> {
    await this.listPersonas();
  }

  private printPersonas(personas: PersonaSummary[]): void {
    personas.forEach((persona, index) => {
      const marker = persona.id === this.personaId ? '*' : ' ';
      const availability = persona.available ? 'available' : 'resting';
      const description = persona.description.length > 60 ? `${persona.description.slice(0, 59)}…` : persona.description;
      this.terminal.line(`${marker} ${index + 1}. ${persona.name} (${persona.id}) — ${description}`);
      this.terminal.note(`      energy ${persona.social_energy} · ${availability} · ${persona.model}`);
    });
  }

  private async printHistory(argument: string): Promise<void> {
    const limit = argument === '' ? HISTORY_DEFAULT_LIMIT : Number(argument);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      this.terminal.error('Usage: /history [N] with N from 1 to 500');
      return;
    }
    const history = await this.client.request<HistoryResult>('conversation.history', { persona_id: this.personaId, limit });
    if (history.messages.length === 0) {
      this.terminal.note(`No messages with ${this.personaName} yet.`);
      return;
    }
    this.terminal.line(`── history with ${this.personaName}: ${history.messages.length} messages ──`);
    for (const message of history.messages) {
      const speaker = message.role === 'user' ? 'you' : (this.personaNames.get(message.persona_id ?? '') ?? message.persona_id ?? message.role);
      const time = new Date(message.created_at).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      this.terminal.line(`${time} ${speaker} › ${message.content}`);
    }
    if (history.has_more) this.terminal.note(`(older messages exist: /history ${Math.min(500, limit * 2)})`);
  }

  private async printStatus(): Promise<void> {
    const status = await this.client.request<StatusResult>('persona.status', { persona_id: this.personaId });
    const availability = status.is_available ? `available, ${Math.round(status.available_time)} s of talk left` : `resting, back in ${Math.round(status.cooldown_remaining)} s`;
    this.terminal.line(
      `${status.name}: social energy ${status.social_energy}/${status.max_social_energy} · fatigue ${status.interaction_fatigue} · ${availability}`,
    );
  }

  private async startFresh(): Promise<void> {
    try {
      const ended = await this.client.request<{ final_stats: { turns: number } }>('conversation.end', { reason: 'new_thread' });
      this.terminal.note(`Ended the conversation (${ended.final_stats.turns} turns).`);
    } catch (error) {
      if (!(error instanceof RpcError) || error.code !== CONVERSATION_NOT_FOUND) throw error;
    }
    this.terminal.note(`Your next message starts a fresh conversation with ${this.personaName}.`);
  }
}

/** One readable line: the server's message, then its hint (`error.data.hint`) when it adds something. */
export function describeError(error: unknown): string {
  if (error instanceof RpcError) {
    const message = error.message.replace(/\s+/g, ' ').trim();
    const hint = error.hint;
    return `${message}${hint !== undefined && !message.includes(hint) ? ` — ${hint}` : ''} [${error.code}]`;
  }
  return error instanceof Error ? error.message : String(error);
}

export { readline as _readline };
