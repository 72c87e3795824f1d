import { describe, expect, it } from 'vitest';
import { NdjsonLineSplitter } from './ndjson.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function splitAt(text: string, cuts: number[]): string[] {
  const data = bytes(text);
  const splitter = new NdjsonLineSplitter();
  const lines: string[] = [];
  let start = 0;
  for (const cut of [...cuts, data.length]) {
    lines.push(...splitter.push(data.subarray(start, cut)));
    start = cut;
  }
  return [...lines, ...splitter.flush()];
}

describe('NdjsonLineSplitter', () => {
  const stream = '{"a":"🌸 one"}\n{"b":2}\r\n\n{"c":"last, no newline"}';
  const expected = ['{"a":"🌸 one"}', '{"b":2}', '{"c":"last, no newline"}'];

  it('gives the same lines wherever the byte stream is cut, even inside a character', () => {
    const length = bytes(stream).length;
    for (let cut = 0; cut <= length; cut++) expect(splitAt(stream, [cut])).toEqual(expected);
  });

  it('gives the same lines when every byte arrives alone', () => {
    const length = bytes(stream).length;
    expect(
      splitAt(
        stream,
        Array.from({ length }, (_, i) => i),
      ),
    ).toEqual(expected);
  });

  it('returns nothing from flush when the stream ended with a newline', () => {
    const splitter = new NdjsonLineSplitter();
    expect(splitter.push(bytes('{"x":1}\n'))).toEqual(['{"x":1}']);
    expect(splitter.flush()).toEqual([]);
  });
});
