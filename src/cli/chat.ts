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
  const connect = (sessionId?: string): Promise<RpcClient> =>
    RpcClient.connect(withSession(options.url, sessionId), apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {});
  try {
    client = await connect();
  } catch (error) {
    process.stderr.write(`${connectionProblem(options.url, error, apiKey)}\n`);
    terminal.close();
    return 1;
  }
  const session = new ChatSession(client, connect, terminal, options);
  return session.run();
}

/** The URL that attaches a new connection to `sessionId` (`?session_id=`; it need not be stored yet). */
function withSession(url: string, sessionId: string | undefined): string {
  if (sessionId === undefined) return url;
  try {
    const parsed = new URL(url);
    parsed.searchParams.set('session_id', sessionId);
    return parsed.toString();
  } catch {
    return url; // not a URL: the connection attempt says so
  }
}

/** Waits between reconnection attempts: quick at first (a restart takes a second or two), then every 5 s. */
const RECONNECT_DELAYS_MS = [250, 500, 1000, 2000, 5000];
/** With piped input nobody can press Ctrl-C: give up after this long without a server. */
const PIPED_RECONNECT_LIMIT_MS = 30_000;

class ChatSession {
  private personaId: string | null = null;
  private personaName = '';
  private readonly personaNames = new Map<string, string>();
  private isQuitting = false;
  /** Set when the server could not be reached again (piped input gives up after a while). */
  private lostConnection: string | null = null;
  /** The session this chat resumes after a reconnect. */
  private sessionId: string | null = null;
  /** The reply being printed; Ctrl-C stops it instead of quitting. */
  private reply: { isStopped: boolean } | null = null;
  /** Resolves once a connection is open (replaced while reconnecting). */
  private connected: Promise<void> = Promise.resolve();
  /** Hints (`error.data.hint`) already shown: each is printed once per chat. */
  private readonly shownHints = new Set<string>();

  constructor(
    private client: RpcClient,
    private readonly connect: (sessionId?: string) => Promise<RpcClient>,
    private readonly terminal: ChatTerminal,
    private readonly options: ChatOptions,
  ) {}

  async run(): Promise<number> {
    const quit = (): void => {
      this.isQuitting = true;
      this.terminal.close();
      void this.client.close();
    };
    // Ctrl-C during a reply stops the reply; at the prompt (or a second time) it quits.
    const interrupt = (): void => {
      if (this.reply !== null && !this.reply.isStopped) this.stopReply(this.reply);
      else quit();
    };
    this.terminal.onInterrupt(interrupt);
    process.on('SIGINT', interrupt);
    this.watch(this.client);
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
        this.terminal.error(this.describe(error));
        exitCode = 1;
      }
    } finally {
      process.removeListener('SIGINT', interrupt);
      this.terminal.close();
      await this.client.close();
    }
    if (this.lostConnection !== null && !this.isQuitting) {
      this.terminal.error(`Lost the connection to persona-mcp at ${this.client.url}: ${this.lostConnection}`);
      return 1;
    }
    return exitCode;
  }

  /** Reconnects when the server goes away (a restart, a network blip), unless the user is leaving. */
  private watch(client: RpcClient): void {
    client.onClose((reason) => {
      if (this.isQuitting || client !== this.client) return;
      this.terminal.note(`Lost the connection to persona-mcp at ${client.url} (${reason}); reconnecting…`);
      this.connected = this.reconnect({ isQuiet: false });
    });
  }

  /** Opens a new connection to the same session; retries until the server is back. */
  private async reconnect(options: { isQuiet: boolean }): Promise<void> {
    const started = Date.now();
    for (let attempt = 0; !this.isQuitting; attempt += 1) {
      try {
        const client = await this.connect(this.sessionId ?? undefined);
        if (this.isQuitting) {
          await client.close();
          return;
        }
        this.client = client;
        this.watch(client);
        if (!options.isQuiet) this.terminal.note('Reconnected; your session continues.');
        return;
      } catch (error) {
        if (error instanceof RpcConnectionError && error.httpStatus !== undefined) {
          // The server is back but refuses this session or key (HTTP 401/403): nothing a retry fixes.
          this.lostConnection = `the server refused to reconnect (HTTP ${error.httpStatus})`;
          this.terminal.close();
          return;
        }
        if (!this.terminal.isInteractive && Date.now() - started > PIPED_RECONNECT_LIMIT_MS) {
          this.lostConnection = `no server for ${PIPED_RECONNECT_LIMIT_MS / 1000} s`;
          this.terminal.close();
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAYS_MS[Math.min(attempt, RECONNECT_DELAYS_MS.length - 1)]));
      }
    }
  }

  /**
   * Stops the reply in progress: nothing more of it is printed, and the connection it streams on is
   * closed, which makes the server abort the generation (there is no per-request cancel in the API).
   * The chat reconnects at once to the same session; the user's message stays stored.
   */
  private stopReply(reply: { isStopped: boolean }): void {
    reply.isStopped = true;
    // On a terminal readline has already ended the line at Ctrl-C.
    if (!this.terminal.isInteractive) this.terminal.write('\n');
    this.terminal.note('(stopped; press Ctrl-C again to quit)');
    const old = this.client;
    this.connected = old.close().then(() => this.reconnect({ isQuiet: true }));
  }

  /** Resumes (or starts) the session and settles on a persona. */
  private async start(): Promise<void> {
    const info = await this.attachSession();
    this.sessionId = info.session_id;
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
        this.terminal.error(this.describe(error));
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
        await this.connected;
        if (this.isQuitting || this.lostConnection !== null) return;
        if (text.startsWith('/')) {
          if ((await this.command(text)) === 'quit') return;
        } else {
          await this.say(text);
        }
      } catch (error) {
        if (this.isQuitting) throw error;
        if (error instanceof RpcConnectionError) {
          // The server went away mid-request; `watch` is reconnecting.
          this.terminal.error('The connection to the server was lost before the answer came; send it again once reconnected.');
          continue;
        }
        this.terminal.error(this.describe(error));
      }
    }
  }

  private async say(message: string): Promise<void> {
    const prefix = `${this.personaName} › `;
    let hasStreamed = false;
    const reply = { isStopped: false };
    this.reply = reply;
    try {
      const result = await this.client.request<ChatResult>(
        'persona.chat',
        { message, stream: true, ...(this.personaId ? { persona_id: this.personaId } : {}) },
        {
          onNotification: ({ method, params }) => {
            // After Ctrl-C not one more word: chunks already on their way are dropped.
            if (reply.isStopped || method !== 'persona.chat.chunk' || typeof params.delta !== 'string') return;
            if (!hasStreamed) this.terminal.write(prefix);
            hasStreamed = true;
            this.terminal.write(params.delta);
          },
        },
      );
      if (reply.isStopped) return;
      // A server that does not stream still answers with the whole reply.
      this.terminal.write(hasStreamed ? '\n' : `${prefix}${result.response}\n`);
      this.terminal.note(formatTurnStats(result));
    } catch (error) {
      if (reply.isStopped) return;
      if (hasStreamed) this.terminal.write('\n');
      throw error;
    } finally {
      this.reply = null;
    }
  }

  /** An error in one line; its hint only the first time (the same advice on every failed message is noise). */
  private describe(error: unknown): string {
    const hint = error instanceof RpcError ? error.hint : undefined;
    const isNew = hint !== undefined && !this.shownHints.has(hint);
    if (hint !== undefined) this.shownHints.add(hint);
    return describeError(error, { withHint: isNew });
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
