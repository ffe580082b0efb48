/**
 * One session as the dashboard follows it: its rates of the last minute
 * (the row's sparkline), its latest counters, its last error and its event
 * timeline, plus, while someone looks at it, a 15-minute history of rates
 * and publish latency (`detail`).
 *
 * Everything is sampled once a tick from `session.metrics()`; the session's
 * events (a handful per connection, never per message) go to the timeline.
 * Memory per session is fixed: two 60-point rings and at most `EVENTS`
 * events; a detail history exists for at most `MAX_DETAILS` sessions.
 */
import type { MqttError } from '../core/errors.js';
import {
  type ConnackInfo,
  LATENCY_BOUNDS,
  type Session,
  type SessionMetrics,
  type SessionState,
} from '../session/index.js';
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
  metrics: SessionMetrics | undefined = undefined;
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
  readonly #unbind: () => void;

  constructor(
    readonly name: string,
    readonly session: Session,
    readonly clock: () => number,
  ) {
    const s = session;
    const onState = (state: SessionState) => {
      if (state === 'connecting') this.event('connecting', `connecting to ${s.url}`);
      else if (state === 'closed') this.event('closed', 'closed');
    };
    const onConnect = (c: ConnackInfo) =>
      this.event(
        'connected',
        `connected, MQTT ${s.protocolVersion === 5 ? '5.0' : '3.1.1'}, session present: ${c.sessionPresent}`,
      );
    const onReady = () => this.event('ready', 'subscriptions in place');
    const onDisconnect = (error: MqttError | undefined) => {
      if (error !== undefined) this.failed(error);
      this.event('disconnected', error === undefined ? 'disconnected' : `connection lost: ${error.message}`);
    };
    const onReconnecting = (attempt: number, delay: number) =>
      this.event('reconnecting', `attempt ${attempt} in ${Math.round(delay)} ms`);
    const onError = (error: MqttError) => {
      this.failed(error);
      this.event('error', `${error.code}: ${error.message}`);
    };
    s.on('state', onState);
    s.on('connect', onConnect);
    s.on('ready', onReady);
    s.on('disconnect', onDisconnect);
    s.on('reconnecting', onReconnecting);
    s.on('error', onError);
    this.#unbind = () => {
      s.off('state', onState);
      s.off('connect', onConnect);
      s.off('ready', onReady);
      s.off('disconnect', onDisconnect);
      s.off('reconnecting', onReconnecting);
      s.off('error', onError);
    };
  }

  unbind(): void {
    this.#unbind();
  }

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
    const before = this.metrics;
    this.metrics = m;
    if (before === undefined || seconds <= 0) {
      this.rateIn = this.rateOut = this.rateBytesIn = this.rateBytesOut = 0;
    } else {
      this.rateIn = Math.max(0, m.messagesIn - before.messagesIn) / seconds;
      this.rateOut = Math.max(0, m.messagesOut - before.messagesOut) / seconds;
      this.rateBytesIn = Math.max(0, m.bytesIn - before.bytesIn) / seconds;
      this.rateBytesOut = Math.max(0, m.bytesOut - before.bytesOut) / seconds;
      const dropped = m.dropped - before.dropped;
      if (dropped > 0)
        this.event(
          'dropped',
          `${dropped} publish${dropped === 1 ? '' : 'es'} dropped from the offline queue`,
        );
    }
    this.spark.in.push(this.rateIn);
    this.spark.out.push(this.rateOut);
    if (this.detail !== undefined) {
      const delta = histogramDelta(m.publishLatency.counts, this.#latencyBefore);
      this.#latencyBefore = m.publishLatency.counts;
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
    this.#latencyBefore = this.metrics?.publishLatency.counts;
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
