import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeOllama, type FakeOllama } from '../../../test/fakes/fake-ollama.js';
import { AppError } from '../../domain/errors.js';
import type { LlmChatRequest, LlmProvider } from '../../ports/llm.js';
import { OllamaProvider } from '../ollama/ollama-provider.js';
import { cassetteKey, normaliseRequest } from './cassette.js';
import { ReplayLlmProvider } from './replay-provider.js';

let ollama: FakeOllama;
const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'persona-mcp-cassettes-'));
  dirs.push(dir);
  return dir;
}
beforeAll(async () => {
  ollama = await startFakeOllama();
});
afterAll(async () => {
  await ollama.close();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const request = (content: string, extra: Partial<LlmChatRequest> = {}): LlmChatRequest => ({
  model: 'llama3.1:8b',
  messages: [
    { role: 'system', content: 'You are Aria. An elven bard.' },
    { role: 'user', content },
  ],
  maxTokens: 200,
  contextTokens: 4096,
  options: { temperature: 0.9, top_p: 0.95 },
  ...extra,
});

async function collect(provider: LlmProvider, chat: LlmChatRequest): Promise<{ text: string; deltas: number; done: unknown }> {
  let text = '';
  let deltas = 0;
  let done: unknown = null;
  for await (const event of provider.chat(chat, new AbortController().signal)) {
    if (event.type === 'delta') {
      text += event.text;
      deltas += 1;
    } else done = event;
  }
  return { text, deltas, done };
}

describe('ReplayLlmProvider', () => {
  it('records a streamed answer to a cassette file, then replays the same deltas without the backend', async () => {
    const dir = tempDir();
    const recorder = new ReplayLlmProvider({ directory: dir, mode: 'record', inner: new OllamaProvider({ baseUrl: ollama.url }) });
    const recorded = await collect(recorder, request('Sing me a song'));
    expect(recorded.text).toBe('Aria hears you: Sing me a song');
    expect(readdirSync(dir)).toEqual([`${cassetteKey(normaliseRequest(request('Sing me a song')))}.json`]);
    const cassette = JSON.parse(readFileSync(path.join(dir, readdirSync(dir)[0]!), 'utf8')) as { recordedWith: string; response: { chunks: string[] } };
    expect(cassette.recordedWith).toBe('ollama');
    expect(cassette.response.chunks.join('')).toBe(recorded.text);

    const before = ollama.requests.length;
    const player = new ReplayLlmProvider({ directory: dir, mode: 'replay', inner: null });
    const replayed = await collect(player, request('Sing me a song'));
    expect(replayed).toEqual(recorded);
    expect(ollama.requests.length).toBe(before);
    expect(player.counts).toEqual({ replayed: 1, recorded: 0, missed: 0 });
    expect((await player.listModels()).map((model) => model.name)).toEqual(['llama3.1:8b']);
  });

  it('matches requests that differ only in priority, trailing spaces, line ends or option order', () => {
    const base = cassetteKey(normaliseRequest(request('Hello')));
    expect(cassetteKey(normaliseRequest(request('Hello  \r\n', { priority: 'background', options: { top_p: 0.95, temperature: 0.9 } })))).toBe(base);
    expect(cassetteKey(normaliseRequest(request('Hello!')))).not.toBe(base);
    expect(cassetteKey(normaliseRequest(request('Hello', { maxTokens: 201 })))).not.toBe(base);
  });

  it('fails a miss with llm_failed and a diff against the nearest recorded request', async () => {
    const dir = tempDir();
    const recorder = new ReplayLlmProvider({ directory: dir, mode: 'record', inner: new OllamaProvider({ baseUrl: ollama.url }) });
    await collect(recorder, request('Tell me about the north road'));
    await collect(recorder, request('Something else entirely, about dragons'));
    const player = new ReplayLlmProvider({ directory: dir, mode: 'replay', inner: null, rerecordHint: 'run npm run scenarios:record' });
    const error = await collect(player, request('Tell me about the south road')).then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).kind).toBe('llm_failed');
    const message = (error as AppError).message;
    expect(message).toContain('If the change below is intended, run npm run scenarios:record');
    expect(message).toMatch(/^-Tell me about the north road$/m);
    expect(message).toMatch(/^\+Tell me about the south road$/m);
    expect(message).not.toContain('dragons');
    expect(player.counts.missed).toBe(1);
  });

  it('says so when the cassette folder is empty, and auto mode records only what it lacks', async () => {
    const dir = tempDir();
    const player = new ReplayLlmProvider({ directory: dir, mode: 'replay', inner: null });
    await expect(collect(player, request('Hi'))).rejects.toThrow(/holds no cassettes at all/);
    const auto = new ReplayLlmProvider({ directory: dir, mode: 'auto', inner: new OllamaProvider({ baseUrl: ollama.url }) });
    await collect(auto, request('Hi'));
    await collect(auto, request('Hi'));
    expect(auto.counts).toEqual({ replayed: 1, recorded: 1, missed: 0 });
  });
});
