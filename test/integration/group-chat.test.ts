/** `persona-mcp chat --group`: the terminal client of a group conversation, against a real server. */
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupChat } from '../../src/cli/group-chat.js';
import { startFakeOllama, type FakeOllama } from '../fakes/fake-ollama.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let ollama: FakeOllama;
let server: TestServer;

beforeAll(async () => {
  ollama = await startFakeOllama();
  let line = 0;
  ollama.setReply((body) => `line ${++line} from ${/\bYou are ([A-Z][\w-]*)/.exec(body.messages?.[0]?.content ?? '')?.[1] ?? '?'}`);
  server = await startTestServer({ ollamaUrl: ollama.url, flags: { 'social.groupTurnDelayMs': 0 } });
});
afterAll(async () => {
  await server.cleanup();
  await ollama.close();
});

describe('groupChat', () => {
  it('prints each turn, sends piped lines as interjections, and exits when the group ends', async () => {
    const input = new PassThrough();
    const output = new PassThrough();
    let printed = '';
    output.on('data', (chunk: Buffer) => (printed += chunk.toString()));
    input.end('Kira, tell me about the stars\n');
    const code = await groupChat(
      { url: server.server.websocketUrl, personas: ['aria', 'Kira'], topic: 'the night sky', maxTurns: 3 },
      { input: input as unknown as NodeJS.ReadStream, output: output as unknown as NodeJS.WriteStream },
    );
    expect(code).toBe(0);
    const turns = printed.split('\n').filter((text) => /^(Aria|Kira): line \d+ from (Aria|Kira)$/.test(text));
    expect(turns).toHaveLength(3);
    for (const turn of turns) expect(turn.split(':')[0]).toBe(/from (\w+)$/.exec(turn)![1]);
    expect(printed).toContain('> Kira, tell me about the stars');
    expect(printed).toContain('(conversation ended: turn cap)');
  });

  it('refuses a group of one', async () => {
    const code = await groupChat(
      { url: server.server.websocketUrl, personas: ['aria'] },
      { input: new PassThrough() as unknown as NodeJS.ReadStream, output: new PassThrough() as unknown as NodeJS.WriteStream },
    );
    expect(code).toBe(2);
  });
});
