/**
 * `persona-mcp chat`: an interactive terminal client of a running server. It resumes the last session
 * (see `session-file.ts`), picks a persona, then sends each line with `persona.chat` (`stream: true`),
 * printing the reply as it arrives. Lines starting with `/` are commands (`/help`).
 *
 * Works the same with piped input (`printf 'hello\n' | persona-mcp chat --persona aria`): each line is
 * one message, echoed after the prompt so the transcript reads naturally, and the command exits at
 * end of input once the last reply has arrived.
 */
import type { Command } from 'commander';
import {
  describeError,
  formatHistory,
  formatPersonaList,
  formatStatus,
  formatTurnStats,
  HELP,
  plural,
  type ChatResult,
  type HistoryResult,
  type OutputLine,
  type PersonaSummary,
  type StatusResult,
} from './chat-format.js';
import { ChatTerminal } from './chat-terminal.js';
import { exitAfterFlush } from './exit.js';
import { RpcClient, RpcConnectionError, RpcError } from './rpc-client.js';
import { rememberedSession, rememberSession } from './session-file.js';

export const DEFAULT_CHAT_URL = 'ws://127.0.0.1:8000/mcp';

/** `session_not_found`: the remembered session expired or the server's data was reset. */
const SESSION_NOT_FOUND = -32004;
const CONVERSATION_NOT_FOUND = -32003;
const FORBIDDEN = -32031;
const HISTORY_DEFAULT_LIMIT = 20;

export interface ChatOptions {
  url: string;
  persona?: string;
  session?: string;
  /** Commander turns `--new` into `new`. */
  new?: boolean;
  /** Sent as `Authorization: Bearer KEY` (servers reachable beyond loopback require one). */
  apiKey?: string;
  /** `aria,kira`: watch and join a group conversation of these personas instead. */
  group?: string;
  topic?: string;
  maxTurns?: string;
}

interface SessionInfo {
  session_id: string;
  active_persona: { id: string; name: string } | null;
}

/** Runs the chat until the user leaves; resolves to the exit code (0, or 1 when the server is unreachable or gone). */
export async function chat(options: ChatOptions): Promise<number> {
  const terminal = new ChatTerminal(process.stdin, process.stdout);
  let client: RpcClient;
  const apiKey = options.apiKey ?? process.env.PERSONA_MCP_API_KEY;
  try {
    client = await RpcClient.connect(options.url, apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {});
  } catch (error) {
    process.stderr.write(`${connectionProblem(options.url, error, apiKey)}\n`);
    terminal.close();
    return 1;
  }
  const session = new ChatSession(client, terminal, options);
  return session.run();
}

