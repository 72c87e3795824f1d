/**
 * `persona-mcp chat --group aria,kira [--topic T] [--max-turns N]`: watch personas talk with each other
 * in the terminal and join in. Starts a group conversation on a running server with
 * `conversation.start {personas, subscribe: true}`, prints each turn as it arrives
 * (`conversation.turn` notifications), and sends every line typed as `conversation.interject`.
 *
 * Commands: `/quit` ends the conversation, `/resume` runs a paused group again, `/status` shows who is
 * present, `/help`. With piped input each line is one interjection; at end of input the command keeps
 * watching until the group ends by itself (nobody wants to continue, or the turn cap).
 *
 * To wire it (src/cli/chat.ts): `if (options.group) return groupChat({ url, personas: options.group.split(','), ... })`.
 */
import { ChatTerminal } from './chat-terminal.js';
import { describeError } from './chat-format.js';
import { RpcClient, type RpcNotification } from './rpc-client.js';

export interface GroupChatOptions {
  url: string;
  /** Persona ids or names, at least two. */
  personas: string[];
  topic?: string;
  maxTurns?: number;
  /** Sent as `Authorization: Bearer KEY`. */
  apiKey?: string;
}

export interface GroupChatIo {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
}

export const GROUP_HELP = [
  'Type to say something to the group; the persona you name is likely to answer.',
  '/status  who is present and whether the group is running',
  '/resume  run a paused group again',
  '/quit    end the conversation',
];

interface TurnParams {
  conversation_id: string;
  speaker_name: string | null;
  message: { id: number; role: string; content: string };
}

/** Runs the group chat until the conversation ends or the user quits; resolves to the exit code. */
export async function groupChat(
  options: GroupChatOptions,
  io: GroupChatIo = { input: process.stdin, output: process.stdout },
): Promise<number> {
  const terminal = new ChatTerminal(io.input, io.output);
  const names = options.personas.map((name) => name.trim()).filter((name) => name.length > 0);
  if (names.length < 2) {
    terminal.error('--group needs at least two personas, e.g. --group aria,kira');
    return 2;
  }
  const apiKey = options.apiKey ?? process.env.PERSONA_MCP_API_KEY;
  let client: RpcClient;
  try {
    client = await RpcClient.connect(options.url, apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {});
  } catch (error) {
    terminal.error(`cannot reach ${options.url}: ${describeError(error)} (is \`persona-mcp serve\` running?)`);
    return 1;
  }

  let conversationId: string | null = null;
  let resolveEnded!: (reason: string) => void;
  const ended = new Promise<string>((resolve) => (resolveEnded = resolve));
  client.onClose((reason) => resolveEnded(`disconnected: ${reason}`));
  client.onNotification((notification: RpcNotification) => {
    if (notification.params.conversation_id !== conversationId && conversationId !== null) return;
    if (notification.method === 'conversation.turn') {
      const { speaker_name, message } = notification.params as unknown as TurnParams;
      // The user's own lines are on screen already (typed, or echoed from a pipe).
      if (message.role !== 'user') terminal.line(`${speaker_name ?? 'Someone'}: ${message.content}`);
    } else if (notification.method === 'conversation.group_status') {
      const { status, reason } = notification.params as { status: string; reason: string | null };
      terminal.note(`(the group is ${status}${reason ? `: ${reason}` : ''}${status === 'paused' ? ' — type /resume to go on' : ''})`);
    } else if (notification.method === 'conversation.ended') {
      resolveEnded(String(notification.params.reason));
    }
  });

  try {
    const started = await client.request<{ conversation_id: string; participants: string[] }>('conversation.start', {
      personas: names,
      subscribe: true,
      ...(options.topic !== undefined ? { topic: options.topic } : {}),
      ...(options.maxTurns !== undefined ? { max_turns: options.maxTurns } : {}),
    });
    conversationId = started.conversation_id;
    terminal.note(`(group conversation ${started.conversation_id} with ${started.participants.join(', ')}; /help for commands)`);
  } catch (error) {
    terminal.error(describeError(error));
    await client.close();
    return 1;
  }

  let quit = false;
  const reading = (async () => {
    for (;;) {
      const line = await Promise.race([terminal.ask('> '), ended.then(() => null)]);
      if (line === null) return;
      const text = line.trim();
      if (text.length === 0) continue;
      try {
        if (text === '/quit' || text === '/exit') {
          quit = true;
          await client.request('conversation.end', { conversation_id: conversationId, reason: 'ended_by_user' });
          return;
        } else if (text === '/help') {
          for (const help of GROUP_HELP) terminal.note(help);
        } else if (text === '/resume') {
          await client.request('conversation.resume', { conversation_id: conversationId });
        } else if (text === '/status') {
          const status = await client.request<{ status: string; members: Array<{ persona_id: string; present: boolean }> }>(
            'conversation.group_status',
            { conversation_id: conversationId },
          );
          terminal.note(
            `(${status.status}; present: ${status.members
              .filter((member) => member.present)
              .map((member) => member.persona_id)
              .join(', ')})`,
          );
        } else {
          await client.request('conversation.interject', { conversation_id: conversationId, message: text });
        }
      } catch (error) {
        terminal.error(describeError(error));
      }
    }
  })();

  const reason = await ended;
  terminal.close();
  await reading.catch(() => undefined);
  terminal.note(`(conversation ended: ${reason.replace(/_/g, ' ')})`);
  await client.close();
  return quit || !reason.startsWith('disconnected') ? 0 : 1;
}
