/**
 * What a test opened, closed after it: `onCleanup(fn)` inside a test (or a
 * helper it calls) runs `fn` after that test, last registered first (a
 * session before the broker it talks to), each awaited, all of them even
 * when one fails.
 *
 * ```ts
 * const b = await startFakeBroker();
 * onCleanup(() => b.close());
 * const s = closeAfter(new Session({ url: b.url }));
 * ```
 *
 * Importing this module registers one `afterEach` on the importing test
 * file's root suite (each file gets its own copy of the module: vitest's
 * default `isolate`). Under vitest's default hook order ('stack', after-hooks
 * last registered first) it runs after the file's own `afterEach` hooks, so a
 * file that switches back to real timers in its `afterEach` does so before
 * anything here closes. Only for use inside a test or `beforeEach`; what a
 * `beforeAll` starts is stopped by its `afterAll`.
 */
import { afterEach } from 'vitest';
import { CleanupStack } from './cleanup-stack.js';

const afterTest = new CleanupStack();

afterEach(() => afterTest.run());

/** Runs `fn` after the current test. */
export function onCleanup(fn: () => unknown): void {
  afterTest.push(fn);
}

/** Closes `x` after the current test (`x.close()`); returns `x`. */
export function closeAfter<T extends { close(): unknown }>(x: T): T {
  afterTest.push(() => x.close());
  return x;
}
