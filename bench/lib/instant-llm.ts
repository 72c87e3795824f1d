/**
 * An instant fake Ollama for the chat suite. `POST /api/chat` answers at once with the whole NDJSON
 * stream in one write (one line per word, then the `done` line), or with `"stream": false` (what the
 * server asks for background work) Ollama's one JSON object holding the whole reply; `POST /api/embed` answers 768-number
 * vectors (nomic-embed-text's size) derived from a hash of each input; tags and version answer like
 * test/fakes/fake-ollama.ts, whose echo reply ("Aria hears you: ...") is used — cut, as Ollama does, at
 * the request's `num_predict` tokens (one word counts as one here). Background tasks (a poignancy
 * rating, a relationship judgement, a summary) send their whole instructions as the user message and ask
 * for a few tokens; echoing them whole made each a stream of hundreds of lines no model would send. The
 * turn appraisal and doc2query get answers in their formats (`replyTo`).
 *
 * Every request is recorded with its arrival and finish times (performance.now() of this process,
 * the same clock as the bench's WebSocket client), so the chat suite can tell which calls were on a
 * turn's critical path and subtract their time.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appraisalReply, restated } from '../../test/fakes/appraisal-reply.js';
import { echoReply, type FakeChatBody } from '../../test/fakes/fake-ollama.js';

const EMBEDDING_DIMENSIONS = 768;

export interface LlmCall {
  path: '/api/chat' | '/api/embed';
  /** performance.now() when the request arrived and when its response finished. */
  arrived: number;
  finished: number;
  /** The raw request body (to find which turn it belongs to). */
  body: string;
}

export interface InstantLlm {
  url: string;
  readonly calls: LlmCall[];
  /** Messages in each chat request's prompt, in arrival order. */
  readonly promptMessages: number[];
  close(): Promise<void>;
}

/**
 * `paced`: a streamed reply goes out one line a write, each after a `setImmediate`, so that the client reads
 * (nearly always) one token line at a time, as from a real model, instead of the whole stream in one read.
 */
export async function startInstantLlm(models: string[], options: { paced?: boolean } = {}): Promise<InstantLlm> {
  const calls: LlmCall[] = [];
  const promptMessages: number[] = [];
  const server = createServer((request, response) => {
    const arrived = performance.now();
    const path = new URL(request.url ?? '/', 'http://fake').pathname;
    if (request.method === 'GET' && path === '/api/version')
      return void response.writeHead(200, { 'content-type': 'application/json' }).end('{"version":"0.12.0"}');
    if (request.method === 'GET' && path === '/api/tags') {
      return void response
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ models: models.map((name) => ({ name, model: name })) }));
    }
    if (request.method !== 'POST' || (path !== '/api/chat' && path !== '/api/embed'))
      return void response.writeHead(404).end('404 page not found');
    readBody(request).then(
      (text) => {
        const body = JSON.parse(text) as FakeChatBody;
        const call: LlmCall = { path, arrived, finished: Number.NaN, body: text };
        calls.push(call);
        response.on('finish', () => (call.finished = performance.now()));
        if (path === '/api/embed') {
          const input = body['input'];
          const texts = Array.isArray(input) ? input.map(String) : [String(input ?? '')];
          return void response
            .writeHead(200, { 'content-type': 'application/json' })
            .end(JSON.stringify({ model: body.model, embeddings: texts.map(embeddingOf) }));
        }
        promptMessages.push(body.messages?.length ?? 0);
        response.writeHead(200, { 'content-type': body.stream === false ? 'application/json' : 'application/x-ndjson' });
        if (options.paced !== true || body.stream === false) return void response.end(chatStream(body));
        const lines = chatStream(body).match(/[^\n]*\n/g) ?? [];
        const writeNext = (at: number): void => {
          if (at === lines.length) return void response.end();
          response.write(lines[at]);
          setImmediate(writeNext, at + 1);
        };
        writeNext(0);
      },
      () => response.writeHead(400).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    promptMessages,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function chatStream(body: FakeChatBody): string {
  const model = body.model ?? '';
  const limit = typeof body.options?.num_predict === 'number' && body.options.num_predict > 0 ? body.options.num_predict : Number.POSITIVE_INFINITY;
  const words = (replyTo(body).match(/^\s+|\S+\s*/g) ?? []).slice(0, limit);
  const created = new Date().toISOString();
  const promptEvalCount = (body.messages ?? []).reduce((sum, message) => sum + Math.ceil(String(message.content ?? '').length / 4), 0);
  if (body.stream === false) {
    // Ollama's unstreamed answer (the server asks so for background work): one object, the final fields with the whole reply.
    return JSON.stringify({
      model,
      created_at: created,
      message: { role: 'assistant', content: words.join('') },
      done: true,
      done_reason: 'stop',
      prompt_eval_count: promptEvalCount,
      eval_count: words.length,
    });
  }
  const lines = words.map((word) =>
    JSON.stringify({ model, created_at: created, message: { role: 'assistant', content: word }, done: false }),
  );
  lines.push(
    JSON.stringify({
      model,
      created_at: created,
      message: { role: 'assistant', content: '' },
      done: true,
      done_reason: 'stop',
      prompt_eval_count: promptEvalCount,
      eval_count: words.length,
    }),
  );
  return `${lines.join('\n')}\n`;
}

/**
 * What a model that follows the background prompts answers: the turn appraisal's JSON (a tone, a rating
 * and — when asked — a fact with questions per memory) and doc2query's "Fact:"/"Q:" lines, so the chat
 * suite runs the work a real answer causes (ratings, doc2query texts stored); the echo otherwise.
 */
function replyTo(body: FakeChatBody): string {
  const appraisal = appraisalReply(body, { tone: 0.4, rating: 5 });
  if (appraisal !== null) return appraisal;
  const last = body.messages?.at(-1)?.content ?? '';
  if (!last.includes('"Fact:"')) return echoReply(body);
  const memories = [...last.matchAll(/^(?:\d+\. )?"(.*)"$/gm)].map((match) => match[1]!);
  return memories
    .map((memory, index) => {
      const { fact, questions } = restated(memory);
      return `${memories.length > 1 ? `Memory ${index + 1}:\n` : ''}Fact: ${fact}\n${questions.map((question) => `Q: ${question}`).join('\n')}`;
    })
    .join('\n');
}

/** A unit vector from a SHA-256 of the text, stretched to 768 numbers (same text, same vector). */
function embeddingOf(text: string): number[] {
  const digest = createHash('sha256').update(text).digest();
  const raw = Array.from({ length: EMBEDDING_DIMENSIONS }, (_, index) => Math.sin((digest[index % 32]! + 1) * (index + 1)));
  const norm = Math.hypot(...raw) || 1;
  return raw.map((value) => value / norm);
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
