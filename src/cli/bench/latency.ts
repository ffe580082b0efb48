/** Latency of a bench run: an HdrHistogram of microseconds, reported in ms. */
import * as hdr from 'hdr-histogram-js';

/** What the latency is measured between. */
export type LatencyKind = 'publish-to-ack' | 'end-to-end' | 'request-to-response' | 'connect';

/** The `latency` object of the report; every time in ms (µs precision). */
export interface LatencySummary {
  kind: LatencyKind;
  /** Samples recorded. */
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export class Latency {
  private readonly histogram = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 3_600_000_000, // an hour in µs; grows beyond if needed
    numberOfSignificantValueDigits: 3,
    autoResize: true,
  });

  constructor(readonly kind: LatencyKind) {}

  /** Records one sample in ms (negative values, from clocks of two processes, count as 0). */
  record(ms: number): void {
    const us = Math.round(ms * 1000);
    this.histogram.recordValue(us > 0 ? us : 0);
  }

  get count(): number {
    return this.histogram.totalCount;
  }

  /** The summary, or null when nothing was recorded. */
  summary(): LatencySummary | null {
    const h = this.histogram;
    if (h.totalCount === 0) return null;
    const max = h.maxValue;
    // a percentile is the top of its bucket, which can pass the exact maximum
    const ms = (us: number): number => Math.round(Math.min(us, max)) / 1000;
    return {
      kind: this.kind,
      count: h.totalCount,
      p50: ms(h.getValueAtPercentile(50)),
      p95: ms(h.getValueAtPercentile(95)),
      p99: ms(h.getValueAtPercentile(99)),
      max: ms(max),
      mean: ms(h.mean),
    };
  }
}
