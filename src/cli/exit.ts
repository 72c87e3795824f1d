/** Ending a CLI command: exit only after stdout and stderr have taken everything written to them. */

/**
 * `process.exit` can cut off output still queued for a pipe (a test, `| less`); writing an empty chunk
 * to each stream and waiting for its callback waits for everything queued before it.
 */
export async function exitAfterFlush(code: number): Promise<never> {
  await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((resolve) => stream.write('', () => resolve()))));
  process.exit(code);
}
