/** Channels against a private mosquitto: what a subscriber receives, and when (arrival times, not wall-clock bounds). */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BatchChannel, QueueChannel } from '../../src/channels/index.js';
import { type Message, Session } from '../../src/session/index.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

describe.skipIf(!hasMosquitto())('channels through mosquitto', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  async function subscriber(filter: string) {
    const s = new Session({ url: broker.url });
    await s.connect();
    const got: { msg: Message; at: number }[] = [];
    let wake: (() => void) | undefined;
    await s.subscribe(filter, { qos: 1 }, (msg) => {
      got.push({ msg, at: performance.now() });
      wake?.();
    });
    const until = async (n: number) => {
      while (got.length < n) await new Promise<void>((resolve) => (wake = resolve));
    };
    return { s, got, until };
  }

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
    expect(sub.got.map((g) => JSON.parse(g.msg.payload.toString()).map((x: { i: number }) => x.i))).toEqual([
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
    await Promise.all(Array.from({ length: n }, (_, i) => q.push(`${i}`)));
    await sub.until(n);
    expect(sub.got.map((g) => g.msg.payload.toString())).toEqual(Array.from({ length: n }, (_, i) => `${i}`));
    // 100 messages at 200/s: the burst allowance is 20, the other 80 need at least 0.4 s
    const span = (sub.got.at(-1)?.at ?? 0) - (sub.got[0]?.at ?? 0);
    expect(span).toBeGreaterThan(350);
    expect(q.metrics()).toMatchObject({ pushed: n, published: n, queued: 0 });
    await s.close();
    await sub.s.close();
  });
});
