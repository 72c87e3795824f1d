/**
 * A `worker_threads` Worker whose entry is a TypeScript source (under vitest or tsx): the worker registers
 * tsx's loader, then imports `entry`. Node 20 does not apply an `--import` of `execArgv` to a worker's
 * entry (it still fails with ERR_UNKNOWN_FILE_EXTENSION), hence this bootstrap. The built server's workers
 * load their compiled `.js` entries directly and never come here.
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

export function startSourceWorker(entry: URL, options: Omit<WorkerOptions, 'eval'> = {}): Worker {
  const tsx = import.meta.resolve('tsx/esm/api');
  const source = `import(${JSON.stringify(tsx)}).then((tsx) => tsx.register()).then(() => import(${JSON.stringify(entry.href)}))`;
  return new Worker(source, { ...options, eval: true });
}
