/**
 * Fault tests with real processes: a mosquitto with persistence restarted
 * again and again under a stream of QoS 1 and QoS 2 publishes. Counted, not
 * timed: nothing lost, no QoS 2 duplicate.
 */
import { describe, expect, it } from 'vitest';
import { Session } from '../../src/session/index.js';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const FAST = { initialDelay: 50, maxDelay: 500, factor: 2, jitter: 0.2 };

describe.skipIf(!hasMosquitto())('broker restarts', () => {
  it('loses nothing and duplicates no QoS 2 message across 5 restarts of a persistent mosquitto', async () => {
    const broker = await startMosquitto({ persistence: true, config: 'max_queued_messages 100000' });
    const sub = new Session({
      url: broker.url,
      clientId: 'survival-sub',
      clean: false,
      sessionExpiry: 3600,
      reconnect: FAST,
    });
    const pub = new Session({
      url: broker.url,
      clientId: 'survival-pub',
      clean: false,
      sessionExpiry: 3600,
      reconnect: FAST,
      offlineQueue: { maxMessages: 100_000 },
    });
    try {
      const Q1 = 20_000;
      const Q2 = 5_000;
      const seen = new Map<string, number>();
      const order = new Map<string, number[]>();
      let unique = 0;
      let q2dups = 0;
      let done: () => void = () => {};
      const all = new Promise<void>((resolve) => {
        done = resolve;
      });
      await sub.connect();
      await sub.subscribe('survival/#', { qos: 2 }, (m) => {
        const text = m.payload.toString();
        let stream = order.get(m.topic);
        if (stream === undefined) order.set(m.topic, (stream = []));
        stream.push(Number(text.slice(text.lastIndexOf(':') + 1)));
        const n = (seen.get(text) ?? 0) + 1;
        seen.set(text, n);
        if (n > 1) {
          if (m.topic.startsWith('survival/q2/')) q2dups++;
          return;
        }
        if (++unique === Q1 + Q2) done();
      });
      await pub.connect();

      let acked = 0;
      let restarts = 0;
      let restarting: Promise<void> = Promise.resolve();
      const maybeRestart = () => {
        if (restarts < 5 && acked >= (restarts + 1) * 4_000) {
          restarts++;
          restarting = restarting.then(() => broker.restart());
        }
      };
      const sends: Promise<unknown>[] = [];
      for (let i = 0; i < Q1 + Q2; i++) {
        const qos2 = i % 5 === 4;
        const topic = `survival/${qos2 ? 'q2' : 'q1'}/${i % 4}`;
        sends.push(
          pub.publish(topic, `${topic}:${i}`, { qos: qos2 ? 2 : 1 }).then(() => {
            acked++;
            maybeRestart();
          }),
        );
      }
      await Promise.all(sends);
      await restarting;
      await all;
      expect(restarts).toBe(5);
      expect(unique).toBe(Q1 + Q2);
      expect(q2dups).toBe(0);
      // Order across restarts is not asserted here: mosquitto 2.0.11 sometimes delivers messages it
      // restored from its persistence file after newer ones, for QoS 1 and QoS 2 alike (seen with an
      // MQTT.js subscriber too). The order in which this session sends and replays is covered by the
      // engine and reconnect tests.
      expect(order.size).toBe(8);
      expect(pub.metrics().reconnects).toBeGreaterThanOrEqual(5);
    } finally {
      await pub.close({ timeout: 0 });
      await sub.close({ timeout: 0 });
      await broker.stop();
    }
  }, 120_000);
});
