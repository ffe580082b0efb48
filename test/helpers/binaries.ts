/** Finding the binaries the test helpers spawn. */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const found = new Map<string, string | undefined>();

/** The first executable among `candidates` and `name` on PATH; cached. */
export function findBinary(name: string, candidates: string[]): string | undefined {
  if (found.has(name)) return found.get(name);
  const all = [...candidates];
  for (const dir of (process.env.PATH ?? '').split(delimiter)) if (dir !== '') all.push(join(dir, name));
  let binary: string | undefined;
  for (const candidate of all) {
    try {
      accessSync(candidate, constants.X_OK);
      binary = candidate;
      break;
    } catch {
      // next
    }
  }
  found.set(name, binary);
  return binary;
}
