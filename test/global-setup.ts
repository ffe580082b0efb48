/**
 * Vitest global setup: the CLI tests run the built command (`dist/cli/main.js`),
 * so build `dist/` first when any file under `src/` is newer than it (CI has
 * just built it in `npm ci`'s prepare step).
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

export default function setup(): void {
  let built = 0;
  try {
    built = statSync('dist/cli/main.js').mtimeMs;
  } catch {
    // not built
  }
  if (built >= newest('src')) return;
  execFileSync(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.build.json'], {
    stdio: 'inherit',
  });
}
