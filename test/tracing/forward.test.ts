/**
 * A forwarded message keeps its trace across two mosquitto brokers: in MQTT
 * 5 user properties to an MQTT 5 target, in the JSON envelope's metadata to
 * an MQTT 3.1.1 one.
 */
import { SpanKind } from '@opentelemetry/api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readForwarded } from '../../src/forward/index.js';
import { SessionManager } from '../../src/manager/index.js';
import { Session } from '../../src/session/index.js';
import { closeAfter } from '../helpers/cleanup.js';
import { received } from '../helpers/messages.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { type Otel, parentOf, registerOtel } from '../helpers/otel.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

describe.skipIf(!hasMosquitto())('a forwarded message keeps its trace', () => {
  let otel: Otel;
  let a: Broker;
  let b: Broker;
  let manager: SessionManager;
  beforeAll(async () => {
    otel = registerOtel();
    [a, b] = await Promise.all([startMosquitto(), startMosquitto()]);
    manager = new SessionManager();
    manager.add({ name: 'edge', url: a.url });
    manager.add({ name: 'cloud', url: b.url });
    manager.add({ name: 'legacy', url: b.url, protocolVersion: 4 });
    await manager.connectAll();
    await manager.forward({ name: 'up', from: 'edge', topics: 'f/#', to: 'cloud', qos: 1 }).start();
    await manager
      .forward({ name: 'old', from: 'edge', topics: 'e/#', to: 'legacy', qos: 1, envelope: true })
      .start();
  });
  afterAll(async () => {
    await manager?.close();
    await Promise.all([a?.stop(), b?.stop()]);
    await otel?.shutdown();
  });
  beforeEach(() => otel.exporter.reset());

  async function connected(url: string, name: string): Promise<Session> {
    const s = closeAfter(new Session({ url, name }));
    await s.connect();
    return s;
  }

  it('to an MQTT 5 target: one trace from the publisher on one broker to the subscriber on the other', async () => {
    const sub = await connected(b.url, 'sub');
    const got = received(sub, 1);
    await sub.subscribe('f/#', { qos: 1 });
    const pub = await connected(a.url, 'pub');
    await pub.publish('f/1', 'reading', { qos: 1 });
    const [m] = await got;

    const publishes = await otel.waitFor('publish', 2);
    const receives = await otel.waitFor('receive', 2);
    const first = publishes.find((s) => s.attributes['mqttkit.session.name'] === 'pub');
    const forwarded = publishes.find((s) => s.attributes['mqttkit.session.name'] === 'cloud');
    const atEdge = receives.find((s) => s.attributes['mqttkit.session.name'] === 'edge');
    const atSub = receives.find((s) => s.attributes['mqttkit.session.name'] === 'sub');
    expect(new Set(otel.spans().map((s) => s.spanContext().traceId)).size).toBe(1);
    expect(parentOf(atEdge as never)).toBe(first?.spanContext().spanId);
    expect(parentOf(forwarded as never)).toBe(atEdge?.spanContext().spanId);
    expect(parentOf(atSub as never)).toBe(forwarded?.spanContext().spanId);
    expect(forwarded?.kind).toBe(SpanKind.PRODUCER);
    // one trace context on the wire: the forwarder's publish replaced the one it copied
    const parents = (m.properties?.userProperties ?? []).filter(([k]) => k === 'traceparent');
    expect(parents).toHaveLength(1);
    expect(TRACEPARENT.exec(parents[0][1])?.[2]).toBe(forwarded?.spanContext().spanId);
  });

  it('to an MQTT 3.1.1 target: the JSON envelope carries traceparent, and readForwarded() gives it as metadata', async () => {
    const sub = await connected(b.url, 'sub4');
    const got = received(sub, 1);
    await sub.subscribe('e/#', { qos: 1 });
    const pub = await connected(a.url, 'pub');
    await pub.publish('e/1', 'reading', { qos: 1 });
    const [m] = await got;
    const content = readForwarded(m);
    expect(content?.payload.toString()).toBe('reading');
    const [first] = (await otel.waitFor('publish', 2)).filter(
      (s) => s.attributes['mqttkit.session.name'] === 'pub',
    );
    const [, traceId] = TRACEPARENT.exec(content?.metadata.traceparent ?? '') ?? [];
    expect(traceId).toBe(first.spanContext().traceId);
    // where the draft recommends it for JSON payloads: the outermost object
    expect(JSON.parse(m.payload.toString()).traceparent).toBe(content?.metadata.traceparent);
  });
});
