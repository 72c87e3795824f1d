/**
 * Loaded into the server under test by `npm run bench -- --alloc-prof` (`node --import`): samples every
 * allocation, including objects the GC has already collected (what `--heap-prof` leaves out, and what
 * makes the GC work), and writes the profile to PERSONA_ALLOC_PROF_DIR when the server exits.
 * `npx tsx bench/profile-summary.ts FILE.heapprofile` lists the bytes allocated per function.
 */
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

const dir = process.env.PERSONA_ALLOC_PROF_DIR ?? '.';
const session = new Session();
session.connect();
session.post('HeapProfiler.enable');
session.post('HeapProfiler.startSampling', {
  samplingInterval: 16_384,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
process.on('exit', () => {
  // A session on the main thread answers synchronously, so this runs before the process ends.
  session.post('HeapProfiler.stopSampling', (error, result) => {
    if (error) process.stderr.write(`allocation profile not written: ${error.message}\n`);
    else writeFileSync(path.join(dir, `ALLOC.${Date.now()}.${process.pid}.heapprofile`), JSON.stringify(result.profile));
  });
});
