/**
 * Things to undo, undone last-first: a session before the broker it talks
 * to, a store before the Redis it uses. Each is awaited before the next
 * starts, every one runs even when an earlier one fails, and `run()` then
 * throws the first failure.
 *
 * Plain TypeScript with no vitest import, so code that runs outside a test
 * (the restart rig, run from bench/ too) can use it; inside a test,
 * `onCleanup()` from `cleanup.ts` puts things on the stack that runs after
 * each test.
 */
export class CleanupStack {
  #undo: Array<() => unknown> = [];

  /** Adds `fn` to run at the next `run()`, before everything added earlier. */
  push(fn: () => unknown): void {
    this.#undo.push(fn);
  }

  /** Runs and forgets everything added, last added first; throws the first failure once all have run. */
  async run(): Promise<void> {
    const undo = this.#undo.splice(0).reverse();
    let failure: { error: unknown } | undefined;
    for (const fn of undo) {
      try {
        await fn();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
  }
}
