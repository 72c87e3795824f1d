/**
 * The instant fake model of `bench/micro-turn.ts`, in its own process so that its CPU is not counted as
 * the server's: prints its URL on stdout, then serves until killed. `--paced`: a streamed reply one line a write.
 */
import { startInstantLlm } from './instant-llm.js';

const llm = await startInstantLlm(['llama3.1:8b', 'nomic-embed-text:latest'], { paced: process.argv.includes('--paced') });
process.stdout.write(`${llm.url}\n`);
