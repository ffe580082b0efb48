/**
 * One coarse timer for every session of the process.
 *
 * Operation timeouts, connect timeouts and keepalive deadlines are entries
 * in buckets of {@link RESOLUTION_MS}; a single unref'd interval runs while
 * any entry waits and calls `expire(now)` on each entry whose bucket has
 * passed. An entry is any object with a `deadline` and an `expire` method
 * (the operation itself): no closure and no `setTimeout` per message.
 *
 * Buckets are intrusive doubly linked lists threaded through the entries,
 * so `add` and `remove` are O(1) and allocate nothing but a bucket per
 * 100 ms: an operation that settles leaves the timer at once and nothing
 * holds on to it until its deadline.
 */

export const RESOLUTION_MS = 100;

export interface Timed {
  /** Absolute time (ms, `Date.now()` clock) at which `expire` is due. */
  deadline: number;
  /** Called once the deadline has passed (up to one resolution late). */
  expire(now: number): void;
  /** Links owned by the timer. */
  timerBucket?: Bucket | undefined;
  timerPrev?: Timed | undefined;
  timerNext?: Timed | undefined;
}

/**
 * A base for entries: the links set up front, so that every entry of a class
 * has the same shape from its construction (property reads on the hot path
 * stay monomorphic). Subclasses set `deadline` and implement `expire`.
 */
export abstract class TimerEntry implements Timed {
  deadline = 0;
  timerBucket: Bucket | undefined = undefined;
  timerPrev: Timed | undefined = undefined;
  timerNext: Timed | undefined = undefined;
  abstract expire(now: number): void;
}

interface Bucket {
  tick: number;
  head: Timed | undefined;
  tail: Timed | undefined;
}

export class CoarseTimer {
  private readonly buckets = new Map<number, Bucket>();
  private interval: NodeJS.Timeout | undefined = undefined;
  private lastTick = 0;
  private count = 0;
  private readonly clock: () => number;

  /** `clock` reads the time (tests pass a fake one); the interval runs on it too. */
  constructor(clock: () => number = Date.now) {
    this.clock = clock;
  }

  /** Entries waiting. */
  get size(): number {
    return this.count;
  }

  /** Schedules `entry` for its `deadline` (moving it if it was scheduled). */
  add(entry: Timed): void {
    if (entry.timerBucket !== undefined) this.remove(entry);
    const tick = Math.ceil(entry.deadline / RESOLUTION_MS);
    let bucket = this.buckets.get(tick);
    if (bucket === undefined) {
      bucket = { tick, head: undefined, tail: undefined };
      this.buckets.set(tick, bucket);
    }
    entry.timerBucket = bucket;
    entry.timerNext = undefined;
    entry.timerPrev = bucket.tail;
    if (bucket.tail === undefined) bucket.head = entry;
    else bucket.tail.timerNext = entry;
    bucket.tail = entry;
    this.count++;
    if (this.interval === undefined) {
      this.lastTick = Math.floor(this.clock() / RESOLUTION_MS);
      this.interval = setInterval(runTimer, RESOLUTION_MS, this);
      this.interval.unref();
    }
  }

  /** Unschedules `entry`; nothing happens if it is not scheduled. */
  remove(entry: Timed): void {
    const bucket = entry.timerBucket;
    if (bucket === undefined) return;
    const prev = entry.timerPrev;
    const next = entry.timerNext;
    if (prev === undefined) bucket.head = next;
    else prev.timerNext = next;
    if (next === undefined) bucket.tail = prev;
    else next.timerPrev = prev;
    entry.timerBucket = undefined;
    entry.timerPrev = undefined;
    entry.timerNext = undefined;
    this.count--;
    if (bucket.head === undefined) this.buckets.delete(bucket.tick);
  }

  /** Runs the timer at the clock's time (what the interval calls). */
  tick(): void {
    this.run(this.clock());
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
    let entry = bucket.head;
    while (entry !== undefined) {
      const next = entry.timerNext;
      this.remove(entry);
      try {
        entry.expire(now);
      } catch (err) {
        queueMicrotask(() => {
          throw err;
        });
      }
      entry = next;
    }
  }
}

function runTimer(timer: CoarseTimer): void {
  timer.tick();
}

/** The process-wide timer all sessions share. */
export const sharedTimer = new CoarseTimer();
