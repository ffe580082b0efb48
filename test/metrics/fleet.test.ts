/**
 * FleetMetrics on sessions without a network and on fake timers (the
 * clock, `performance.now()` and `setInterval` move only when the test
 * says), so every rate is exact.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { SessionManager } from '../../src/manager/index.js';
import { FleetMetrics, type MetricsSource, SESSION_STATES } from '../../src/metrics/index.js';
import { LATENCY_BOUNDS, type Session, type SessionMetrics } from '../../src/session/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { FakeSession } from './fake-fleet.js';

function fleet(source: MetricsSource, interval = 1000): FleetMetrics {
  const f = new FleetMetrics(source, { interval });
  onCleanup(() => f.stop());
  return f;
}

/** The sampling state FleetMetrics keeps per session name (private: read here to prove nothing leaks). */
function tracked(f: FleetMetrics): number {
  return (f as unknown as { tracks: Map<string, unknown> }).tracks.size;
}

beforeEach(() => {
  vi.useFakeTimers({
    toFake: ['setInterval', 'clearInterval', 'setTimeout', 'clearTimeout', 'Date', 'performance'],
  });
});
// the fleets stop after this (helpers/cleanup.ts), on the real clock: clearing a fake interval is a no-op
afterEach(() => {
  vi.useRealTimers();
});

