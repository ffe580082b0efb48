/**
 * Vitest global setup: the CLI and package tests run the built command and
 * package, so build `dist/` first when `src/` is newer than it.
 */
import { buildDistIfStale } from './helpers/build.js';

export default function setup(): void {
  buildDistIfStale(process.cwd());
}
