/**
 * The work of `persona-mcp model create | dataset` (registered in `model.ts`).
 *
 * `model create` reads the persona from the data directory (safe while a server runs), writes the
 * Modelfile, creates the model through Ollama's `/api/create`, then switches the persona to it: directly in
 * the data directory, or through a running server with `--url` (its persona cache must see the change).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { DATABASE_FILE_NAME } from '../app/app.js';
import { InProcessEventBus } from '../adapters/events/in-process-bus.js';
import { OllamaModelCreator } from '../adapters/ollama/ollama-model-creator.js';
import { normalizeOllamaHost } from '../adapters/ollama/ollama-provider.js';
import { runningServer } from '../adapters/sqlite/backup.js';
import { SqliteDatasetSource } from '../adapters/sqlite/dataset-source.js';
import { SqliteStore } from '../adapters/sqlite/sqlite-store.js';
import type { Config } from '../config/schema.js';
import { AppError } from '../domain/errors.js';
import { systemClock } from '../ports/clock.js';
import { DatasetService } from '../services/models/dataset-service.js';
import { PersonaModelService } from '../services/models/persona-model-service.js';
import { PersonaService } from '../services/persona-service.js';
import { configFromFlags } from './config-flags.js';
import { RpcClient } from './rpc-client.js';

export interface ModelCreateFlags {
  config?: string;
  dataDir?: string;
  base?: string;
  adapter?: string;
  name?: string;
  backend?: string;
  ollamaHost?: string;
  modelfile?: string;
  dryRun?: boolean;
  /** commander's `--no-use`: false when given. */
  use?: boolean;
  url?: string;
  apiKey?: string;
}

export interface DatasetFlags {
  out: string;
  config?: string;
  dataDir?: string;
  user?: string;
  minReplies?: string;
  url?: string;
  apiKey?: string;
}

type Print = (line: string) => void;
const stdout: Print = (line) => process.stdout.write(`${line}\n`);

export async function modelCreateCommand(personaArg: string, flags: ModelCreateFlags, print: Print = stdout): Promise<string> {
  const config = configFromFlags({
    ...(flags.config !== undefined ? { config: flags.config } : {}),
    ...(flags.dataDir !== undefined ? { dataDir: flags.dataDir } : {}),
    ...(flags.ollamaHost !== undefined ? { ollamaHost: flags.ollamaHost } : {}),
  });
  const { name: backendName, url: ollamaUrl } = ollamaBackend(config, flags.backend);
  return withPersonas(config.dataDir, async (personas) => {
    const models = new PersonaModelService({
      personas,
      creator: new OllamaModelCreator({ baseUrl: ollamaUrl }),
      defaultModel: () => config.llm.model,
      ollamaPrefixes: [backendName],
    });
    const plan = models.plan(personaArg, { base: flags.base, adapter: flags.adapter === undefined ? undefined : path.resolve(flags.adapter), name: flags.name });
    const modelfilePath = flags.modelfile ?? path.join(config.dataDir, 'modelfiles', `${plan.name.replaceAll(/[/:]/g, '_')}.Modelfile`);
    mkdirSync(path.dirname(modelfilePath), { recursive: true });
    writeFileSync(modelfilePath, plan.modelfile);
    print(`wrote the Modelfile for ${plan.persona.name} to ${modelfilePath}`);
    if (plan.droppedOptions.length > 0) print(`left out options a Modelfile cannot hold: ${plan.droppedOptions.join(', ')}`);
    if (flags.dryRun === true) {
      print(`dry run: create it yourself with \`ollama create ${plan.name} -f ${modelfilePath}\``);
      return plan.name;
    }

    await models.create(plan, (status) => {
      if (status !== '') print(`  ${status}`);
    });
    print(`created ${plan.name} in Ollama at ${ollamaUrl} (from ${plan.spec.from}${plan.spec.adapter === null ? '' : `, adapter ${plan.spec.adapter}`})`);
    if (flags.use === false) return plan.name;

    const reference = backendName === defaultOllamaName(config) ? plan.name : `${backendName}:${plan.name}`;
    if (flags.url !== undefined) {
      await withServer(flags, (client) => client.request('persona.update', { persona_id: plan.persona.id, model: reference }));
      print(`${plan.persona.name} now uses ${reference} (through ${flags.url})`);
      return plan.name;
    }
    const server = runningServer(config.dataDir);
    if (server !== null) {
      print(
        `a server (pid ${server.pid}) uses ${config.dataDir}, so ${plan.persona.name} was not switched here; run again with --url ws://HOST:PORT/mcp, ` +
          `or call persona.update {"persona_id":"${plan.persona.id}","model":"${reference}"}`,
      );
      return plan.name;
    }
    await models.use(plan, reference);
    print(`${plan.persona.name} now uses ${reference}`);
    return plan.name;
  });
}

