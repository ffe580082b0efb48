/**
 * `FleetMetrics`: the counters of many sessions, with rates, sampled on one
 * timer.
 *
 * How it works: every `interval` ms one `setInterval` reads `metrics()` of
 * every session the source lists and keeps, per session name, the counters
 * of the latest sample and when it was taken. The interval is unref'd (it
 * never keeps the process alive) and there is one per `FleetMetrics`: a
 * periodic job, not a deadline per operation, so it does not go through the
 * shared coarse timer of `core/timer.ts`. The current rate of a session is the change of its
 * counters between its two most recent samples divided by the time measured
 * between them (not the nominal interval), so it is the same whenever
 * `snapshot()` is called in between: a rate covers the last completed
 * sampling window, never a window still filling. The average rate is the
 * change since the session was first seen divided by the time since then,
 * up to the moment of the snapshot.
 *
 * Nothing is counted per message: sessions count their own traffic, and
 * this class only reads those counters once per interval and per snapshot.
 * A session that is no longer listed by the source loses its sampling
 * state at the next sample or snapshot; a different session object under
 * the same name, or counters that went down, start afresh.
 *
 * Built only on the public `Session` API (`metrics()`, `state`, `ready`).
 */
import { InvalidArgumentError } from '../core/errors.js';
import {
  LATENCY_BOUNDS,
  type LatencySnapshot,
  type SessionMetrics,
  type SessionState,
} from '../session/index.js';

/** What `FleetMetrics` reads of a session: a `Session` has all of it. */
export interface MetricsSourceSession {
  /** The session's counters, read once per sample and per snapshot. */
  metrics(): SessionMetrics;
  /** The session's state, counted in `TotalSnapshot.states`. */
  readonly state: SessionState;
  /** Connected and subscriptions in place; when absent, `state === 'connected'` stands for it. */
  readonly ready?: boolean;
}

/**
 * Where `FleetMetrics` finds the sessions: a `SessionManager`, or a
 * `Map<string, Session>` as it is. Sessions are read through `entries()`
 * at every sample and snapshot, so sessions added or removed later are
 * followed.
 */
export interface MetricsSource {
  /** `[name, session]` pairs; names are unique. */
  entries(): Iterable<[string, MetricsSourceSession]>;
  /**
   * Readiness by name, preferred to the session's own `ready` when present
   * (`SessionManager.isReady` also counts the subscriptions of its routes).
   */
  isReady?(name: string): boolean;
}

/** Options of `FleetMetrics`. */
export interface FleetMetricsOptions {
  /** ms between two samples, the window of the current rates. @default 1000 */
  interval?: number;
}

/** Default options of `FleetMetrics`. */
export const FLEET_METRICS_DEFAULTS: Readonly<Required<FleetMetricsOptions>> = Object.freeze({
  interval: 1000,
});

/** Per-second rates of a session's (or the fleet's) traffic. */
export interface Rates {
  /** Application messages received per second. */
  messagesIn: number;
  /** Application messages accepted for publishing per second. */
  messagesOut: number;
  /** Bytes read from the network per second. */
  bytesIn: number;
  /** Bytes written to the network per second. */
  bytesOut: number;
}

/** One session in a `FleetSnapshot`: its `SessionMetrics` plus state, readiness and rates. */
export interface SessionSnapshot extends SessionMetrics {
  /** The session's state when the snapshot was taken. */
  state: SessionState;
  /** Connected and its subscriptions in place (see `MetricsSource.isReady`). */
  ready: boolean;
  /**
   * Rates over the last completed sampling window: between the session's
   * two most recent samples (about `interval` ms; the first window starts
   * when the session was first seen). Zero until the session was sampled
   * after it was first seen; unchanged between samples.
   */
  rates: Rates;
  /** Rates averaged from when this `FleetMetrics` first saw the session up to the snapshot. */
  averageRates: Rates;
}

