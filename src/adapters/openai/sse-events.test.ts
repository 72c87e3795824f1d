import { describe, expect, it } from 'vitest';
import { ServerSentEventSplitter } from './sse-events.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('ServerSentEventSplitter', () => {
  it('returns each event once its blank line arrives, across chunks, with multi-byte characters cut anywhere', () => {
    const splitter = new ServerSentEventSplitter();
    const whole = bytes('data: {"a":"é"}\n\n: a comment\ndata: one\ndata: two\n\nevent: error\ndata: {"error":{}}\n\ndata: [DONE]\n\n');
    const seen: Array<{ event: string | undefined; data: string }> = [];
    for (let at = 0; at < whole.length; at += 5) {
      for (const event of splitter.push(whole.subarray(at, at + 5))) seen.push({ event: event.event, data: event.data });
    }
    expect(seen).toEqual([
      { event: undefined, data: '{"a":"é"}' },
      { event: undefined, data: 'one\ntwo' },
      { event: 'error', data: '{"error":{}}' },
      { event: undefined, data: '[DONE]' },
    ]);
  });

  it('reads CRLF endings and keeps an event until its blank line arrives', () => {
    const splitter = new ServerSentEventSplitter();
    expect(splitter.push(bytes('data: first\r\n\r\ndata: last\r\n')).map((event) => event.data)).toEqual(['first']);
    expect(splitter.push(bytes('\r\n')).map((event) => event.data)).toEqual(['last']);
  });
});
