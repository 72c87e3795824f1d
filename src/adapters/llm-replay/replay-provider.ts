/**
 * A record/replay LLM provider around any other provider (Ollama, OpenAI-compatible, ...), for
 * deterministic regression runs: in `record` mode every chat request goes to the real backend and its
 * streamed answer is written to a cassette file; in `replay` mode answers come only from cassettes and
 * the backend is never called; `auto` replays what it has and records the rest.
 *
 * A replay miss (the request differs from every recording — usually because a prompt changed) fails
 * the turn with `llm_failed` and a readable diff against the nearest recorded request, so the change
 * can be judged and the cassettes re-recorded on purpose.
 *
 * Embeddings are deliberately not offered (no `embed`): memory search then uses the offline embedder in
 * both modes, so recording and replaying see the same vectors.
 */
import { AppError } from '../../domain/errors.js';
import type { LlmChatEvent, LlmChatRequest, LlmModel, LlmProvider, LlmStatus } from '../../ports/llm.js';
import { cassetteKey, CassetteShelf, normaliseRequest, type Cassette } from './cassette.js';

export type CassetteMode = 'record' | 'replay' | 'auto';

export interface ReplayProviderOptions {
  /** Folder holding the cassette files (created when recording). */
  directory: string;
  mode: CassetteMode;
  /** The real backend; needed for `record` and `auto`, unused in `replay`. */
  inner: LlmProvider | null;
  /** Written into each cassette (`recordedWith`); defaults to the inner provider's name. */
  recordedWith?: string;
  /** What to tell the user to do on a miss. */
  rerecordHint?: string;
}

/** Longest diff put into a miss error; the rest is cut (the nearest cassette's key is always named). */
const MAX_DIFF_CHARS = 6000;

export class ReplayLlmProvider implements LlmProvider {
  readonly name: string;
  private readonly shelf: CassetteShelf;
  /** Counts for reports: requests answered from cassettes, recorded, and missed. */
  readonly counts = { replayed: 0, recorded: 0, missed: 0 };

  constructor(private readonly options: ReplayProviderOptions) {
    if (options.mode !== 'replay' && options.inner === null) throw new Error(`Cassette mode "${options.mode}" needs a real LLM backend to record from.`);
    this.shelf = new CassetteShelf(options.directory);
    this.name = `${options.mode === 'replay' ? 'replay' : options.mode === 'record' ? 'record' : 'record/replay'}(${options.inner?.name ?? 'cassettes'})`;
  }

  async *chat(request: LlmChatRequest, signal: AbortSignal): AsyncIterable<LlmChatEvent> {
    const normalised = normaliseRequest(request);
    const key = cassetteKey(normalised);
    const recorded = this.options.mode === 'record' ? undefined : this.shelf.get(key);
    if (recorded !== undefined) {
      this.counts.replayed += 1;
      yield* replay(recorded, signal);
      return;
    }
    if (this.options.mode === 'replay') {
      this.counts.missed += 1;
      throw this.miss(key, normalised);
    }
    const inner = this.options.inner!;
    const chunks: string[] = [];
    for await (const event of inner.chat(request, signal)) {
      if (event.type === 'delta') {
        chunks.push(event.text);
        yield event;
      } else {
        this.shelf.put({
          version: 1,
          key,
          request: normalised,
          response: { chunks, promptTokens: event.promptTokens, completionTokens: event.completionTokens, model: event.model },
          recordedWith: this.options.recordedWith ?? inner.name,
        });
        this.counts.recorded += 1;
        yield event;
      }
    }
  }

  async listModels(signal?: AbortSignal): Promise<LlmModel[]> {
    if (this.options.mode !== 'replay') return this.options.inner!.listModels(signal);
    return this.shelf.models().map((name) => ({ name, sizeBytes: null, family: null, parameterSize: null, modifiedAt: null }));
  }

  async status(): Promise<LlmStatus> {
    if (this.options.mode !== 'replay') {
      const inner = await this.options.inner!.status();
      return { ...inner, provider: `${this.name}` };
    }
    return { reachable: true, provider: this.name, endpoint: this.options.directory, models: this.shelf.models() };
  }

  private miss(key: string, request: ReturnType<typeof normaliseRequest>): AppError {
    const { nearest, diff } = this.shelf.diffAgainstNearest(request);
    const hint = this.options.rerecordHint ?? 'record again with llm.cassettes.mode "record" (or "auto") against a real model';
    const where = `No cassette in ${this.options.directory} matches this ${request.model} request (key ${key}).`;
    const body =
      nearest === null
        ? `${where} The folder holds no cassettes at all; ${hint}.`
        : `${where} If the change below is intended, ${hint}. Nearest recording ${nearest.key}, diff (- recorded, + now):\n${
            diff.length > MAX_DIFF_CHARS ? `${diff.slice(0, MAX_DIFF_CHARS)}\n… (diff cut at ${MAX_DIFF_CHARS} characters)` : diff
          }`;
    return new AppError('llm_failed', body, { data: { cassette_miss: { key, nearest: nearest?.key ?? null } } });
  }
}

async function* replay(cassette: Cassette, signal: AbortSignal): AsyncIterable<LlmChatEvent> {
  for (const text of cassette.response.chunks) {
    if (signal.aborted) throw new AppError('cancelled', 'The request was cancelled.');
    yield { type: 'delta', text };
  }
  yield {
    type: 'done',
    promptTokens: cassette.response.promptTokens,
    completionTokens: cassette.response.completionTokens,
    model: cassette.response.model,
  };
}
