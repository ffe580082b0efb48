/**
 * Builds `dist/` when any file under `src/` is newer than it: the CLI tests,
 * the package tests and the start-up bench run the built package (CI has
 * just built it in `npm ci`'s prepare step, so there it costs nothing).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return t;
}

/** Runs `npm run build` (scripts/build.mjs) in `root` unless its `dist/` is newer than its `src/`; says so on stderr when `say`. */
export function buildDistIfStale(root: string, say = false): void {
  let built = 0;
  try {
    built = statSync(join(root, 'dist/cli/main.js')).mtimeMs;
  } catch {
    // not built
  }
  if (built >= newest(join(root, 'src'))) return;
  if (say) process.stderr.write('  building dist/ (src/ is newer)\n');
  execFileSync(process.execPath, [join(root, 'scripts/build.mjs')], { cwd: root, stdio: 'inherit' });
}
