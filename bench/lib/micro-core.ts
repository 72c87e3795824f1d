/**
 * What the in-process micro benches share (bench/micro-turn.ts, micro-background.ts,
 * micro-contributors.ts): the compiled server's modules (dist/, or another build's with
 * `PERSONA_MICRO_DIST=/x/dist`, to compare two builds), the instant fake model in a child process (so its
 * CPU is not counted), and a real core in a temp data dir whose conversation already holds `stored`
 * messages, as the chat suite's.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';
import type * as AppModule from '../../src/app/app.js';
import type * as ConfigModule from '../../src/config/load.js';
import type * as LoggerModule from '../../src/logger.js';
import { seedText } from './chat-texts.js';

/** The build measured. */
export const microDist = path.resolve(process.env.PERSONA_MICRO_DIST ?? path.join(import.meta.dirname, '..', '..', 'dist'));

/** Imports `file` (a path under dist/) from the build measured. */
export const loadBuilt = <T>(file: string): Promise<T> => import(pathToFileURL(path.join(microDist, file)).href) as Promise<T>;

export type MicroCore = Awaited<ReturnType<typeof AppModule.createCore>>;

export interface MicroSetup {
  core: MicroCore;
  /** The session the turns run in, and its conversation with the seeded messages. */
  binding: { id: string; userId: null };
  conversationId: string;
  /** Runs turn `index` of the bench: a chat message of the chat suite's texts in the seeded conversation. */
  turn(index: number): Promise<unknown>;
  /** Closes the core, stops the fake model and removes the data dir. */
  close(): Promise<void>;
}

/**
 * Starts the fake model and a core named `name` with `stored` messages in one conversation of Aria's.
 * `stopJobs` stops the background job worker before the seeding (the caller may start it again); `dist`
 * loads another build than the one measured (`--against` of micro-background.ts).
 */
export async function startMicroCore(name: string, stored: number, options: { stopJobs?: boolean; dist?: string } = {}): Promise<MicroSetup> {
  const load = <T>(file: string): Promise<T> => (options.dist === undefined ? loadBuilt<T>(file) : (import(pathToFileURL(path.join(path.resolve(options.dist), file)).href) as Promise<T>));
  const { createCore } = await load<typeof AppModule>('app/app.js');
  const { loadConfig } = await load<typeof ConfigModule>('config/load.js');
  const { createLogger } = await load<typeof LoggerModule>('logger.js');
  const fake = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'micro-turn-llm.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const dataDir = mkdtempSync(path.join(os.tmpdir(), `persona-${name}-`));
  const removeAll = (): void => {
    fake.kill();
    rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    const url = await new Promise<string>((resolve) => createInterface({ input: fake.stdout! }).once('line', resolve));
    const config = loadConfig({ cwd: dataDir, env: {}, flags: { dataDir, port: 0, logLevel: 'warn', 'llm.ollamaHost': url } });
    const core = await createCore(config, { logger: createLogger('warn') });
    if (options.stopJobs === true) await core.services.memory.jobs.stop();
    const binding = { id: `${name.replaceAll('-', '_')}_session`, userId: null };
    const persona = core.services.personas.resolve('aria');
    const { state } = await core.services.personas.snapshot(persona);
    const start = Date.now() - stored * 60_000;
    let conversationId = '';
    for (let turn = 0; turn < stored / 2; turn++) {
      const now = start + turn * 120_000;
      const { conversation } = await core.store.appendUserTurn({ sessionId: binding.id, personaId: persona.id, content: seedText(turn), tokens: 30, now });
      conversationId = conversation.id;
      await core.store.appendAssistantTurn({ conversationId, personaId: persona.id, content: `Aria hears you: ${seedText(turn + 1)}`, tokens: 35, promptTokens: 900, processingMs: 800, now: now + 60_000, personaState: { ...state, updatedAt: now + 60_000 } });
    }
    return {
      core,
      binding,
      conversationId,
      turn: (index) =>
        core.services.chat.runTurn(binding, { message: `micro-${index}: ${seedText(index + 11)}`, personaId: 'aria', conversationId }, { signal: new AbortController().signal }),
      close: async () => {
        try {
          await core.close();
        } finally {
          removeAll();
        }
      },
    };
  } catch (error) {
    removeAll();
    throw error;
  }
}

/** Lets the work a reply set off (thread filing, mood, job enqueues) run: a few turns of the event loop. */
export async function settle(): Promise<void> {
  for (let hop = 0; hop < 4; hop++) await new Promise((resolve) => setImmediate(resolve));
}
