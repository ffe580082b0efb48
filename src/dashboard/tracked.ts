/**
 * One session as the dashboard follows it: its rates of the last minute
 * (the row's sparkline), its latest counters, its last error and its event
 * timeline, plus, while someone looks at it, a 15-minute history of rates
 * and publish latency (`detail`).
 *
 * Everything is sampled once a tick from `session.metrics()`, its numbers
 * copied out; the session's events (a handful per connection, never per
 * message), which the aggregator hears from the manager, go to the timeline.
 * Memory per session is fixed: two 60-point rings and at most `EVENTS`
 * events; a detail history exists for at most `MAX_DETAILS` sessions.
 */
import type { MqttError } from '../core/errors.js';
import { LATENCY_BOUNDS, type Session } from '../session/index.js';
import { histogramDelta, quantile, Ring, Rings, round } from './ring.js';

/** Points of a row's sparkline (seconds at one tick a second). */
export const SPARK = 60;
/** Events kept per session. */
export const EVENTS = 50;

export type EventKind =
  | 'connecting'
  | 'connected'
  | 'ready'
  | 'disconnected'
  | 'reconnecting'
  | 'dropped'
  | 'error'
  | 'closed';

export interface TimelineEvent {
  t: number;
  kind: EventKind;
  text: string;
}

export interface LastError {
  message: string;
  code: string;
  t: number;
}

type DetailKey = 'in' | 'out' | 'p50' | 'p99';
const DETAIL_KEYS: readonly DetailKey[] = ['in', 'out', 'p50', 'p99'];

export class Tracked {
  readonly spark = { in: new Ring(SPARK), out: new Ring(SPARK) };
  readonly events: TimelineEvent[] = [];
  // the latest counters, copied out of the snapshot (which is not kept: thousands of them a
  // second would be promoted by the garbage collector for nothing)
  sampled = false;
  /** The aggregator's tick that last saw the session listed. */
  tick = 0;
  messagesIn = 0;
  messagesOut = 0;
  bytesIn = 0;
  bytesOut = 0;
  reconnects = 0;
  errors = 0;
  dropped = 0;
  inflight = 0;
  queued = 0;
  roundTrip: number | undefined = undefined;
  rateIn = 0;
  rateOut = 0;
  rateBytesIn = 0;
  rateBytesOut = 0;
  lastError: LastError | null = null;
  /** The 15-minute history, while the session is looked at (see `Aggregator.detail`). */
  detail: Rings<DetailKey> | undefined = undefined;
  /** When the detail was last asked for. */
  detailAsked = 0;
  #latencyBefore: number[] | undefined = undefined;

  constructor(
    readonly name: string,
    readonly session: Session,
    readonly clock: () => number,
  ) {}

  event(kind: EventKind, text: string): void {
    if (this.events.length >= EVENTS) this.events.shift();
    this.events.push({ t: this.clock(), kind, text });
  }

  failed(error: MqttError): void {
    this.lastError = { message: error.message, code: error.code, t: this.clock() };
  }

  /** Once a tick: counters, rates over `seconds`, drops as events, and the detail history. */
  sample(now: number, seconds: number): void {
    const m = this.session.metrics();
    if (!this.sampled || seconds <= 0) {
      this.rateIn = this.rateOut = this.rateBytesIn = this.rateBytesOut = 0;
    } else {
      this.rateIn = Math.max(0, m.messagesIn - this.messagesIn) / seconds;
      this.rateOut = Math.max(0, m.messagesOut - this.messagesOut) / seconds;
      this.rateBytesIn = Math.max(0, m.bytesIn - this.bytesIn) / seconds;
      this.rateBytesOut = Math.max(0, m.bytesOut - this.bytesOut) / seconds;
      const dropped = m.dropped - this.dropped;
      if (dropped > 0) {
        this.event(
          'dropped',
          `${dropped} publish${dropped === 1 ? '' : 'es'} dropped from the offline queue`,
        );
      }
    }
    this.sampled = true;
    this.messagesIn = m.messagesIn;
    this.messagesOut = m.messagesOut;
    this.bytesIn = m.bytesIn;
    this.bytesOut = m.bytesOut;
    this.reconnects = m.reconnects;
    this.errors = m.errors;
    this.dropped = m.dropped;
    this.inflight = m.inflight;
    this.queued = m.queued;
    this.roundTrip = m.roundTrip;
    this.spark.in.push(this.rateIn);
    this.spark.out.push(this.rateOut);
    if (this.detail !== undefined) {
      const counts = m.publishLatency.counts;
      const delta = histogramDelta(counts, this.#latencyBefore);
      this.#latencyBefore = counts;
      this.detail.push(now, {
        in: this.rateIn,
        out: this.rateOut,
        p50: quantile(delta, LATENCY_BOUNDS, 0.5) ?? Number.NaN,
        p99: quantile(delta, LATENCY_BOUNDS, 0.99) ?? Number.NaN,
      });
    }
  }

  /**
   * Starts (or keeps) the detail history, `capacity` points; a new one
   * starts with the sparkline's minute of rates (its latencies unknown).
   */
  watch(now: number, capacity: number, interval: number): void {
    this.detailAsked = now;
    if (this.detail !== undefined) return;
    const detail = new Rings(DETAIL_KEYS, capacity);
    const rin = this.spark.in.numbers();
    const rout = this.spark.out.numbers();
    for (let i = 0; i < rin.length; i++) {
      detail.push(now - (rin.length - 1 - i) * interval, {
        in: rin[i],
        out: rout[i],
        p50: Number.NaN,
        p99: Number.NaN,
      });
    }
    this.detail = detail;
    this.#latencyBefore = this.session.metrics().publishLatency.counts;
  }

  unwatch(): void {
    this.detail = undefined;
    this.#latencyBefore = undefined;
  }

  /** The detail history for the session view (`watch` first). */
  history(): { t: number[]; in: number[]; out: number[]; p50: (number | null)[]; p99: (number | null)[] } {
    const h = this.detail?.toJSON();
    if (h === undefined) return { t: [], in: [], out: [], p50: [], p99: [] };
    return { t: h.t, in: h.in.map(zero), out: h.out.map(zero), p50: h.p50, p99: h.p99 };
  }

  /** in + out per second over the last minute. */
  sparkline(): number[] {
    const a = this.spark.in.numbers();
    const b = this.spark.out.numbers();
    return a.map((v, i) => round(v + b[i]));
  }
}

const zero = (v: number | null): number => v ?? 0;