describe('FleetMetrics', () => {
  it('gives the rates of the last completed interval, whenever the snapshot is taken, and averages since first seen', () => {
    const a = new FakeSession();
    const f = fleet(new Map([['a', a]]));
    let s = f.snapshot().sessions.a;
    expect(s.rates).toEqual({ messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 });
    expect(s.averageRates).toEqual({ messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 });

    Object.assign(a.counters, { messagesIn: 100, messagesOut: 20, bytesIn: 5000, bytesOut: 800 });
    vi.advanceTimersByTime(1000); // sample: window [0, 1000]
    s = f.snapshot().sessions.a;
    expect(s.rates).toEqual({ messagesIn: 100, messagesOut: 20, bytesIn: 5000, bytesOut: 800 });

    a.counters.messagesIn += 50;
    vi.advanceTimersByTime(500); // between samples: the rate is still the one of [0, 1000]
    s = f.snapshot().sessions.a;
    expect(s.messagesIn).toBe(150); // the counters are read now
    expect(s.rates.messagesIn).toBe(100);
    expect(s.averageRates.messagesIn).toBe(100); // 150 in 1.5 s

    vi.advanceTimersByTime(500); // sample: window [1000, 2000]
    expect(f.snapshot().sessions.a.rates.messagesIn).toBe(50);
    expect(f.snapshot().sessions.a.rates.bytesIn).toBe(0);

    vi.advanceTimersByTime(1000); // an idle interval
    s = f.snapshot().sessions.a;
    expect(s.rates).toEqual({ messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 });
    expect(s.averageRates.messagesIn).toBe(50); // 150 in 3 s
    expect(s.averageRates.messagesOut).toBeCloseTo(20 / 3, 9);
    expect(s.averageRates.bytesIn).toBeCloseTo(5000 / 3, 9);
    expect(s.averageRates.bytesOut).toBeCloseTo(800 / 3, 9);
  });

  it('measures the window between samples, not the nominal interval', () => {
    const a = new FakeSession();
    const f = fleet(new Map([['a', a]]), 100);
    a.counters.messagesOut = 30;
    vi.advanceTimersByTime(100);
    expect(f.snapshot().sessions.a.rates.messagesOut).toBe(300);
    // a first window that starts when a session is first seen, between samples
    const src = new Map([['a', a]]);
    const g = fleet(src, 1000);
    vi.advanceTimersByTime(300);
    const b = new FakeSession({ messagesOut: 1000 });
    src.set('b', b);
    expect(g.snapshot().sessions.b.rates.messagesOut).toBe(0); // first seen now, at 300
    b.counters.messagesOut += 70;
    vi.advanceTimersByTime(700); // sample at 1000: window [300, 1000]
    const s = g.snapshot().sessions.b;
    expect(s.rates.messagesOut).toBeCloseTo(100, 9);
    expect(s.averageRates.messagesOut).toBeCloseTo(100, 9); // the 1000 before first sight do not count
  });

  it('drops a session that left the source, and starts afresh for a new one under the same name', () => {
    const src = new Map<string, FakeSession>([
      ['a', new FakeSession()],
      ['b', new FakeSession({ messagesIn: 500 })],
    ]);
    const f = fleet(src);
    expect(tracked(f)).toBe(2);
    src.get('b')!.counters.messagesIn += 100;
    vi.advanceTimersByTime(1000);
    expect(f.snapshot().sessions.b.rates.messagesIn).toBe(100);

    src.delete('b');
    const snap = f.snapshot();
    expect(Object.keys(snap.sessions)).toEqual(['a']);
    expect(snap.total.sessions).toBe(1);
    expect(snap.total.rates.messagesIn).toBe(0);
    expect(tracked(f)).toBe(1);

    // many sessions come and go: the state follows the source
    for (let i = 0; i < 100; i++) src.set(`tmp${i}`, new FakeSession());
    vi.advanceTimersByTime(1000);
    expect(tracked(f)).toBe(101);
    for (let i = 0; i < 100; i++) src.delete(`tmp${i}`);
    vi.advanceTimersByTime(1000);
    expect(tracked(f)).toBe(1);

    // back under the same name, with lower counters: no negative rate, a new first sight
    const b2 = new FakeSession({ messagesIn: 10 });
    src.set('b', b2);
    vi.advanceTimersByTime(1000); // first seen at this sample
    b2.counters.messagesIn += 20;
    vi.advanceTimersByTime(1000);
    const s = f.snapshot().sessions.b;
    expect(s.rates.messagesIn).toBe(20);
    expect(s.averageRates.messagesIn).toBe(20); // 20 in the 1 s since first seen, not the 10 before
  });

  it('starts afresh when another session object takes a name or counters go down', () => {
    const src = new Map([['a', new FakeSession({ messagesOut: 100 })]]);
    const f = fleet(src);
    src.get('a')!.counters.messagesOut += 50;
    vi.advanceTimersByTime(1000);
    expect(f.snapshot().sessions.a.rates.messagesOut).toBe(50);
    src.set('a', new FakeSession({ messagesOut: 120 })); // more than before, but another session
    vi.advanceTimersByTime(1000);
    expect(f.snapshot().sessions.a.rates.messagesOut).toBe(0);
    src.get('a')!.counters.messagesOut = 5; // went down
    vi.advanceTimersByTime(1000);
    const s = f.snapshot().sessions.a;
    expect(s.rates.messagesOut).toBe(0);
    expect(s.averageRates.messagesOut).toBe(0);
  });

  it('sums counters, gauges and rates, merges latency histograms and counts states, readiness and round trips', () => {
    const a = new FakeSession({
      messagesIn: 1,
      messagesOut: 2,
      bytesIn: 3,
      bytesOut: 4,
      reconnects: 5,
      errors: 6,
      dropped: 7,
      inflight: 8,
      queued: 9,
      queuedBytes: 10,
      roundTrip: 12,
    }).observe(0.2, 3, 40);
    const b = new FakeSession({ messagesIn: 10, errors: 1, queuedBytes: 5, roundTrip: 30 }).observe(
      3,
      20_000,
    );
    const c = new FakeSession({ state: 'reconnecting' });
    const d = new FakeSession({ state: 'new' });
    a.ready = true;
    b.ready = false; // connected, subscriptions not restored yet
    const f = fleet(
      new Map([
        ['a', a],
        ['b', b],
        ['c', c],
        ['d', d],
      ]),
    );
    a.counters.messagesIn += 10;
    b.counters.messagesIn += 30;
    vi.advanceTimersByTime(1000);
    const { sessions, total } = f.snapshot();
    expect(total).toMatchObject({
      messagesIn: 51,
      messagesOut: 2,
      bytesIn: 3,
      bytesOut: 4,
      reconnects: 5,
      errors: 7,
      dropped: 7,
      inflight: 8,
      queued: 9,
      queuedBytes: 15,
      sessions: 4,
      ready: 1,
      rates: { messagesIn: 40, messagesOut: 0, bytesIn: 0, bytesOut: 0 },
      averageRates: { messagesIn: 40, messagesOut: 0, bytesIn: 0, bytesOut: 0 },
    });
    expect(total.states).toEqual({
      new: 1,
      connecting: 0,
      connected: 2,
      reconnecting: 1,
      disconnected: 0,
      closing: 0,
      closed: 0,
    });
    expect(Object.keys(total.states)).toEqual(SESSION_STATES);
    // every number a session's metrics() has is summed, whatever SessionMetrics gains later
    for (const [name, value] of Object.entries(a.metrics())) {
      if (typeof value !== 'number' || name === 'roundTrip') continue;
      const sum = [a, b, c, d].reduce((n, s) => n + (s.metrics()[name as keyof SessionMetrics] as number), 0);
      expect(total[name as keyof typeof total], name).toBe(sum);
    }
    expect(total.roundTrip).toEqual({ min: 12, max: 30, mean: 21, sessions: 2 });
    const h = total.publishLatency;
    expect(h.bounds).toEqual(LATENCY_BOUNDS);
    expect(h.count).toBe(5);
    expect(h.sum).toBe(0.2 + 3 + 40 + 3 + 20_000);
    expect(h.counts.reduce((x, y) => x + y, 0)).toBe(5);
    expect(h.counts[0]).toBe(1); // 0.2 <= 0.5
    expect(h.counts[LATENCY_BOUNDS.indexOf(5)]).toBe(2); // the two 3 ms
    expect(h.counts[LATENCY_BOUNDS.length]).toBe(1); // 20 s, above the last bound
    // each session keeps its own
    expect(sessions.a.publishLatency.count).toBe(3);
    expect(sessions.b.publishLatency.count).toBe(2);
    expect(sessions.a).toMatchObject({ state: 'connected', ready: true, roundTrip: 12, dropped: 7 });
    expect(sessions.b.ready).toBe(false);
    expect(sessions.c).toMatchObject({ state: 'reconnecting', ready: false, roundTrip: undefined });
  });

  it('takes readiness from the source when it has isReady, else from the session, else from the state', () => {
    const a = new FakeSession();
    const b = new FakeSession({ state: 'connecting' });
    const map = new Map([
      ['a', a],
      ['b', b],
    ]);
    expect(fleet(map).snapshot().total.ready).toBe(1); // no ready property: connected counts
    a.ready = false;
    expect(fleet(map).snapshot().total.ready).toBe(0);
    const withIsReady: MetricsSource = { entries: () => map.entries(), isReady: (name) => name === 'b' };
    const snap = fleet(withIsReady).snapshot();
    expect(snap.sessions.a.ready).toBe(false);
    expect(snap.sessions.b.ready).toBe(true);
  });

  it('has no round-trip summary when no session measured one, and an empty total without sessions', () => {
    const f = fleet(new Map([['a', new FakeSession()]]));
    expect(f.snapshot().total.roundTrip).toBeUndefined();
    const empty = fleet(new Map()).snapshot();
    expect(empty.sessions).toEqual({});
    expect(empty.total.sessions).toBe(0);
    expect(empty.total.publishLatency.counts).toEqual(new Array(LATENCY_BOUNDS.length + 1).fill(0));
    expect(Object.values(empty.total.states).every((n) => n === 0)).toBe(true);
  });

  it('takes a session name as it is, __proto__ included', () => {
    const src = new Map([
      ['__proto__', new FakeSession({ messagesIn: 3 })],
      ['constructor', new FakeSession({ messagesIn: 4 })],
    ]);
    const snap = fleet(src).snapshot();
    expect(Object.keys(snap.sessions)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(snap.sessions, '__proto__')?.value.messagesIn).toBe(3);
    expect(Object.getPrototypeOf(snap.sessions)).toBe(Object.prototype);
    expect(snap.total.messagesIn).toBe(7);
  });

  it('samples on one timer per instance that stop() clears; snapshot() works after stop()', () => {
    const a = new FakeSession();
    const timersBefore = vi.getTimerCount();
    const f = fleet(new Map([['a', a]]));
    expect(vi.getTimerCount()).toBe(timersBefore + 1);
    expect(f.running).toBe(true);
    a.counters.messagesIn = 10;
    vi.advanceTimersByTime(1000);
    f.stop();
    f.stop();
    expect(f.running).toBe(false);
    expect(vi.getTimerCount()).toBe(timersBefore);
    a.counters.messagesIn = 40;
    vi.advanceTimersByTime(1000);
    const s = f.snapshot().sessions.a;
    expect(s.messagesIn).toBe(40);
    expect(s.rates.messagesIn).toBe(10); // frozen at the last sample
    expect(s.averageRates.messagesIn).toBe(20);
  });

  it('keeps sampling when the source throws once, and snapshot() reports the error', () => {
    let fail = false;
    const map = new Map([['a', new FakeSession()]]);
    const f = fleet({
      entries: () => {
        if (fail) throw new Error('source broke');
        return map.entries();
      },
    });
    fail = true;
    expect(() => vi.advanceTimersByTime(1000)).not.toThrow();
    expect(() => f.snapshot()).toThrow('source broke');
    fail = false;
    map.get('a')!.counters.messagesIn = 5;
    vi.advanceTimersByTime(1000);
    expect(f.snapshot().sessions.a.rates.messagesIn).toBe(2.5); // over the 2 s since the last good sample
  });

  it('validates its options', () => {
    const src = new Map<string, FakeSession>();
    expect(() => new FleetMetrics(src, { interval: 0 })).toThrow(InvalidArgumentError);
    expect(() => new FleetMetrics(src, { interval: -5 })).toThrow(/interval/);
    expect(() => new FleetMetrics(src, { interval: Number.NaN })).toThrow(InvalidArgumentError);
    expect(() => new FleetMetrics(src, { interval: Number.POSITIVE_INFINITY })).toThrow(InvalidArgumentError);
    expect(() => new FleetMetrics({} as MetricsSource)).toThrow(/source/);
    const f = fleet(src);
    expect(f.interval).toBe(1000);
  });

  it('takes a SessionManager or a Map of sessions as its source', () => {
    const manager: MetricsSource = new SessionManager();
    const map: MetricsSource = new Map<string, Session>();
    expect(fleet(manager).snapshot().total.sessions).toBe(0);
    expect(fleet(map).snapshot().total.sessions).toBe(0);
  });
});

describe('FleetMetrics timer', () => {
  it('does not keep the process alive', () => {
    vi.useRealTimers();
    const f = fleet(new Map());
    const timer = (f as unknown as { timer: NodeJS.Timeout }).timer;
    expect(timer.hasRef()).toBe(false);
    f.stop();
  });
});
