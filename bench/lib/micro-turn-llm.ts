/**
 * The instant fake model of `bench/micro-turn.ts`, in its own process so that its CPU is not counted as
 * the server's: prints its URL on stdout, then serves until killed.
 */
import { startInstantLlm } from './instant-llm.js';

const llm = await startInstantLlm(['llama3.1:8b', 'nomic-embed-text:latest']);
process.stdout.write(`${llm.url}\n`);
