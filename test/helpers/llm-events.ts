/** What LLM adapter tests share: reading a chat's events, its failure, and a URL where nothing listens. */
import { createServer } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { expect } from 'vitest';
import { AppError } from '../../src/domain/errors.js';
import type { LlmChatEvent, LlmChatRequest } from '../../src/ports/llm.js';

/** A one-question chat request to the fake Ollama's default model; `background` as a job's call. */
export const asking = (question: string, priority?: 'background'): LlmChatRequest => ({
  model: 'llama3.1:8b',
  messages: [{ role: 'user', content: question }],
  maxTokens: 32,
  contextTokens: 512,
  ...(priority ? { priority } : {}),
});

/** Every event of a chat, in order; `seen` keeps those that arrived before a failure. */
export async function collect(events: AsyncIterable<LlmChatEvent>, seen: LlmChatEvent[] = []): Promise<LlmChatEvent[]> {
  for await (const event of events) seen.push(event);
  return seen;
}

/** The AppError a chat ends with; fails the test when the chat succeeds. */
export async function failureOf(events: AsyncIterable<LlmChatEvent>, seen: LlmChatEvent[] = []): Promise<AppError> {
  try {
    await collect(events, seen);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error('expected the chat to fail');
}

export const textOf = (events: LlmChatEvent[]): string => events.map((event) => (event.type === 'delta' ? event.text : '')).join('');

/** A base URL (plus `suffix`) where nothing listens: a port that was just in use and is now closed. */
export async function closedPortUrl(suffix = ''): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}${suffix}`;
}

/**
 * A TCP listener that accepts, reads a request's first bytes and resets the connection (as a proxy that
 * cuts requests waiting for their first token); `connections()` counts what it accepted. Close it with `close()`.
 */
export async function resetAfterRequestServer(suffix = ''): Promise<{ url: string; connections: () => number; close: () => Promise<void> }> {
  let connections = 0;
  const server = createTcpServer((socket) => {
    connections++;
    socket.once('data', () => socket.resetAndDestroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${suffix}`,
    connections: () => connections,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * A server that answers a chat request with `first`, and with `rest` and the end only once the first
 * event has reached the caller: the events of a chat whose reply arrives in two reads, the second written
 * after the first was passed on (a reply streamed as it comes is not held back).
 */
export async function eventsOfTwoReads(contentType: string, first: string, rest: string, chat: (baseUrl: string) => AsyncIterable<LlmChatEvent>): Promise<LlmChatEvent[]> {
  let writeRest = (): void => {};
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': contentType });
    res.write(first);
    writeRest = () => res.end(rest);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const events: LlmChatEvent[] = [];
    for await (const event of chat(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)) {
      events.push(event);
      if (events.length === 1) writeRest();
    }
    return events;
  } finally {
    server.close();
  }
}
