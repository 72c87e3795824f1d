/**
 * The bus behind MCP's 2026-07-28 `subscriptions/listen` streams, minding whose stream each is: the SDK's
 * listen router matches `resources/updated` to a stream by URI alone, so a stream asking for another
 * user's transcript would be told each time that user chats. Each stream's listener is registered while
 * its request runs (`asCaller`), and a transcript's update reaches it only when its caller may read that
 * transcript.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { InMemoryServerEventBus, type ServerEvent, type ServerEventBus } from '@modelcontextprotocol/server';
import type { Caller } from '../../services/auth-service.js';

export class CallerListenBus implements ServerEventBus {
  private readonly inner: InMemoryServerEventBus;
  private readonly callers = new AsyncLocalStorage<Caller>();

  constructor(
    /** Whether `caller` may follow the resource at `uri` (asked once per update and stream). */
    private readonly mayFollow: (caller: Caller, uri: string) => Promise<boolean>,
    private readonly onerror: (error: Error) => void,
  ) {
    this.inner = new InMemoryServerEventBus(onerror);
  }

  /** Runs an MCP request as `caller`: a listen stream it opens belongs to them. */
  asCaller<T>(caller: Caller, run: () => T): T {
    return this.callers.run(caller, run);
  }

  /** Open listen streams (none: a notice would go nowhere). */
  get listenerCount(): number {
    return this.inner.listenerCount;
  }

  publish(event: ServerEvent): void {
    this.inner.publish(event);
  }

  subscribe(listener: (event: ServerEvent) => void): () => void {
    const caller = this.callers.getStore();
    let isOpen = true;
    const stop = this.inner.subscribe((event) => {
      if (event.kind !== 'resource_updated') {
        listener(event);
        return;
      }
      // A stream whose caller is not known gets no transcript's updates.
      if (caller === undefined) return;
      this.mayFollow(caller, event.uri).then(
        (may) => {
          if (may && isOpen) listener(event);
        },
        (error: unknown) => this.onerror(error instanceof Error ? error : new Error(String(error))),
      );
    });
    return () => {
      isOpen = false;
      stop();
    };
  }
}
