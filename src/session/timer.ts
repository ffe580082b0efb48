/**
 * One coarse timer for every session of the process.
 *
 * Operation timeouts, connect timeouts and keepalive deadlines are entries
 * in buckets of {@link RESOLUTION_MS}; a single unref'd interval runs while
 * any entry waits and calls `expire(now)` on each entry whose bucket has
 * passed. An entry is any object with a `deadline` and an `expire` method
 * (the operation itself): no closure and no `setTimeout` per message.
 * Entries are not removed when their operation settles; `expire` checks
 * and ignores them (lazy deletion), which keeps `add` O(1).
 */

export const RESOLUTION_MS = 100;

export interface Timed {
  /** Absolute time (ms, `Date.now()` clock) at which `expire` is due. */
  deadline: number;
  /** Called once the deadline has passed (up to one resolution late). */
  expire(now: number): void;
}

export class CoarseTimer {
  private readonly buckets = new Map<number, Timed[]>();
  private interval: NodeJS.Timeout | undefined = undefined;
  private lastTick = 0;
  private count = 0;

  /** Entries waiting. */
  get size(): number {
    return this.count;
  }

  add(entry: Timed): void {
    const tick = Math.ceil(entry.deadline / RESOLUTION_MS);
    let bucket = this.buckets.get(tick);
    if (bucket === undefined) {
      bucket = [];
      this.buckets.set(tick, bucket);
    }
    bucket.push(entry);
    this.count++;
    if (this.interval === undefined) {
      this.lastTick = Math.floor(Date.now() / RESOLUTION_MS);
      this.interval = setInterval(runTimer, RESOLUTION_MS, this);
      this.interval.unref();
    }
  }

  /** Expires every entry whose bucket is due at `now`. */
  run(now: number): void {
    const due = Math.floor(now / RESOLUTION_MS);
    if (due - this.lastTick > this.buckets.size) {
      // a long pause (or few buckets): walk the buckets rather than the ticks
      for (const tick of [...this.buckets.keys()].sort((a, b) => a - b)) {
        if (tick > due) break;
        this.fire(tick, now);
      }
    } else {
      for (let tick = this.lastTick; tick <= due; tick++) this.fire(tick, now);
    }
    this.lastTick = due;
    if (this.count === 0 && this.interval !== undefined) {
      clearInterval(this.interval);
      this.interval = undefined;
    }
  }

  private fire(tick: number, now: number): void {
    const bucket = this.buckets.get(tick);
    if (bucket === undefined) return;
    this.buckets.delete(tick);
    this.count -= bucket.length;
    for (const entry of bucket) {
      try {
        entry.expire(now);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}

function runTimer(timer: CoarseTimer): void {
  timer.run(Date.now());
}

/** The process-wide timer all sessions share. */
export const sharedTimer = new CoarseTimer();
