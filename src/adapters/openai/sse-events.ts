/**
 * Splits a byte stream of Server-Sent Events (what OpenAI-compatible servers stream a chat as) into its
 * events, with `eventsource-parser` (the spec's rules: `data:` lines joined, comments and `retry:` skipped,
 * CR/LF/CRLF endings). Network chunks do not respect event boundaries; a multi-byte character cut between
 * two chunks is kept until its remaining bytes arrive. An event still lacking its blank line when the stream
 * ends is dropped, as the spec says (and as the `openai` client did).
 */
import { createParser, type EventSourceMessage } from 'eventsource-parser';

export type ServerSentEvent = EventSourceMessage;

const NONE: readonly ServerSentEvent[] = [];

export class ServerSentEventSplitter {
  private readonly decoder = new TextDecoder('utf-8');
  private pending: ServerSentEvent[] = [];
  private readonly parser = createParser({ onEvent: (event) => this.pending.push(event) });

  /** Adds one chunk; returns the events it completed. */
  push(chunk: Uint8Array): readonly ServerSentEvent[] {
    this.parser.feed(this.decoder.decode(chunk, { stream: true }));
    return this.take();
  }

  private take(): readonly ServerSentEvent[] {
    if (this.pending.length === 0) return NONE;
    const events = this.pending;
    this.pending = [];
    return events;
  }
}
