/**
 * For tests of refused options: how a call ended within a few turns of the
 * event loop (not a time), and the check that it was refused with an
 * InvalidArgumentError naming the field.
 *
 * ```ts
 * expectRefused(await outcome(() => s.publish('t', 'x', { timeout: -1 })), 'options.timeout');
 * expect(await outcome(() => m.waitReady('a', { timeout: 0 }))).toBe('pending');
 * ```
 */
import { expect } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';

/**
 * How `call` ended within five turns of the event loop: the error it rejected with, `{ thrown }`
 * when it threw instead of returning a promise, 'resolved', or 'pending' (what a call that waits
 * for ever looks like).
 */
export async function outcome(call: () => Promise<unknown>): Promise<unknown> {
  let p: Promise<unknown>;
  try {
    p = call();
  } catch (err) {
    return { thrown: err };
  }
  const settled = p.then(
    () => 'resolved',
    (e: unknown) => e,
  );
  let turns = 0;
  const pending = new Promise<string>((resolve) => {
    const next = () => (++turns === 5 ? resolve('pending') : setImmediate(next));
    setImmediate(next);
  });
  return Promise.race([settled, pending]);
}

/** Checks that `result` is an InvalidArgumentError whose field is `field` (or matches it). */
export function expectRefused(result: unknown, field: string | RegExp): void {
  expect(result).toBeInstanceOf(InvalidArgumentError);
  const f = (result as InvalidArgumentError).field;
  if (typeof field === 'string') expect(f).toBe(field);
  else expect(f).toMatch(field);
}
