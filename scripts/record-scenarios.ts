/**
 * Re-records the cassettes of the shipped scenarios (`npm run scenarios:record [FILE…]`) against the
 * deterministic stand-in model (test/fakes/stand-in-model.ts, served by the fake Ollama), then replays
 * them once to check that every assertion passes from the cassettes alone. Run it after a change that
 * alters what the server sends to the model (a prompt, a memory block, a setting), review the cassette
 * diff, and commit it.
 */
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { defaultCassetteDir, failureDetails, simulateFiles, summaryTable } from '../src/simulation/simulate.js';
import { startStandInOllama } from '../test/fakes/stand-in-model.js';

const root = path.resolve(import.meta.dirname, '..');
const given = process.argv.slice(2);
const files =
  given.length > 0
    ? given
    : readdirSync(path.join(root, 'scenarios'))
        .filter((name) => name.endsWith('.yaml'))
        .sort()
        .map((name) => path.join('scenarios', name));

const standIn = await startStandInOllama();
try {
  for (const file of files) rmSync(defaultCassetteDir(file), { recursive: true, force: true });
  const recorded = await simulateFiles(files, { cassetteMode: 'record', ollamaHost: standIn.url, parallel: 1, reportDir: null });
  process.stdout.write(`recorded against the stand-in model at ${standIn.url}:\n${summaryTable(recorded)}\n\n`);
  const replayed = await simulateFiles(files, { cassetteMode: 'replay', parallel: 2, reportDir: null });
  process.stdout.write(`replayed from the cassettes:\n${summaryTable(replayed)}\n`);
  const failures = failureDetails(replayed);
  if (failures.length > 0) {
    process.stderr.write(`\n${failures.join('\n')}\n`);
    process.exitCode = 1;
  }
} finally {
  await standIn.close();
}
