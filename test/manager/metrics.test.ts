/**
 * A manager's metrics against mosquitto: the snapshot counts what happened,
 * and the Prometheus endpoint says the same, parsed back with a strict
 * text-format parser.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../../src/manager/index.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { histogramSeries, parsePrometheusText } from '../helpers/prometheus-text.js';

describe.skipIf(!hasMosquitto())('SessionManager metrics', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('snapshots and serves per-session counters that match what was sent and received', async () => {
    const m = new SessionManager({ metricsInterval: 50 });
    try {
      m.add({ name: 'pub', url: broker.url });
      m.add({ name: 'sub "x"', url: broker.url });
      let got = 0;
      const all = new Promise<void>((resolve) => {
        m.handleTo('sub "x"', 'mt/t', () => {
          if (++got === 20) resolve();
        });
      });
      await m.connectAll();
      await m.waitReady();
      m.metrics(); // sampling starts here: rates count from now
      for (let i = 0; i < 20; i++) await m.publishTo('pub', 'mt/t', 'payload', { qos: 1 });
      await all;

      const snap = m.metrics();
      expect(snap.sessions.pub.messagesOut).toBe(20);
      expect(snap.sessions.pub.publishLatency.count).toBe(20);
      expect(snap.sessions['sub "x"'].messagesIn).toBe(20);
      expect(snap.total).toMatchObject({ messagesIn: 20, messagesOut: 20, sessions: 2, ready: 2 });
      expect(snap.total.states.connected).toBe(2);
      // rates come from samples: after one covering the burst, some rate shows
      await expect
        .poll(() => m.metrics().sessions['sub "x"'].averageRates.messagesIn, { interval: 20 })
        .toBeGreaterThan(0);

      const server = await m.serveMetrics({ port: 0 });
      const res = await fetch(server.url);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
      const families = parsePrometheusText(await res.text());
      for (const f of families.values()) {
        expect(f.help, f.name).toBeTruthy();
      }
      const value = (family: string, session: string) =>
        families.get(family)?.samples.find((x) => x.labels.session === session)?.value;
      expect(families.get('mqttkit_messages_received_total')?.type).toBe('counter');
      expect(value('mqttkit_messages_received_total', 'sub "x"')).toBe(20);
      expect(value('mqttkit_messages_sent_total', 'pub')).toBe(20);
      expect(value('mqttkit_session_up', 'pub')).toBe(1);
      const latency = histogramSeries(families.get('mqttkit_publish_latency_seconds') as never).find(
        (h) => h.labels.session === 'pub',
      );
      expect(latency?.count).toBe(20);
      expect(latency?.buckets.at(-1)).toEqual({ le: Number.POSITIVE_INFINITY, count: 20 });
      expect(families.get('mqttkit_sessions')?.samples[0].value).toBe(2);

      // a removed session leaves the output
      await m.remove('pub');
      const after = parsePrometheusText(await (await fetch(server.url)).text());
      expect(after.get('mqttkit_messages_sent_total')?.samples.map((x) => x.labels.session)).toEqual([
        'sub "x"',
      ]);
      await m.close();
      // the endpoint closed with the manager
      await expect(fetch(server.url)).rejects.toThrow();
    } finally {
      await m.close();
    }
  });
});
