/**
 * Creates models in Ollama (`POST /api/create`), uploading a LoRA adapter first as blobs
 * (`HEAD`/`POST /api/blobs/sha256:…`) when one is given: Ollama's create API takes adapters by digest,
 * not by path, so the file may live on this machine while Ollama runs elsewhere.
 */
import { createHash } from 'node:crypto';
import { createReadStream, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { AppError, isAppError } from '../../domain/errors.js';
import type { CreateModelRequest, ModelCreator } from '../../ports/model-creator.js';
import { RequestScope } from '../llm-http/request-scope.js';
import { NdjsonLineSplitter } from './ndjson.js';
import { errorFromResponse, ollamaTimedOut, ollamaUnreachable } from './ollama-errors.js';

export interface OllamaModelCreatorOptions {
  baseUrl: string;
  /** Limit for the whole creation, uploads included. Defaults to 30 minutes (a large adapter on a slow link). */
  timeoutMs?: number;
}

export class OllamaModelCreator implements ModelCreator {
  readonly endpoint: string;
  private readonly timeoutMs: number;

  constructor(options: OllamaModelCreatorOptions) {
    this.endpoint = options.baseUrl.replace(/\/+$/, '');
    this.timeoutMs = options.timeoutMs ?? 30 * 60_000;
  }

  async create(request: CreateModelRequest, onProgress: (status: string) => void = () => {}, signal?: AbortSignal): Promise<void> {
    const scope = new RequestScope(signal);
    scope.startTimer('total', this.timeoutMs);
    let hasResponse = false;
    try {
      const adapters: Record<string, string> = {};
      for (const file of request.adapterPath === null ? [] : adapterFiles(request.adapterPath)) {
        const digest = await sha256Of(file);
        onProgress(`uploading adapter ${path.basename(file)} (${digest.slice(0, 19)}…)`);
        await this.pushBlob(file, digest, scope.signal);
        adapters[path.basename(file)] = digest;
      }
      const response = await fetch(`${this.endpoint}/api/create`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: request.name,
          from: request.from,
          system: request.system,
          parameters: request.parameters,
          ...(Object.keys(adapters).length > 0 ? { adapters } : {}),
          stream: true,
        }),
        signal: scope.signal,
      });
      hasResponse = true;
      if (!response.ok) throw await errorFromResponse(response, this.endpoint, request.from);
      if (!response.body) throw new AppError('llm_failed', 'Ollama answered /api/create without a body.');
      let isDone = false;
      const splitter = new NdjsonLineSplitter();
      const reader = response.body.getReader();
      for (;;) {
        const { value, done } = await reader.read();
        for (const line of done ? splitter.flush() : splitter.push(value)) {
          const status = parseStatus(line);
          onProgress(status);
          if (status === 'success') isDone = true;
        }
        if (done) break;
      }
      if (!isDone) throw new AppError('llm_failed', `Ollama stopped creating "${request.name}" before it reported success. Try again.`);
    } catch (error) {
      const stop = scope.stopCause;
      if (stop?.by === 'caller') throw new AppError('cancelled', 'Creating the model was cancelled.');
      if (stop?.by === 'timeout') throw ollamaTimedOut('total', stop.ms);
      if (isAppError(error)) throw error;
      if (!hasResponse) throw ollamaUnreachable(this.endpoint, error);
      throw new AppError('llm_failed', `Creating "${request.name}" broke off; try again.`, { detail: error });
    } finally {
      scope.dispose();
    }
  }

  private async pushBlob(file: string, digest: string, signal: AbortSignal): Promise<void> {
    const url = `${this.endpoint}/api/blobs/${digest}`;
    const head = await fetch(url, { method: 'HEAD', signal });
    if (head.ok) return;
    const body = Readable.toWeb(createReadStream(file)) as ReadableStream<Uint8Array>;
    const response = await fetch(url, { method: 'POST', body, signal, duplex: 'half' } as RequestInit & { duplex: 'half' });
    if (!response.ok) throw await errorFromResponse(response, this.endpoint);
  }
}

/** The adapter's files: the file itself, or every file in a safetensors adapter directory. */
function adapterFiles(adapterPath: string): string[] {
  let stats;
  try {
    stats = statSync(adapterPath);
  } catch {
    throw new AppError('conflict', `The adapter ${adapterPath} does not exist; give the path of a LoRA adapter (.gguf file or safetensors directory).`);
  }
  if (!stats.isDirectory()) return [adapterPath];
  const files = readdirSync(adapterPath, { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(adapterPath, entry.name));
  if (files.length === 0) throw new AppError('conflict', `The adapter directory ${adapterPath} is empty.`);
  return files;
}

function sha256Of(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(`sha256:${hash.digest('hex')}`));
  });
}

function parseStatus(line: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new AppError('llm_failed', 'Ollama sent a progress line this server cannot read.', { detail: line.slice(0, 200) });
  }
  if (typeof parsed === 'object' && parsed !== null) {
    if ('error' in parsed && typeof parsed.error === 'string') throw new AppError('llm_failed', `Ollama could not create the model: ${parsed.error}`);
    if ('status' in parsed && typeof parsed.status === 'string') return parsed.status;
  }
  return '';
}