class ChatSession {
  private personaId: string | null = null;
  private personaName = '';
  private readonly personaNames = new Map<string, string>();
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
    let exitCode = 0;
    try {
      await this.start();
      if (this.personaId !== null) await this.loop();
      else if (!this.isQuitting && this.lostConnection === null) {
        this.terminal.error('No persona chosen; pass --persona NAME.');
        exitCode = 1;
      }
    } catch (error) {
      // After /quit, Ctrl-C or a lost connection, the failed request is no news.
      if (!this.isQuitting && this.lostConnection === null) {
        this.terminal.error(describeError(error));
        exitCode = 1;
      }
    } finally {
      process.removeListener('SIGINT', quit);
      this.terminal.close();
      await this.client.close();
    }
    if (this.lostConnection !== null && !this.isQuitting) {
      this.terminal.error(`Lost the connection to persona-mcp at ${this.client.url}: ${this.lostConnection}`);
      return 1;
    }
    return exitCode;
  }

  /** Resumes (or starts) the session and settles on a persona. */
  private async start(): Promise<void> {
    const info = await this.attachSession();
    try {
      rememberSession(this.client.url, info.session_id);
    } catch (error) {
      this.terminal.note(`(could not remember the session: ${(error as Error).message})`);
    }
    await this.listPersonas();

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
      this.terminal.note(`Resuming your conversation with ${info.active_persona.name} (/history shows it).`);
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
        if (!(error instanceof RpcError)) throw error;
        // A remembered session may also belong to another user now (a different --api-key).
        const isUnusable = error.code === SESSION_NOT_FOUND || (error.code === FORBIDDEN && this.options.session === undefined);
        if (!isUnusable) throw error;
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
      const picked =
        byNumber ?? personas.find((persona) => persona.id === choice.toLowerCase() || persona.name.toLowerCase() === choice.toLowerCase());
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
      this.terminal.note(formatTurnStats(result));
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
    const result = await this.client.request<{ persona_id: string; name: string; conversation_id: string | null }>('persona.switch', {
      persona_id: persona,
    });
    this.setPersona(result.persona_id, result.name);
    this.terminal.note(`Talking with ${result.name}${result.conversation_id === null ? '' : ' (continuing your conversation)'}.`);
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

  private printPersonas(personas: PersonaSummary[]): void {
    this.print(formatPersonaList(personas, this.personaId));
  }

  private print(lines: OutputLine[]): void {
    for (const line of lines) {
      if (line.isNote) this.terminal.note(line.text);
      else this.terminal.line(line.text);
    }
  }

  private async printHistory(argument: string): Promise<void> {
    const limit = argument === '' ? HISTORY_DEFAULT_LIMIT : Number(argument);
    if (!Number.isInteger(limit) || limit < 1 || limit > 500) {
      this.terminal.error('Usage: /history [N] with N from 1 to 500');
      return;
    }
    const history = await this.client.request<HistoryResult>('conversation.history', { persona_id: this.personaId, limit });
    this.print(formatHistory(history, this.personaName, this.personaNames, limit));
  }

  private async printStatus(): Promise<void> {
    const status = await this.client.request<StatusResult>('persona.status', { persona_id: this.personaId });
    this.terminal.line(formatStatus(status));
  }

  private async startFresh(): Promise<void> {
    try {
      const ended = await this.client.request<{ final_stats: { turns: number } }>('conversation.end', { reason: 'new_thread' });
      this.terminal.note(`Ended the conversation (${plural(ended.final_stats.turns, 'turn')}).`);
    } catch (error) {
      if (!(error instanceof RpcError) || error.code !== CONVERSATION_NOT_FOUND) throw error;
    }
    this.terminal.note(`Your next message starts a fresh conversation with ${this.personaName}.`);
  }
}

function connectionProblem(url: string, error: unknown, apiKey: string | undefined): string {
  const status = error instanceof RpcConnectionError ? error.httpStatus : undefined;
  if (status === 401 && apiKey)
    return `persona-mcp at ${url} refused the API key (HTTP 401): check it, or create one with \`persona-mcp keys create\``;
  if (status === 401) {
    return `persona-mcp at ${url} needs an API key: pass --api-key KEY or set PERSONA_MCP_API_KEY (create one with \`persona-mcp keys create\`)`;
  }
  if (status === 403) return `persona-mcp at ${url} refused the connection (HTTP 403): the key may be revoked or lack access`;
  const detail = error instanceof Error ? ` (${error.message})` : '';
  return `Cannot reach persona-mcp at ${url}${detail} — start it with \`npm start\` / \`persona-mcp serve\``;
}

/** Adds `persona-mcp chat` to the program. */
export function registerChatCommand(program: Command): void {
  program
    .command('chat')
    .description('talk to the personas of a running server in this terminal (also reads piped lines)')
    .option('-u, --url <url>', 'the server WebSocket address', DEFAULT_CHAT_URL)
    .option('-p, --persona <name>', "persona to talk to (default: the session's active persona, else you choose)")
    .option('-s, --session <id>', 'resume this session instead of the one remembered for the URL')
    .option('--new', 'start a new session instead of resuming the remembered one')
    .option('-k, --api-key <key>', 'API key for a server that requires one (default: PERSONA_MCP_API_KEY)')
    .option('-g, --group <personas>', 'start a group conversation of these personas (e.g. aria,kira) and join it')
    .option('-t, --topic <topic>', 'what the group talks about (with --group)')
    .option('--max-turns <n>', 'turn cap of the group conversation (with --group)')
    .action(async (options: ChatOptions) => {
      if (options.group !== undefined) {
        const { groupChat } = await import('./group-chat.js');
        const apiKey = options.apiKey ?? process.env.PERSONA_MCP_API_KEY;
        const maxTurns = options.maxTurns === undefined ? undefined : Number(options.maxTurns);
        await exitAfterFlush(
          await groupChat({
            url: options.url,
            personas: options.group.split(','),
            ...(options.topic !== undefined ? { topic: options.topic } : {}),
            ...(maxTurns !== undefined && Number.isInteger(maxTurns) && maxTurns > 0 ? { maxTurns } : {}),
            ...(apiKey ? { apiKey } : {}),
          }),
        );
        return;
      }
      await exitAfterFlush(await chat(options));
    });
}
