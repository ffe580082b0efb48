/** Channels against a private mosquitto: what a subscriber receives, and in what order. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchChannel, QueueChannel } from '../../src/channels/index.js';
import { Session } from '../../src/session/index.js';
import { watch } from '../helpers/messages.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

describe.skipIf(!hasMosquitto())('channels through mosquitto', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  const subscriber = (filter: string) => watch({ url: broker.url }, filter);

  it('batch: one message per interval with every item, and the rest flushed on close', async () => {
    const sub = await subscriber('dev/state');
    const s = new Session({ url: broker.url });
    await s.connect();
    const b = new BatchChannel(s, 'dev/state', { interval: 200 });
    await Promise.all([0, 1, 2, 3, 4].map((i) => b.push({ i })));
    await Promise.all([5, 6, 7].map((i) => b.push({ i })));
    void b.push({ i: 8 });
    await s.close();
    await sub.until(3);
    expect(sub.got.map((m) => JSON.parse(m.payload.toString()).map((x: { i: number }) => x.i))).toEqual([
      [0, 1, 2, 3, 4],
      [5, 6, 7],
      [8],
    ]);
    expect(b.metrics()).toMatchObject({ pushed: 9, published: 3, failed: 0 });
    await sub.s.close();
  });

  it('queue: every message in order, spread over time by the rate', async () => {
    const sub = await subscriber('dev/data');
    const s = new Session({ url: broker.url });
    await s.connect();
    const q = new QueueChannel(s, 'dev/data', { rate: 200 });
    const n = 100;
    const pushed = Promise.all(Array.from({ length: n }, (_, i) => q.push(`${i}`)));
    // 100 messages at 200/s: the burst allowance is 20, the rest wait their turn (the rate itself
    // is checked on a fake clock in queue.test.ts)
    await sub.until(30);
    expect(q.metrics().queued).toBeGreaterThan(0);
    await pushed;
    await sub.until(n);
    expect(sub.got.map((m) => m.payload.toString())).toEqual(Array.from({ length: n }, (_, i) => `${i}`));
    expect(q.metrics()).toMatchObject({ pushed: n, published: n, queued: 0 });
    await s.close();
    await sub.s.close();
  });
});
