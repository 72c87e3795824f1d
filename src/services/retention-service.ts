/**
 * Keeps storage bounded: on a timer, removes idle sessions and applies the message retention policy
 * (DESIGN.md §4). The rules themselves are the store's `applyRetention`; this only schedules and logs.
 */
import type { Logger } from 'pino';
import type { Clock } from '../ports/clock.js';
import type { RetentionPolicy, RetentionResult, Store } from '../ports/store.js';
import type { SessionService } from './session-service.js';
import type { MoodHistoryPolicy, MoodHistoryService } from './social/mood-history-service.js';

export class RetentionService {
  private timers: NodeJS.Timeout[] = [];

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly policy: RetentionPolicy & Partial<MoodHistoryPolicy>,
    /** Its cache of active personas must forget sessions the policy removed. */
    private readonly sessions?: SessionService,
    /** Mood and energy samples and logged mood changes, kept within `moodHistoryMaxAgeMs` and `maxMoodSamplesPerPersona`. */
    private readonly moodHistory?: MoodHistoryService,
  ) {}

  async runOnce(): Promise<RetentionResult & { moodHistoryRemoved: number }> {
    const now = this.clock.now();
    const result = { ...(await this.store.applyRetention(this.policy, now)), moodHistoryRemoved: 0 };
    if (result.sessionsRemoved > 0) this.sessions?.forgetAll();
    if (this.moodHistory !== undefined) result.moodHistoryRemoved = await this.moodHistory.prune(now, this.policy);
    if (result.sessionsRemoved + result.messagesRemoved + result.conversationsEnded + result.moodHistoryRemoved > 0) this.logger.info({ ...result }, 'retention clean-up');
    return result;
  }

  /** Runs once soon after start-up, then every `intervalMs`. */
  start(intervalMs: number): void {
    const run = (): void => {
      this.runOnce().catch((error: unknown) => this.logger.error({ err: error }, 'retention clean-up failed'));
    };
    this.timers = [setInterval(run, intervalMs), setTimeout(run, 5_000)];
    for (const timer of this.timers) timer.unref();
  }

  stop(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
  }
}