/** Round-trip times of the sessions that measured one, in ms. */
export interface RoundTripSummary {
  /** The shortest session round trip, ms. */
  min: number;
  /** The longest session round trip, ms. */
  max: number;
  /** The mean over the sessions that have one, ms. */
  mean: number;
  /** How many sessions have a round-trip time. */
  sessions: number;
}

/** The whole fleet in a `FleetSnapshot`: counters, gauges and rates summed over the sessions. */
export interface TotalSnapshot extends Omit<SessionMetrics, 'roundTrip'> {
  // the SessionMetrics counters and gauges are sums over the sessions; `publishLatency`
  // adds up their histograms (same `LATENCY_BOUNDS`)
  /** Sums of the sessions' current rates. */
  rates: Rates;
  /** Sums of the sessions' average rates. */
  averageRates: Rates;
  /** How many sessions the source lists. */
  sessions: number;
  /** Sessions per state; every state is present, 0 when no session is in it. */
  states: Record<SessionState, number>;
  /** How many sessions are ready. */
  ready: number;
  /** Over the sessions that measured a keepalive round trip; undefined when none has. */
  roundTrip: RoundTripSummary | undefined;
}

/** What `FleetMetrics.snapshot()` returns. */
export interface FleetSnapshot {
  /** When the snapshot was taken, ms since the epoch. */
  at: number;
  /** By session name, in the order of the source. */
  sessions: Record<string, SessionSnapshot>;
  /** The sums over every session in `sessions`. */
  total: TotalSnapshot;
}

/** Every `SessionState`, in lifecycle order (the compiler checks the list is complete). */
export const SESSION_STATES: readonly SessionState[] = Object.freeze(
  Object.keys({
    new: 0,
    connecting: 0,
    connected: 0,
    reconnecting: 0,
    disconnected: 0,
    closing: 0,
    closed: 0,
  } satisfies Record<SessionState, 0>) as SessionState[],
);

/** The names of the numbers in `SessionMetrics`. */
type Summed = {
  [K in keyof SessionMetrics]-?: SessionMetrics[K] extends number ? K : never;
}[keyof SessionMetrics];

/**
 * What a total adds up: every number of `SessionMetrics`, in the order a
 * total shows them (test/metrics/fleet.test.ts checks none is left out).
 */
const SUMMED = [
  'messagesIn',
  'messagesOut',
  'bytesIn',
  'bytesOut',
  'reconnects',
  'errors',
  'dropped',
  'inflight',
  'queued',
  'queuedBytes',
] as const satisfies readonly Summed[];

/** Sampling state of one session name. */
class Track {
  /** Marks the tracks the current pass saw; the others are dropped. */
  pass = 0;
  /** performance.now() of the first sight, and the counters then. */
  readonly firstAt: number;
  readonly first: Rates;
  /** performance.now() of the latest sample (or the first sight), and the counters then. */
  lastAt: number;
  last: Rates;
  /** Rates over the window that ended at `lastAt`. */
  rates: Rates = zeroRates();

  constructor(
    readonly session: MetricsSourceSession,
    now: number,
    counters: Rates,
  ) {
    this.firstAt = now;
    this.first = counters;
    this.lastAt = now;
    this.last = counters;
  }

  /** Ends the current window at `now`. */
  sample(now: number, c: Rates): void {
    const elapsed = now - this.lastAt;
    if (elapsed <= 0) return;
    this.rates = perSecond(c, this.last, elapsed);
    this.last = c;
    this.lastAt = now;
  }

  average(now: number, c: Rates): Rates {
    const elapsed = now - this.firstAt;
    return elapsed > 0 ? perSecond(c, this.first, elapsed) : zeroRates();
  }
}

