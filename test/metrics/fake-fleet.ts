/**
 * Sessions without a network for the metrics tests: plain objects with the
 * counters a test sets, behind a `Map` (which is a `MetricsSource` as it is).
 */
import type { MetricsSourceSession } from '../../src/metrics/index.js';
import { LATENCY_BOUNDS, type LatencySnapshot } from '../../src/session/index.js';
import type { SessionMetrics, SessionState } from '../../src/session/types.js';

/** A session whose counters, state and readiness are set by the test. */
export class FakeSession implements MetricsSourceSession {
  state: SessionState = 'connected';
  ready: boolean | undefined = undefined;
  readonly counters = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    reconnects: 0,
    errors: 0,
    dropped: 0,
    inflight: 0,
    queued: 0,
    queuedBytes: 0,
  };
  roundTrip: number | undefined = undefined;
  /** Latency bucket counts (not cumulative), one more than LATENCY_BOUNDS. */
  latencyCounts: number[] = new Array<number>(LATENCY_BOUNDS.length + 1).fill(0);
  latencySum = 0;

  constructor(init: Partial<FakeSession['counters']> & { state?: SessionState; roundTrip?: number } = {}) {
    const { state, roundTrip, ...counters } = init;
    Object.assign(this.counters, counters);
    if (state !== undefined) this.state = state;
    this.roundTrip = roundTrip;
  }

  /** Records latencies in ms, as a session does on each acknowledgement. */
  observe(...ms: number[]): this {
    for (const v of ms) {
      let i = 0;
      while (i < LATENCY_BOUNDS.length && v > LATENCY_BOUNDS[i]) i++;
      this.latencyCounts[i]++;
      this.latencySum += v;
    }
    return this;
  }

  metrics(): SessionMetrics {
    const publishLatency: LatencySnapshot = {
      bounds: LATENCY_BOUNDS,
      counts: [...this.latencyCounts],
      sum: this.latencySum,
      count: this.latencyCounts.reduce((a, b) => a + b, 0),
    };
    return { ...this.counters, roundTrip: this.roundTrip, publishLatency };
  }
}
