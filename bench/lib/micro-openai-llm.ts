/**
 * The fake OpenAI-compatible server of test/fakes for `bench/micro-llm.ts --openai`, in its own process so
 * that its CPU is not counted as the server's: a 42-word reply as Server-Sent Events (one event per word,
 * each written on its own, as llama.cpp and vLLM stream), then the finish, usage and `[DONE]` events. Prints
 * its URL (with `/v1`) on stdout, then serves until killed.
 */
import { startFakeOpenAi } from '../../test/fakes/fake-openai.js';

const reply = Array.from({ length: 42 }, (_, index) => `word${index}`).join(' ');
const server = await startFakeOpenAi({ reply, models: ['llama3.1:8b', 'nomic-embed-text:latest'] });
process.stdout.write(`${server.url}\n`);
