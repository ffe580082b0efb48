import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

/**
 * Test files run side by side, each in a child process of its own (vitest's
 * default 'forks' pool). Most files spend their time waiting on mosquitto,
 * Redis and child processes rather than computing, so more workers than cores
 * pays off: vitest's default, one fewer than the cores, runs one file at a
 * time on a 2-core machine. At least 4, or one per core on a larger machine;
 * `--maxWorkers` on the command line overrides it.
 */
const WORKERS = Math.max(4, availableParallelism());

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    maxWorkers: WORKERS,
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
