/**
 * The crash rig: runs `crash-child.ts` (a publisher on a durable store) as a
 * child process the test can SIGKILL, and reads what it prints line by line.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

/** Starts `crash-child.ts` with `args`; `line(re)` resolves with the first line (printed so far or later) matching `re`. */
export function child(args: string[]): {
  proc: ChildProcess;
  lines: string[];
  line(match: RegExp): Promise<string>;
} {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(here, 'crash-child.ts'), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines: string[] = [];
  const waiters: { match: RegExp; resolve(l: string): void; reject(e: Error): void }[] = [];
  let buf = '';
  proc.stdout?.on('data', (d: Buffer) => {
    buf += d.toString();
    let nl = buf.indexOf('\n');
    while (nl !== -1) {
      const l = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      lines.push(l);
      for (const w of waiters.splice(0)) {
        if (w.match.test(l)) w.resolve(l);
        else waiters.push(w);
      }
      nl = buf.indexOf('\n');
    }
  });
  proc.on('exit', () => {
    for (const w of waiters.splice(0))
      w.reject(new Error(`child exited before '${w.match}'; said ${lines.join(' | ')}`));
  });
  return {
    proc,
    lines,
    line: (match) =>
      new Promise((resolve, reject) => {
        const found = lines.find((l) => match.test(l));
        if (found !== undefined) resolve(found);
        else waiters.push({ match, resolve, reject });
      }),
  };
}
