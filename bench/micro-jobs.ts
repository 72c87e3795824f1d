/**
 * `npx tsx bench/micro-jobs.ts [rounds]`: the CPU time (process.cpuUsage, not wall time) of two pieces of
 * a chat turn's background work, each the way it was before issue 15's round 5 and the way it is now:
 * - memory formation's write of a message with 2 memories (2 vectors each) and their restatements, in a
 *   real SQLite file holding 3,000 memories with the WordNet thesaurus: `replaceFormed` then
 *   `setDoc2Query` per memory (two writes, the full-text row written twice), against one `replaceFormed`
 *   with the restatements in the memories;
 * - one background model call with a 41-token reply, `OllamaProvider` + `collectReply` against a fake
 *   Ollama in another process (so only the client's CPU is counted): streamed NDJSON, against
 *   `"stream": false` (what the server asks for background work now).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadWordnetThesaurus } from '../src/adapters/embedders/wordnet-thesaurus.js';
import { OllamaProvider } from '../src/adapters/ollama/ollama-provider.js';
import { openDatabase } from '../src/adapters/sqlite/database.js';
import { SqliteMemoryStore } from '../src/adapters/sqlite/memory-store.js';
import type { NewMemory } from '../src/domain/memory/memory.js';
import type { LlmChatRequest } from '../src/ports/llm.js';
import { collectReply } from '../src/services/llm-reply.js';

const rounds = Number(process.argv[2] ?? 3);
const cpuMicros = (since: NodeJS.CpuUsage): number => {
  const used = process.cpuUsage(since);
  return used.user + used.system;
};

async function formationWrites(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'micro-jobs-'));
  const db = openDatabase(path.join(dir, 'bench.db'));
  try {
    db.prepare("INSERT INTO personas (id, name, definition, created_at, updated_at) VALUES ('aria', 'Aria', '{}', 0, 0)").run();
    const store = new SqliteMemoryStore(db, undefined, { thesaurus: loadWordnetThesaurus() });
    const texts = ['I have a dog named Max and he loves long walks in the park.', 'My sister works as a nurse in Boston.', 'I play the violoncello every evening after work.', 'We moved to Lisbon three years ago for my job.'];
    const restated = (k: number): string => `The user has a dog called Max. What is the name of your dog? Does your dog like walks? Where do you walk? ${k}`;
    const vector = (): Float32Array => Float32Array.from({ length: 768 }, () => Math.random() - 0.5);
    const formed = (k: number, doc2query: string | null) =>
      [0, 1].map((j) => ({
        memory: { personaId: 'aria', kind: 'user_fact', content: `The user said: ${texts[(k + j) % 4]} ${k}`, doc2query, importance: 0.5, importanceSource: 'llm', visibility: 'private', userId: null, messageId: k } satisfies NewMemory,
        vectors: [{ embedder: 'offline', vector: vector() }, { embedder: 'ollama:nomic-embed-text', vector: vector() }],
      }));
    let message = 1;
    for (let i = 0; i < 1_500; i++, message++) await store.replaceFormed(message, formed(message, restated(message)), Date.now());
    const n = 400;
    for (let round = 1; round <= rounds; round++) {
      let since = process.cpuUsage();
      for (let i = 0; i < n; i++, message++) {
        const stored = await store.replaceFormed(message, formed(message, null), Date.now());
        for (const memory of stored) await store.setDoc2Query(memory.id, restated(message));
      }
      const twoWrites = cpuMicros(since) / n;
      since = process.cpuUsage();
      for (let i = 0; i < n; i++, message++) await store.replaceFormed(message, formed(message, restated(message)), Date.now());
      const oneWrite = cpuMicros(since) / n;
      process.stdout.write(`round ${round}: formation write, 2 memories with restatements: two writes ${twoWrites.toFixed(0)} µs, one write ${oneWrite.toFixed(0)} µs\n`);
    }
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A fake Ollama in a child process: the appraisal's JSON reply, one NDJSON line per word or one object. */
const FAKE = `
const { createServer } = require('node:http');
const words = JSON.stringify({ tone: 0.4, poignancy: [5, 6], facts: [{ fact: 'The user has a sister called Maud who lives in Oslo.', questions: ['Where does your sister live?', 'What is your sister called?', 'Do you have a sister?'] }, { fact: 'The user keeps three beehives behind the orchard.', questions: ['Do you keep bees?', 'How many beehives do you have?', 'Where are your beehives?'] }] }).match(/\\S+\\s*/g);
const server = createServer((req, res) => { let text = ''; req.on('data', (c) => (text += c)); req.on('end', () => {
  const body = JSON.parse(text); const at = new Date().toISOString();
  if (body.stream === false) return res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ model: body.model, created_at: at, message: { role: 'assistant', content: words.join('') }, done: true, done_reason: 'stop', prompt_eval_count: 100, eval_count: words.length }));
  const lines = words.map((w) => JSON.stringify({ model: body.model, created_at: at, message: { role: 'assistant', content: w }, done: false }));
  lines.push(JSON.stringify({ model: body.model, created_at: at, message: { role: 'assistant', content: '' }, done: true, prompt_eval_count: 100, eval_count: words.length }));
  res.writeHead(200, { 'content-type': 'application/x-ndjson' }).end(lines.join('\\n') + '\\n');
}); });
server.listen(0, '127.0.0.1', () => process.stdout.write(server.address().port + '\\n'));`;

async function backgroundCalls(): Promise<void> {
  const child = spawn(process.execPath, ['-e', FAKE], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const port = await new Promise<number>((resolve) => child.stdout.once('data', (data) => resolve(Number(String(data).trim()))));
    const provider = new OllamaProvider({ baseUrl: `http://127.0.0.1:${port}` });
    const request = (priority: 'interactive' | 'background'): LlmChatRequest => ({
      model: 'bench',
      messages: [
        { role: 'system', content: 'You appraise exchanges.' },
        { role: 'user', content: 'Visitor: My sister Maud lives in Oslo.\nAria: How lovely.' },
      ],
      maxTokens: 300,
      contextTokens: 2048,
      priority,
    });
    const perCall = async (priority: 'interactive' | 'background', n: number): Promise<number> => {
      const since = process.cpuUsage();
      for (let i = 0; i < n; i++) await collectReply(provider.chat(request(priority), new AbortController().signal));
      return cpuMicros(since) / n;
    };
    await perCall('interactive', 300);
    await perCall('background', 300);
    for (let round = 1; round <= rounds; round++) {
      const streamed = await perCall('interactive', 1_500);
      const unstreamed = await perCall('background', 1_500);
      process.stdout.write(`round ${round}: a background call with a 41-token reply: streamed ${streamed.toFixed(0)} µs, unstreamed ${unstreamed.toFixed(0)} µs\n`);
    }
  } finally {
    child.kill();
  }
}

await formationWrites();
await backgroundCalls();
