/**
 * FleetMetrics and its Prometheus registry on real sessions of a
 * SessionManager, against a private mosquitto.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../../src/manager/index.js';
import { createRegistry, FleetMetrics, type FleetSnapshot } from '../../src/metrics/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { histogramSeries, parsePrometheusText } from '../helpers/prometheus-text.js';

const INTERVAL = 50;
const N = 40;
/** Room for a loaded machine: a poll ends as soon as it holds. */
const POLL = { timeout: 10_000, interval: 10 };

describe.skipIf(!hasMosquitto())('FleetMetrics with real sessions', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  /** A manager with `a` (publishes) and `b` (holds a QoS 1 subscription on `topic`), both ready; and a FleetMetrics on it. */
  async function setup(
    topic: string,
  ): Promise<{ m: SessionManager; fleet: FleetMetrics; received: () => number }> {
    const m = new SessionManager();
    onCleanup(() => m.close({ timeout: 0 }));
    let received = 0;
    m.add({ name: 'a', url: broker.url });
    m.add({
      name: 'b',
      url: broker.url,
      subscriptions: [{ filter: topic, qos: 1, handler: () => received++ }],
    });
    await m.connectAll();
    await m.waitReady();
    const fleet = new FleetMetrics(m, { interval: INTERVAL });
    onCleanup(() => fleet.stop());
    return { m, fleet, received: () => received };
  }

  it('counts exactly what was published and received, with one latency observation per QoS 1 publish', async () => {
    const { m, fleet, received } = await setup('fm/count');
    const before = fleet.snapshot();
    expect(before.sessions.a.messagesOut).toBe(0);
    for (let i = 0; i < N; i++) await m.publishTo('a', 'fm/count', `m${i}`, { qos: 1 });
    // QoS 0 publishes count as messages, not as acknowledged latencies
    await m.publishTo('a', 'fm/count', 'q0', { qos: 0 });
    await expect.poll(received, POLL).toBe(N + 1);

    const snap: FleetSnapshot = fleet.snapshot();
    const { a, b } = snap.sessions;
    expect(a.messagesOut).toBe(N + 1);
    expect(a.messagesIn).toBe(0);
    expect(b.messagesIn).toBe(N + 1);
    expect(b.messagesOut).toBe(0);
    expect(a.publishLatency.count).toBe(N);
    expect(a.publishLatency.counts.reduce((x, y) => x + y, 0)).toBe(N);
    expect(a.publishLatency.sum).toBeGreaterThan(0);
    expect(b.publishLatency.count).toBe(0);
    expect(a.bytesOut).toBeGreaterThan(N * 'fm/count'.length);
    expect(b.bytesIn).toBeGreaterThan(N * 'fm/count'.length);
    expect(a.inflight).toBe(0);
    expect(a).toMatchObject({ state: 'connected', ready: true, reconnects: 0, errors: 0, dropped: 0 });
    expect(b).toMatchObject({ state: 'connected', ready: true });

    const t = snap.total;
    expect(t.sessions).toBe(2);
    expect(t.states.connected).toBe(2);
    expect(t.ready).toBe(2);
    expect(t.messagesOut).toBe(N + 1);
    expect(t.messagesIn).toBe(N + 1);
    expect(t.bytesIn).toBe(a.bytesIn + b.bytesIn);
    expect(t.bytesOut).toBe(a.bytesOut + b.bytesOut);
    expect(t.publishLatency.count).toBe(N);
    expect(t.publishLatency.counts).toEqual(a.publishLatency.counts);

    // the same numbers through Prometheus (the counters do not move while idle)
    const families = parsePrometheusText(await createRegistry(fleet).metrics());
    const sample = (family: string, session: string) =>
      families.get(family)?.samples.find((s) => s.labels.session === session)?.value;
    expect(sample('mqttkit_messages_sent_total', 'a')).toBe(N + 1);
    expect(sample('mqttkit_messages_received_total', 'b')).toBe(N + 1);
    expect(sample('mqttkit_session_up', 'a')).toBe(1);
    expect(sample('mqttkit_session_ready', 'b')).toBe(1);
    const latency = histogramSeries(families.get('mqttkit_publish_latency_seconds')!);
    expect(latency.find((s) => s.labels.session === 'a')!.count).toBe(N);
    expect(latency.find((s) => s.labels.session === 'b')!.count).toBe(0);
  });

  it('shows rates while traffic flows and zero after an idle interval', async () => {
    const { m, fleet, received } = await setup('fm/rate');
    let sent = 0;
    let flowing = true;
    const traffic = (async () => {
      while (flowing) {
        await m.publishTo('a', 'fm/rate', 'x', { qos: 1 });
        sent++;
      }
    })();
    onCleanup(() => {
      flowing = false;
      return traffic;
    });
    await expect
      .poll(() => {
        const { a, b } = fleet.snapshot().sessions;
        return [a.rates.messagesOut, a.rates.bytesOut, b.rates.messagesIn, b.rates.bytesIn].every(
          (r) => r > 0,
        );
      }, POLL)
      .toBe(true);
    const busy = fleet.snapshot();
    expect(busy.total.rates.messagesOut).toBe(
      busy.sessions.a.rates.messagesOut + busy.sessions.b.rates.messagesOut,
    );
    expect(busy.sessions.a.averageRates.messagesOut).toBeGreaterThan(0);

    flowing = false;
    await traffic;
    await expect.poll(received, POLL).toBe(sent);
    await expect
      .poll(() => {
        const { a, b } = fleet.snapshot().sessions;
        return [a.rates, b.rates];
      }, POLL)
      .toEqual([
        { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 },
        { messagesIn: 0, messagesOut: 0, bytesIn: 0, bytesOut: 0 },
      ]);
    const idle = fleet.snapshot();
    expect(idle.total.rates.messagesOut).toBe(0);
    expect(idle.sessions.a.averageRates.messagesOut).toBeGreaterThan(0);
    expect(idle.sessions.a.messagesOut).toBe(sent);
  });

  it('drops a session removed from the manager, from the snapshot and from Prometheus', async () => {
    const { m, fleet } = await setup('fm/remove');
    const registry = createRegistry(fleet);
    expect(Object.keys(fleet.snapshot().sessions)).toEqual(['a', 'b']);
    await m.remove('b');
    const snap = fleet.snapshot();
    expect(Object.keys(snap.sessions)).toEqual(['a']);
    expect(snap.total.sessions).toBe(1);
    const text = await registry.metrics();
    expect(text).toContain('session="a"');
    expect(text).not.toContain('session="b"');
    // state changes are seen at once
    await m.get('a')!.close();
    const closed = fleet.snapshot();
    expect(closed.sessions.a).toMatchObject({ state: 'closed', ready: false });
    expect(closed.total.states).toMatchObject({ connected: 0, closed: 1 });
    expect(parsePrometheusText(await registry.metrics()).get('mqttkit_session_up')!.samples[0].value).toBe(0);
  });
});
