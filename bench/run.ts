/**
 * `npm run bench`: runs every `bench/*.bench.ts` in its own process, one
 * after another, so that one benchmark's heap and JIT state do not colour
 * the next. Pass names to run a subset: `npm run bench -- codec`.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.startsWith(o)))
  .sort();

let failed = 0;
for (const file of files) {
  process.stdout.write(`\n## ${file}\n\n`);
  const res = spawnSync(process.execPath, ['--import', 'tsx', join(dir, file)], { stdio: 'inherit' });
  if (res.status !== 0) failed++;
}
process.exit(failed === 0 ? 0 : 1);
