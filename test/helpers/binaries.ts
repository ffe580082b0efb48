/** Finding the binaries the test helpers spawn, and cleaning up after them. */
import type { ChildProcess } from 'node:child_process';
import { accessSync, constants, rmSync } from 'node:fs';
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

/**
 * Whether `findBinary(name, candidates)` finds it, for `describe.skipIf`;
 * prints that the tests needing it are skipped when it does not.
 */
export function hasBinary(name: string, candidates: string[]): boolean {
  const found = findBinary(name, candidates) !== undefined;
  if (!found) console.warn(`${name} not found (${candidates[0]} or PATH): skipping tests that need it`);
  return found;
}

/**
 * Runs `cleanup` when the process ends: on 'exit', and on SIGTERM, SIGINT
 * and SIGHUP (vitest ends its workers with SIGTERM, which skips 'exit'),
 * after which the signal does what it would have done.
 */
export function onProcessEnd(cleanup: () => void): void {
  process.once('exit', cleanup);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanup();
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

/** Server processes and temporary directories the helpers own, killed and removed when the process ends. */
export const live = new Set<ChildProcess>();
export const dirs = new Set<string>();
let exitHookInstalled = false;

export function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  onProcessEnd(() => {
    for (const child of live) child.kill('SIGKILL');
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });
}

/** Sends `signal` to `child` and waits for `exited`, with SIGKILL after `graceMs`. */
export async function signalChild(
  child: ChildProcess | undefined,
  exited: Promise<unknown>,
  signal: NodeJS.Signals,
  graceMs: number,
): Promise<void> {
  if (child === undefined) return;
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}
