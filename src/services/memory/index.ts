/** Long-term memory: search and edit, decay and pruning, formation jobs (built in `src/app/compose-memory.ts`). */
import type { JobQueue } from '../../ports/jobs.js';
import type { MemoryFormation } from './formation.js';
import type { MemoryMaintenance } from './maintenance.js';
import type { MemoryService } from './memory-service.js';

export interface MemoryServices {
  memories: MemoryService;
  maintenance: MemoryMaintenance;
  formation: MemoryFormation;
  /** The durable job queue memory work runs on (other features may register job types on it too). */
  jobs: JobQueue;
}
