/** QueueChannel on a fake clock: the rate, the bounds, failures reaching the caller, offline and close. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { QueueChannel } from '../../src/channels/index.js';
import { ClosedError, TimeoutError } from '../../src/core/errors.js';
import { sharedTimer } from '../../src/core/timer.js';
import { FakeSession } from './fake-session.js';

// a push waiting for room rides the shared coarse timer: here, one that reads the fake clock
vi.mock('../../src/core/timer.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/core/timer.js')>();
  return { ...real, sharedTimer: new real.CoarseTimer(() => Date.now()) };
});

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  // no waiter left behind; the timer's (fake) interval stops with its last entry
  expect(sharedTimer.size).toBe(0);
  sharedTimer.tick();
  vi.useRealTimers();
});

describe('QueueChannel', () => {
  it('publishes in order, no faster than the rate', async () => {
    const s = new FakeSession();
    const q = new QueueChannel(s.asSession(), 'data', { rate: 100 });
    const all = Array.from({ length: 300 }, (_, i) => q.push(`${i}`));
    await vi.advanceTimersByTimeAsync(3000);
    await Promise.all(all);
    expect(s.published.map((p) => p.payload.toString())).toEqual(
      Array.from({ length: 300 }, (_, i) => `${i}`),
    );
    // no second holds more than the rate (plus the one that may start it)
    for (let t = 0; t < 3000; t += 100) {
      const inWindow = s.published.filter((p) => p.at >= t && p.at < t + 1000).length;
      expect(inWindow).toBeLessThanOrEqual(101);
    }
    const last = s.published.at(-1)?.at ?? 0;
    expect(last).toBeGreaterThanOrEqual(2900);
    expect(q.metrics()).toMatchObject({ pushed: 300, published: 300, queued: 0 });
  });

  it('rejects an oversize message at once, and a push that finds no room in time', async () => {
    const s = new FakeSession();
    const q = new QueueChannel(s.asSession(), 'data', {
      rate: 1,
      capacity: 1,
      maxMessageBytes: 4,
      enqueueTimeout: 100,
    });
    await expect(q.push('12345')).rejects.toThrow(/5 bytes is more than maxMessageBytes \(4\)/);
    void q.push('a'); // goes out at once (one token)
    void q.push('b'); // the queue is full
    const late = q.push('c');
    const timedOut = expect(late).rejects.toThrow(TimeoutError);
    await vi.advanceTimersByTimeAsync(100);
    await timedOut;
    expect(q.metrics().rejected).toBe(2);
  });

  it('lets a push wait for room up to enqueueTimeout', async () => {
    const s = new FakeSession();
    const q = new QueueChannel(s.asSession(), 'data', { rate: 1, capacity: 1, enqueueTimeout: 1500 });
    void q.push('a');
    void q.push('b');
    const waits = q.push('c'); // room comes at 1 s, when b goes out
    await vi.advanceTimersByTimeAsync(1000);
    expect(q.metrics()).toMatchObject({ queued: 1, pushed: 3 });
    await vi.advanceTimersByTimeAsync(1000);
    await waits;
    expect(s.published.map((p) => [p.payload.toString(), p.at])).toEqual([
      ['a', 0],
      ['b', 1000],
      ['c', 2000],
    ]);
  });

  it('keeps waiting pushes in the shared timer: admitted in order, timed out, or refused on close', async () => {
    const s = new FakeSession();
    const q = new QueueChannel(s.asSession(), 'data', { rate: 1, capacity: 1, enqueueTimeout: 1500 });
    const outcome = (p: Promise<unknown>) =>
      p.then(
        () => 'sent',
        (e: Error) => e.name,
      );
    void q.push('a'); // goes out at once
    void q.push('b'); // fills the queue
    const c = outcome(q.push('c')); // waits until 1500
    await vi.advanceTimersByTimeAsync(600);
    const d = outcome(q.push('d')); // waits until 2100
    const e = outcome(q.push('e')); // waits until 2100
    expect(sharedTimer.size).toBe(3);
    expect(vi.getTimerCount()).toBe(2); // the channel's rate timer and the shared timer, none per push
    await vi.advanceTimersByTimeAsync(400); // b goes out, c takes its place
    expect(sharedTimer.size).toBe(2);
    await vi.advanceTimersByTimeAsync(1000); // c goes out, d takes its place
    expect(sharedTimer.size).toBe(1);
    await vi.advanceTimersByTimeAsync(200); // e's time is up
    expect(await e).toBe('TimeoutError');
    const f = outcome(q.push('f'));
    await q.close({ drop: true });
    expect(await Promise.all([c, d, f])).toEqual(['sent', 'ClosedError', 'ClosedError']);
    expect(s.published.map((p) => [p.payload.toString(), p.at])).toEqual([
      ['a', 0],
      ['b', 1000],
      ['c', 2000],
    ]);
    expect(q.metrics()).toMatchObject({ pushed: 4, rejected: 1, published: 3, queued: 0 });
  });

  it('passes a failed publish to its caller', async () => {
    const s = new FakeSession();
    s.autoAck = false;
    const q = new QueueChannel(s.asSession(), 'data');
    const p = q.push('x');
    s.published[0].reject(new Error('refused'));
    await expect(p).rejects.toThrow('refused');
    expect(q.metrics().failed).toBe(1);
  });

  it('holds messages while the session is offline and sends them once it is ready', async () => {
    const s = new FakeSession();
    s.state = 'reconnecting';
    const q = new QueueChannel(s.asSession(), 'data', { rate: 1000 });
    const sent = [q.push('1'), q.push('2')];
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.published).toHaveLength(0);
    s.state = 'connected';
    s.emit('ready');
    await vi.advanceTimersByTimeAsync(10);
    await Promise.all(sent);
    expect(s.published.map((p) => p.payload.toString())).toEqual(['1', '2']);
  });

  it('close() sends what waits while connected, and rejects the rest if the connection goes', async () => {
    const s = new FakeSession();
    const q = new QueueChannel(s.asSession(), 'data', { rate: 10 });
    const pushes = Array.from({ length: 5 }, (_, i) =>
      q.push(`${i}`).then(
        () => 'sent',
        (e: Error) => e.name,
      ),
    );
    const closed = q.close();
    await vi.advanceTimersByTimeAsync(250); // ~2 more go out
    s.state = 'reconnecting';
    await vi.advanceTimersByTimeAsync(1000);
    await closed;
    const outcome = await Promise.all(pushes);
    expect(outcome.filter((o) => o === 'sent').length).toBe(s.published.length);
    expect(outcome.filter((o) => o === 'ClosedError').length).toBe(5 - s.published.length);
    expect(s.published.length).toBeGreaterThan(0);
  });

  it('close() resolves when the last queued message goes out', async () => {
    const s = new FakeSession();
    const q = new QueueChannel(s.asSession(), 'data', { rate: 10 });
    const pushes = ['1', '2', '3'].map((m) => q.push(m));
    let closedAt = -1;
    const closed = q.close().then(() => {
      closedAt = Date.now();
    });
    await vi.advanceTimersByTimeAsync(1000);
    await closed;
    await Promise.all(pushes);
    expect(s.published.map((p) => p.at)).toEqual([0, 100, 200]);
    expect(closedAt).toBe(200);
    await expect(q.push('4')).rejects.toThrow(ClosedError);
  });

  it('rejects what is still queued when the session closes', async () => {
    const s = new FakeSession();
    const q = new QueueChannel(s.asSession(), 'data', { rate: 1 });
    const first = q.push('1');
    const second = q.push('2').catch((e: unknown) => e);
    await first;
    await s.close();
    expect(await second).toBeInstanceOf(ClosedError);
    await expect(q.push('3')).rejects.toThrow(ClosedError);
  });
});