/**
 * Samples the sessions of a `MetricsSource` (a `SessionManager`, or a `Map`
 * of sessions) every `interval` ms and gives their counters, state and
 * current and average rates, per session and summed, in `snapshot()`.
 *
 * ```ts
 * const fleet = new FleetMetrics(manager, { interval: 1000 });
 * const { sessions, total } = fleet.snapshot();
 * total.rates.messagesIn;           // messages/s over the last interval, whole fleet
 * sessions['gw-1'].averageRates;    // since fleet first saw 'gw-1'
 * fleet.stop();
 * ```
 *
 * The timer is unref'd; call `stop()` when done. After `stop()`,
 * `snapshot()` still works: counters and averages stay current, current
 * rates keep the values of the last sample.
 */
export class FleetMetrics {
  /** ms between two samples. */
  readonly interval: number;
  private readonly source: MetricsSource;
  private readonly tracks = new Map<string, Track>();
  private timer: NodeJS.Timeout | undefined;
  private pass = 0;

  /**
   * Takes a first sample at once and then one every `interval` ms.
   * Throws `InvalidArgumentError` for a source without `entries()` or an
   * interval that is not a positive finite number.
   */
  constructor(source: MetricsSource, options: FleetMetricsOptions = {}) {
    if (source === null || typeof source !== 'object' || typeof source.entries !== 'function') {
      throw new InvalidArgumentError('source', 'must have an entries() method');
    }
    if (options === null || typeof options !== 'object') {
      throw new InvalidArgumentError('options', 'must be an object');
    }
    const interval = options.interval ?? FLEET_METRICS_DEFAULTS.interval;
    if (typeof interval !== 'number' || !Number.isFinite(interval) || interval <= 0) {
      throw new InvalidArgumentError('interval', 'must be a positive number of ms');
    }
    this.source = source;
    this.interval = interval;
    this.sample();
    this.timer = setInterval(() => this.tick(), interval);
    this.timer.unref();
  }

  /** False once `stop()` was called. */
  get running(): boolean {
    return this.timer !== undefined;
  }

  /**
   * The sessions the source lists now, with their counters read now, their
   * state and readiness now, their current rates (last completed sampling
   * window) and average rates (first sight to now); and the totals.
   */
  snapshot(): FleetSnapshot {
    const now = performance.now();
    const pass = ++this.pass;
    const sessions: Record<string, SessionSnapshot> = {};
    const total = emptyTotal();
    let rttSum = 0;
    for (const [name, session] of this.source.entries()) {
      // a name listed twice (a source other than SessionManager): the first counts
      if (Object.hasOwn(sessions, name)) continue;
      const m = session.metrics();
      const counters = countersOf(m);
      const track = this.track(name, session, now, counters);
      track.pass = pass;
      const snap: SessionSnapshot = {
        ...m,
        state: session.state,
        ready: this.readyOf(name, session),
        rates: { ...track.rates },
        averageRates: track.average(now, counters),
      };
      // defineProperty: a session named '__proto__' is a name like any other
      Object.defineProperty(sessions, name, {
        value: snap,
        enumerable: true,
        writable: true,
        configurable: true,
      });
      addTo(total, snap);
      if (snap.roundTrip !== undefined) {
        const r = (total.roundTrip ??= { min: snap.roundTrip, max: snap.roundTrip, mean: 0, sessions: 0 });
        r.min = Math.min(r.min, snap.roundTrip);
        r.max = Math.max(r.max, snap.roundTrip);
        r.sessions++;
        rttSum += snap.roundTrip;
      }
    }
    if (total.roundTrip !== undefined) total.roundTrip.mean = rttSum / total.roundTrip.sessions;
    this.sweep(pass);
    return { at: Date.now(), sessions, total };
  }