export async function datasetCommand(personaArg: string, flags: DatasetFlags, print: Print = stdout): Promise<number> {
  const minReplies = Number(flags.minReplies ?? '1');
  if (!Number.isInteger(minReplies) || minReplies < 1) throw new AppError('conflict', `--min-replies must be a whole number of at least 1, not "${flags.minReplies}"`);
  let result: { examples: number; skipped: number; jsonl: string; personaId: string };
  if (flags.url !== undefined) {
    if (flags.user !== undefined) throw new AppError('conflict', '--user cannot be used with --url: a server exports only the conversations of the API key that asks');
    const answer = await withServer(flags, (client) =>
      client.request<{ persona_id: string; examples: number; skipped: number; jsonl: string }>('persona.export_dataset', { persona_id: personaArg, min_replies: minReplies }),
    );
    result = { personaId: answer.persona_id, examples: answer.examples, skipped: answer.skipped, jsonl: answer.jsonl };
  } else {
    const config = configFromFlags({ ...(flags.config !== undefined ? { config: flags.config } : {}), ...(flags.dataDir !== undefined ? { dataDir: flags.dataDir } : {}) });
    result = await withPersonas(config.dataDir, async (personas, store) => {
      const datasets = new DatasetService({ personas, source: new SqliteDatasetSource(store.database) });
      return datasets.export(personaArg, flags.user ?? null, { minReplies });
    });
  }
  writeFileSync(flags.out, result.jsonl);
  print(`wrote ${result.examples} conversation(s) with ${result.personaId} to ${flags.out}${result.skipped > 0 ? ` (${result.skipped} with too few replies left out)` : ''}`);
  return result.examples;
}

/** The Ollama backend to create models in: a named one of kind ollama, or the built-in. */
function ollamaBackend(config: Config, name: string | undefined): { name: string; url: string } {
  const wanted = name ?? defaultOllamaName(config);
  const named = config.llm.backends[wanted];
  if (named !== undefined) {
    if (named.kind !== 'ollama') throw new AppError('conflict', `backend "${wanted}" is ${named.kind}; models can only be created in an Ollama backend`);
    return { name: wanted, url: normalizeOllamaHost(named.url) };
  }
  if (wanted !== 'ollama') {
    const known = ['ollama', ...Object.entries(config.llm.backends).filter(([, backend]) => backend.kind === 'ollama').map(([key]) => key)];
    throw new AppError('conflict', `no Ollama backend is named "${wanted}"; known: ${[...new Set(known)].join(', ')}`);
  }
  return { name: 'ollama', url: normalizeOllamaHost(config.llm.ollamaHost) };
}

/** The name under which bare model names reach Ollama: the default backend when it is an Ollama one. */
function defaultOllamaName(config: Config): string {
  const byName = config.llm.defaultBackend;
  if (byName !== undefined && config.llm.backends[byName]?.kind === 'ollama') return byName;
  return 'ollama';
}

async function withPersonas<T>(dataDir: string, work: (personas: PersonaService, store: SqliteStore) => Promise<T>): Promise<T> {
  const store = SqliteStore.open(path.join(dataDir, DATABASE_FILE_NAME));
  try {
    const personas = new PersonaService(store, systemClock, new InProcessEventBus(() => undefined));
    await personas.initialise([]);
    return await work(personas, store);
  } finally {
    await store.close();
  }
}

async function withServer<T>(flags: { url?: string; apiKey?: string }, work: (client: RpcClient) => Promise<T>): Promise<T> {
  const apiKey = flags.apiKey ?? process.env.PERSONA_MCP_API_KEY;
  const client = await RpcClient.connect(flags.url as string, apiKey ? { headers: { authorization: `Bearer ${apiKey}` } } : {});
  try {
    return await work(client);
  } finally {
    await client.close();
  }
}
