/**
 * A backend's reachability for health, status and doctor: one probe (a model list) answered from a short
 * cache, shared by concurrent callers, so that a burst of `system.status` calls costs the backend one
 * request. Used by every HTTP LLM adapter (Ollama, OpenAI-compatible).
 */
import { isAppError } from '../../domain/errors.js';
import type { Clock } from '../../ports/clock.js';
import type { LlmStatus } from '../../ports/llm.js';

export interface StatusProbeOptions {
  /** The backend's name and base URL, as `LlmStatus` reports them. */
  provider: string;
  endpoint: string;
  /** How long one answer is reused, in milliseconds. */
  cacheMs: number;
  clock: Clock;
  /** Lists the backend's model names; throws when it cannot be reached. */
  listModelNames: () => Promise<string[]>;
  /** Told once per change from reachable (or unknown) to unreachable, so logs do not repeat every probe. */
  onUnreachable: (message: string) => void;
}

export class StatusProbe {
  private cache: { at: number; status: LlmStatus } | undefined;
  private inFlight: Promise<LlmStatus> | undefined;

  constructor(private readonly options: StatusProbeOptions) {}

  /** Never throws; callers get their own copy, so one cannot change what another sees. */
  async status(): Promise<LlmStatus> {
    const cached = this.cache;
    if (cached && this.options.clock.now() - cached.at < this.options.cacheMs) return copyStatus(cached.status);
    this.inFlight ??= this.probe().finally(() => {
      this.inFlight = undefined;
    });
    return copyStatus(await this.inFlight);
  }

  private async probe(): Promise<LlmStatus> {
    const base = { provider: this.options.provider, endpoint: this.options.endpoint };
    let status: LlmStatus;
    try {
      status = { ...base, reachable: true, models: await this.options.listModelNames() };
    } catch (error) {
      const message = isAppError(error) ? error.message : String(error);
      status = { ...base, reachable: false, error: message };
      if (this.cache?.status.reachable !== false) this.options.onUnreachable(message);
    }
    this.cache = { at: this.options.clock.now(), status };
    return status;
  }
}

function copyStatus(status: LlmStatus): LlmStatus {
  return status.models ? { ...status, models: [...status.models] } : { ...status };
}