  /** Stops sampling (clears the timer). Safe to call twice. */
  stop(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private tick(): void {
    try {
      this.sample();
    } catch {
      // a source whose entries() or metrics() throws: nothing to sample this
      // time; snapshot() reads the same and reports the error to its caller
    }
  }

  /** Ends the current window of every listed session and drops the sessions no longer listed. */
  private sample(): void {
    const now = performance.now();
    const pass = ++this.pass;
    for (const [name, session] of this.source.entries()) {
      const known = this.tracks.get(name);
      if (known !== undefined && known.pass === pass) continue; // listed twice: the first counts
      const counters = countersOf(session.metrics());
      const track = this.track(name, session, now, counters);
      if (track === known) track.sample(now, counters);
      track.pass = pass;
    }
    this.sweep(pass);
  }

  /** The track of `name`, started afresh when the session is new, replaced or its counters went down. */
  private track(name: string, session: MetricsSourceSession, now: number, counters: Rates): Track {
    let track = this.tracks.get(name);
    if (track === undefined || track.session !== session || wentDown(counters, track.last)) {
      track = new Track(session, now, counters);
      this.tracks.set(name, track);
    }
    return track;
  }

  private sweep(pass: number): void {
    for (const [name, track] of this.tracks) if (track.pass !== pass) this.tracks.delete(name);
  }

  private readyOf(name: string, session: MetricsSourceSession): boolean {
    if (typeof this.source.isReady === 'function') return this.source.isReady(name) === true;
    if (typeof session.ready === 'boolean') return session.ready;
    return session.state === 'connected';
  }
}

function zeroRates(): Rates {
  return { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 };
}

function countersOf(m: SessionMetrics): Rates {
  return { messagesIn: m.messagesIn, messagesOut: m.messagesOut, bytesIn: m.bytesIn, bytesOut: m.bytesOut };
}

function wentDown(c: Rates, before: Rates): boolean {
  return (
    c.messagesIn < before.messagesIn ||
    c.messagesOut < before.messagesOut ||
    c.bytesIn < before.bytesIn ||
    c.bytesOut < before.bytesOut
  );
}

/** (c - before) per second over `ms`. */
function perSecond(c: Rates, before: Rates, ms: number): Rates {
  const k = 1000 / ms;
  return {
    messagesIn: (c.messagesIn - before.messagesIn) * k,
    messagesOut: (c.messagesOut - before.messagesOut) * k,
    bytesIn: (c.bytesIn - before.bytesIn) * k,
    bytesOut: (c.bytesOut - before.bytesOut) * k,
  };
}

function addRates(to: Rates, r: Rates): void {
  to.messagesIn += r.messagesIn;
  to.messagesOut += r.messagesOut;
  to.bytesIn += r.bytesIn;
  to.bytesOut += r.bytesOut;
}

function emptyTotal(): TotalSnapshot {
  const total = {} as TotalSnapshot;
  for (const k of SUMMED) total[k] = 0;
  total.publishLatency = {
    bounds: LATENCY_BOUNDS,
    counts: new Array<number>(LATENCY_BOUNDS.length + 1).fill(0),
    sum: 0,
    count: 0,
  };
  total.rates = zeroRates();
  total.averageRates = zeroRates();
  total.sessions = 0;
  total.states = {} as Record<SessionState, number>;
  for (const s of SESSION_STATES) total.states[s] = 0;
  total.ready = 0;
  total.roundTrip = undefined;
  return total;
}

function addTo(t: TotalSnapshot, s: SessionSnapshot): void {
  for (const k of SUMMED) t[k] += s[k];
  addRates(t.rates, s.rates);
  addRates(t.averageRates, s.averageRates);
  t.sessions++;
  t.states[s.state] = (t.states[s.state] ?? 0) + 1;
  if (s.ready) t.ready++;
  mergeLatency(t.publishLatency, s.publishLatency);
}

/** Adds `from` into `into` (a total built on `LATENCY_BOUNDS`); other bounds cannot be added and are left out. */
function mergeLatency(into: LatencySnapshot, from: LatencySnapshot): void {
  if (!sameBounds(into.bounds, from.bounds) || from.counts.length !== into.counts.length) return;
  for (let i = 0; i < from.counts.length; i++) into.counts[i] += from.counts[i];
  // LatencySnapshot's sum and count are readonly for its readers; this one is ours
  const w = into as { sum: number; count: number };
  w.sum += from.sum;
  w.count += from.count;
}

function sameBounds(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
