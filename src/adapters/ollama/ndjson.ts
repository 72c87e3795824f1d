/**
 * Splits a byte stream of newline-delimited JSON (NDJSON) into lines. Network chunks do not respect
 * line boundaries: one chunk may hold several lines, half a line, or half of a multi-byte character,
 * and the last line may lack its newline. Feed chunks with `push`, then call `flush` at the end.
 */
export class NdjsonLineSplitter {
  // `stream: true` keeps a UTF-8 sequence cut between two chunks until its remaining bytes arrive.
  private readonly decoder = new TextDecoder('utf-8');
  private pending = '';

  /** Adds one chunk; returns the non-blank lines it completed, without their line endings. */
  push(chunk: Uint8Array): string[] {
    this.pending += this.decoder.decode(chunk, { stream: true });
    const parts = this.pending.split('\n');
    this.pending = parts.pop() ?? '';
    return nonBlank(parts);
  }

  /** Ends the stream; returns the last line when it had no newline. */
  flush(): string[] {
    const rest = this.pending + this.decoder.decode();
    this.pending = '';
    return nonBlank([rest]);
  }
}

function nonBlank(lines: string[]): string[] {
  // Trimming also drops the `\r` of CRLF line endings.
  return lines.map((line) => line.trim()).filter((line) => line !== '');
}
