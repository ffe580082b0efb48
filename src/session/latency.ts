/**
 * Publish-to-acknowledgement latency of a session's QoS 1/2 publishes, in
 * fixed buckets (the same bounds for every session, so a fleet's histograms
 * add up and map onto one Prometheus histogram).
 */

/** Upper bounds of the buckets, in ms; a last bucket holds everything above. */
export const LATENCY_BOUNDS: readonly number[] = Object.freeze([
  0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
]);

/** A snapshot of a latency histogram. */
export interface LatencySnapshot {
  /** Upper bounds (ms) of the buckets: `LATENCY_BOUNDS`. */
  readonly bounds: readonly number[];
  /** Observations per bucket (not cumulative); one more entry than `bounds`, for the values above the last. */
  readonly counts: number[];
  /** Sum of the observed latencies, ms. */
  readonly sum: number;
  /** Number of observations: the sum of `counts`. */
  readonly count: number;
}

/**
 * A latency histogram on {@link LATENCY_BOUNDS}: `observe()` adds one value
 * (no allocation), `snapshot()` copies the counts out.
 */
export class LatencyHistogram {
  private readonly counts = new Float64Array(LATENCY_BOUNDS.length + 1);
  private sum = 0;
  private count = 0;

  /** Counts one latency, in ms, in its bucket. */
  observe(ms: number): void {
    const b = LATENCY_BOUNDS;
    let i = 0;
    while (i < b.length && ms > b[i]) i++;
    this.counts[i]++;
    this.sum += ms;
    this.count++;
  }

  /** The counts so far, as a new object. */
  snapshot(): LatencySnapshot {
    return { bounds: LATENCY_BOUNDS, counts: Array.from(this.counts), sum: this.sum, count: this.count };
  }

  /** An empty snapshot, for a session that never had an acknowledgement. */
  static empty(): LatencySnapshot {
    return { bounds: LATENCY_BOUNDS, counts: new Array(LATENCY_BOUNDS.length + 1).fill(0), sum: 0, count: 0 };
  }
}
