/** BatchChannel on a fake clock: when batches go out, how items combine, the size bound, errors, close. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BatchChannel } from '../../src/channels/index.js';
import { ClosedError, InvalidArgumentError } from '../../src/core/errors.js';
import { FakeSession } from './fake-session.js';

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('BatchChannel', () => {
  it('publishes the items of each interval as one JSON array', async () => {
    const s = new FakeSession();
    const b = new BatchChannel(s.asSession(), 'state', { interval: 1000 });
    const first = [b.push({ t: 1 }), b.push('{"t":2}'), b.push(Buffer.from('3'))];
    await vi.advanceTimersByTimeAsync(999);
    expect(s.published).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.published.map((p) => [p.topic, p.payload.toString(), p.at])).toEqual([
      ['state', '[{"t":1},{"t":2},3]', 1000],
    ]);
    await Promise.all(first);
    // an idle interval publishes nothing; the next item starts a new interval
    await vi.advanceTimersByTimeAsync(5000);
    expect(s.published).toHaveLength(1);
    void b.push(4);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.published.map((p) => [p.payload.toString(), p.at])).toEqual([
      ['[{"t":1},{"t":2},3]', 1000],
      ['[4]', 7000],
    ]);
    expect(b.metrics()).toMatchObject({ pushed: 4, published: 2, pending: 0 });
  });

  it('publishes at once when the next item would pass maxBytes, and refuses an item too large alone', async () => {
    const s = new FakeSession();
    const b = new BatchChannel(s.asSession(), 'd', { combine: 'concat', maxBytes: 10 });
    void b.push('aaaa');
    void b.push('bbbb');
    expect(s.published).toHaveLength(0);
    void b.push('cccc'); // 12 bytes: the first two go now
    expect(s.published.map((p) => p.payload.toString())).toEqual(['aaaabbbb']);
    await expect(b.push('x'.repeat(11))).rejects.toThrow(InvalidArgumentError);
    await expect(b.push('x'.repeat(11))).rejects.toThrow(
      /11 bytes do not fit in a batch of at most 10 bytes/,
    );
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.published.map((p) => p.payload.toString())).toEqual(['aaaabbbb', 'cccc']);
    expect(b.metrics().rejected).toBe(2);
  });

  it('counts the JSON brackets and commas against maxBytes', async () => {
    const s = new FakeSession();
    const b = new BatchChannel(s.asSession(), 'd', { maxBytes: 9 });
    void b.push(1); // [1] = 3
    void b.push(2); // [1,2] = 5
    void b.push(3); // [1,2,3] = 7
    void b.push(4); // [1,2,3,4] = 9
    expect(s.published).toHaveLength(0);
    void b.push(5); // 11: flush first
    expect(s.published.map((p) => p.payload.toString())).toEqual(['[1,2,3,4]']);
    await expect(b.push('12345678')).rejects.toThrow(InvalidArgumentError); // [12345678] = 10
  });

  it('combines with a function, and rejects each item of a batch whose publish failed', async () => {
    const s = new FakeSession();
    s.autoAck = false;
    const b = new BatchChannel(s.asSession(), 'd', { combine: (items) => Buffer.from(items.join('|')) });
    const items = [b.push('a'), b.push('b')];
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.published[0].payload.toString()).toBe('a|b');
    s.published[0].reject(new Error('broker said no'));
    for (const p of items) await expect(p).rejects.toThrow('broker said no');
    expect(b.metrics().failed).toBe(1);
  });

  it('flushes when the session closes, then refuses items', async () => {
    const s = new FakeSession();
    const b = new BatchChannel(s.asSession(), 'd');
    const last = b.push({ bye: true });
    await s.close();
    await last;
    expect(s.published.map((p) => p.payload.toString())).toEqual(['[{"bye":true}]']);
    await expect(b.push('late')).rejects.toThrow(ClosedError);
  });

  it('refuses bad options with the field named', () => {
    const s = new FakeSession().asSession();
    expect(() => new BatchChannel(s, 'a/#')).toThrow(/topic/);
    expect(() => new BatchChannel(s, 't', { interval: 0 })).toThrow(/options.interval/);
    expect(() => new BatchChannel(s, 't', { combine: 'csv' as 'concat' })).toThrow(/options.combine/);
  });
});
