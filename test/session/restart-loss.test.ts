/**
 * Issue 16, case 6: QoS 1 messages lost across SIGTERM restarts of a
 * persistent mosquitto when the machine is loaded.
 *
 * Traced on the wire (test/helpers/restart-rig.ts, bench/restart-loss.ts):
 * every lost message had been PUBACKed to the publisher (with reason code
 * 0) by a broker that then never sent it to the subscriber, and that
 * broker's log says "Outgoing messages are being dropped for client
 * rig-sub." The subscriber was offline (reconnecting after the previous
 * restart) while the publisher, back first, streamed more than
 * `max_queued_messages` (default 1000) messages: mosquitto keeps that many
 * per client and drops the rest. Under load the subscriber comes back
 * later, so this happens in some runs and not others. With
 * `max_queued_messages 0` nothing was lost, including messages PUBACKed
 * between the SIGTERM and the exit (mosquitto saves them on exit).
 *
 * The first test runs the rig with the broker-side drop ruled out and
 * asserts every message whose publish() resolved arrives; the second pins
 * down mosquitto's own behaviour, which the README states.
 */
import mqtt from 'mqtt';
import { describe, expect, it } from 'vitest';
import { Session } from '../../src/session/index.js';
import { hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { explainLoss, queueDrops, runRestartRig } from '../helpers/restart-rig.js';

describe.skipIf(!hasMosquitto())('QoS 1 across SIGTERM restarts of a loaded broker', () => {
  it('every message whose publish() resolved reaches a persistent subscriber (broker queue unbounded)', async () => {
    const result = await runRestartRig({
      messages: 2000,
      restarts: 3,
      load: 2,
      // the publisher is back well before the MQTT.js subscriber (1 s): the condition under which a
      // default mosquitto drops what it queued beyond max_queued_messages
      pubReconnectDelay: 50,
      brokerConfig: 'max_queued_messages 0',
      quietMs: 8000,
      limitMs: 50_000,
    });
    const { text } = explainLoss(result);
    expect(result.wireErrors, text).toEqual([]);
    expect(result.resolved.size, text).toBe(2000);
    // the restarts happened mid-stream: every broker instance acknowledged part of it
    expect(result.instances.length, text).toBe(4);
    const ackedBy = result.instances.map(() => 0);
    for (const trace of result.traces.values()) {
      for (const ack of trace.acked) {
        let i = result.instances.length - 1;
        while (i > 0 && ack.t < result.instances[i].listening) i--;
        ackedBy[i]++;
      }
    }
    for (const n of ackedBy) expect(n, text).toBeGreaterThan(0);
    expect(result.lost, text).toEqual([]);
    expect(queueDrops(result.log), text).toEqual([]);
  }, 60_000);

  it('mosquitto PUBACKs with success and drops what an offline persistent client has beyond max_queued_messages', async () => {
    const broker = await startMosquitto({ persistence: true, config: 'max_queued_messages 10' });
    const pub = new Session({ url: broker.url, clientId: 'overflow-pub' });
    const options = { clientId: 'overflow-sub', clean: false, reconnectPeriod: 0 } as const;
    let sub = mqtt.connect(broker.url, options);
    try {
      await new Promise<void>((resolve, reject) => {
        sub.once('connect', () =>
          sub.subscribe('overflow', { qos: 1 }, (err) => (err ? reject(err) : resolve())),
        );
        sub.once('error', reject);
      });
      await sub.endAsync();
      await pub.connect();
      // 30 QoS 1 messages for a subscriber that is away: each is acknowledged as a success
      const results = await Promise.all(
        Array.from({ length: 30 }, (_, i) => pub.publish('overflow', String(i), { qos: 1 })),
      );
      for (const r of results) expect(r.reasonCode).toBe(0);

      const received: string[] = [];
      let sentinel: () => void = () => {};
      const last = new Promise<void>((resolve) => {
        sentinel = resolve;
      });
      sub = mqtt.connect(broker.url, options);
      sub.on('message', (_topic, payload) => {
        const text = payload.toString();
        if (text === 'end') sentinel();
        else received.push(text);
      });
      await new Promise<void>((resolve) => sub.once('connect', () => resolve()));
      // queued behind whatever the broker kept, so its arrival means the rest has been delivered
      await pub.publish('overflow', 'end', { qos: 1 });
      await last;
      expect(received).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
      expect(queueDrops(broker.log(), 'overflow-sub')).toHaveLength(1);
    } finally {
      await sub.endAsync(true);
      await pub.close({ timeout: 0 });
      await broker.stop();
    }
  }, 30_000);
});
