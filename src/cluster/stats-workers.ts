/**
 * The sessions' numbers of a fleet's workers without Redis (what they are:
 * `stats.ts`), as the primary gathers them over the IPC channel
 * (`worker-messages.ts`):
 *
 *   watched   a watch in the primary (`watchStats()`), or in a worker (it
 *             says `watch { on: true }`, and `on: false` when its last ends)
 *   poll      while watched: `stats` to every live worker at once, then once
 *             a period on the shared timer; each answers with its rows
 *   latest    each worker's latest rows, dropped when it dies
 *   read      the primary's `sharedStats()`; a worker's `shared { id }` is
 *             answered with every worker's latest rows
 *
 * Nobody watching: no timer entry, no message.
 */
import { sharedTimer, TimerEntry } from '../core/timer.js';
import type { SharedSessionStats } from '../manager/index.js';
import { allRows, readStats, type StatsWire, Watchers } from './stats.js';

/** The primary's one entry on the shared timer while watched. */
class Poll extends TimerEntry {
  constructor(private readonly run: () => void) {
    super();
  }

  expire(): void {
    this.run();
  }
}

/** The primary's side of the workers' numbers (see the file's header). */
export class WorkerStats {
  /** Each worker's latest rows, by worker id. */
  readonly #latest = new Map<string, StatsWire>();
  /** The workers where a watch runs. */
  readonly #remote = new Set<string>();
  readonly #watchers = new Watchers(
    () => this.#changed(),
    () => this.#changed(),
  );
  readonly #poll = new Poll(() => this.#tick());
  #polling = false;
  #stopped = false;

  constructor(
    /** ms between polls. */
    private readonly period: number,
    /** Sends `stats` to every live worker. */
    private readonly ask: () => void,
  ) {}

  /** Someone watches, here or in a worker. */
  get watched(): boolean {
    return this.#watchers.watched || this.#remote.size > 0;
  }

  /** See `FleetCluster.watchStats`. */
  watch(): () => void {
    return this.#watchers.watch();
  }

  /** Worker `id` sent its rows. */
  received(id: string, wire: StatsWire): void {
    this.#latest.set(id, wire);
  }

  /** A watch in worker `id` started or its last ended. */
  remoteWatch(id: string, on: boolean): void {
    if (on) this.#remote.add(id);
    else this.#remote.delete(id);
    this.#changed();
  }

  /** Worker `id` died: its rows and its watch with it. */
  gone(id: string): void {
    this.#latest.delete(id);
    if (this.#remote.delete(id)) this.#changed();
  }

  /** No more polls (the fleet stops). */
  stop(): void {
    this.#stopped = true;
    this.#polling = false;
    sharedTimer.remove(this.#poll);
  }

  /** Every worker's latest rows, as the answer to a worker's `shared`. */
  wires(): [node: string, stats: StatsWire][] {
    return [...this.#latest];
  }

  /** See `FleetCluster.sharedStats`: every live worker's latest rows. */
  rows(): SharedSessionStats[] {
    return allRows([...this.#latest].map(([id, wire]) => [id, readStats(id, wire)]));
  }

  #changed(): void {
    if (this.#stopped) return;
    if (this.watched && !this.#polling) {
      this.#polling = true;
      this.#tick();
    } else if (!this.watched && this.#polling) {
      this.#polling = false;
      sharedTimer.remove(this.#poll);
    }
  }

  #tick(): void {
    if (!this.#polling) return;
    this.ask();
    this.#poll.deadline = Date.now() + this.period;
    sharedTimer.add(this.#poll);
  }
}
