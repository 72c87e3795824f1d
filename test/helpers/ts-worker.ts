/**
 * A `worker_threads` Worker running a TypeScript entry under vitest. `execArgv: ['--import', 'tsx']`
 * does not work for a worker on Node 20 (its entry still fails with ERR_UNKNOWN_FILE_EXTENSION), so a
 * two-line bootstrap registers tsx's loader in the worker and then imports the entry. `tsx` is resolved
 * from the working directory (vitest runs in the package root).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startTsWorker(entry: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { ...options, eval: true });
}
