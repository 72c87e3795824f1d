/**
 * npm's `prepare` (after `npm ci`, and when `npx persona-mcp` runs this checkout as a package): builds
 * dist/ unless it is already built from the sources as they are now. `npx persona-mcp doctor` in a clone
 * ran the whole build (clean first) each time npm prepared the package, which took minutes and left no
 * server while it ran; now it finds dist/ up to date. `npm run build` always builds, and ends by stamping
 * dist/ (`--stamp`).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const STAMP = path.join(root, 'dist', '.built');
/** What the build reads: a change to any of them makes dist/ stale. */
const INPUTS = ['src', 'web', 'scripts', 'package.json', 'package-lock.json', 'tsconfig.json', 'tsconfig.build.json'];

function newestChange(entry) {
  const stats = statSync(entry, { throwIfNoEntry: false });
  if (stats === undefined) return 0;
  if (!stats.isDirectory()) return stats.mtimeMs;
  let newest = stats.mtimeMs;
  for (const name of readdirSync(entry)) {
    if (name === 'node_modules' || name === 'dist') continue;
    newest = Math.max(newest, newestChange(path.join(entry, name)));
  }
  return newest;
}

if (process.argv.includes('--stamp')) {
  // The end of `npm run build`: dist/ now holds the sources as they are.
  writeFileSync(STAMP, `${new Date().toISOString()}\n`);
  process.exit(0);
}

const builtAt = existsSync(path.join(root, 'dist', 'cli', 'main.js')) ? (statSync(STAMP, { throwIfNoEntry: false })?.mtimeMs ?? 0) : 0;
const changedAt = Math.max(...INPUTS.map((input) => newestChange(path.join(root, input))));
if (builtAt > changedAt) {
  process.stderr.write('persona-mcp: dist/ is up to date with the sources; not building again (`npm run build` does)\n');
} else {
  execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' });
}
