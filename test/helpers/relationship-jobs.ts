/**
 * The chat turn's relationship job (`social.relationship`) on a real store and job queue, wired as the
 * server wires it (`compose-social.ts`, without a judge: the sentiment heuristic rates each exchange), for
 * the crash tests of `test/integration/relationship-job-crash.test.ts` and their worker processes.
 */
import pino from 'pino';
import { InProcessEventBus } from '../../src/adapters/events/in-process-bus.js';
import { systemClock } from '../../src/ports/clock.js';
import type { JobQueue } from '../../src/ports/jobs.js';
import type { SocialStore } from '../../src/ports/social-store.js';
import type { Store } from '../../src/ports/store.js';
import { PersonaService } from '../../src/services/persona-service.js';
import { EmotionService } from '../../src/services/social/emotion-service.js';
import { RelationshipService } from '../../src/services/social/relationship-service.js';
import { RELATIONSHIP_JOB, SocialTurnObserver } from '../../src/services/social/social-turn-hooks.js';
import { TopicThreadService } from '../../src/services/social/topic-thread-service.js';

/**
 * `queue` whose handlers, once they have written their effect, call `written` and never return: the process
 * holds its jobs as a crash between a job's effect and its completion would leave them.
 */
export function holdingAfterEffect(queue: JobQueue, written: () => void): JobQueue {
  const hold = async <T>(effect: Promise<T>): Promise<T> => {
    await effect;
    written();
    return new Promise<T>(() => undefined);
  };
  const register: JobQueue['register'] = (type, handler, batching) =>
    queue.register(
      type,
      (job, signal) => hold(handler(job, signal)),
      batching === undefined ? undefined : { ...batching, handler: (jobs, signal) => hold(batching.handler(jobs, signal)) },
    );
  return new Proxy(queue, {
    get: (target, property) => {
      if (property === 'register') return register;
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Registers the relationship job's handler on `jobs` (call before it starts); the personas are those `store` holds. */
export async function registerRelationshipJob(store: Store, social: SocialStore, jobs: JobQueue): Promise<void> {
  const personas = new PersonaService(store, systemClock, new InProcessEventBus());
  await personas.initialise([]);
  const relationships = new RelationshipService(social, systemClock, (id) => personas.find(id));
  const emotions = new EmotionService(social, systemClock);
  const threads = new TopicThreadService(social, store, systemClock);
  new SocialTurnObserver({ personas, relationships, emotions, threads, logger: pino({ level: 'silent' }) }).useJobQueue(jobs, null);
}

/** Queues the relationship job of one exchange, as a chat turn's observer does (its payload). */
export function enqueueExchange(jobs: JobQueue, exchange: { personaId: string; userMessageId: number; conversationId: string; at: number }): Promise<number> {
  return jobs.enqueue(RELATIONSHIP_JOB, {
    ...exchange,
    userId: 'local',
    spoken: 'Thank you, that was lovely and really helpful!',
    answer: 'I am glad it helped.',
    durationMs: 1_000,
  });
}
