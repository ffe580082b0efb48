/**
 * Session against a private mosquitto, with MQTT.js on the other side, for
 * MQTT 5 and 3.1.1.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { userPropertiesObject } from '../../src/core/user-properties.js';
import { sessionContext } from '../../src/session/context.js';
import { type Message, Session, type SessionOptions } from '../../src/session/index.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { collect, collectUntil, received } from '../helpers/messages.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { startProxy } from '../helpers/proxy.js';

/** Cuts the session's connection as a dead network would: no DISCONNECT, the socket just closes. */
function cutConnection(s: Session): void {
  const t = sessionContext(s).connector.transport;
  if (t === undefined) throw new Error('the session has no connection to cut');
  t.destroy();
}

function session(broker: Broker, options: Partial<SessionOptions> = {}): Session {
  return closeAfter(new Session({ url: broker.url, ...options }));
}

async function peer(broker: Broker, version: 4 | 5, options: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const c = await mqtt.connectAsync(broker.url, { protocolVersion: version, reconnectPeriod: 0, ...options });
  onCleanup(() => c.endAsync());
  return c;
}

describe.skipIf(!hasMosquitto())('interop with MQTT.js through mosquitto', () => {
  let broker: Broker;
  beforeAll(async () => {
    // mosquitto 2.0.11 drops QoS 1 messages to a 3.1.1 subscriber whose
    // inflight window (max_inflight_messages, 20) is full instead of queueing
    // them (inflight quota fixes came in 2.0.13); no window avoids that bug.
    broker = await startMosquitto({ maxInflight: 0 });
  });
  afterAll(async () => {
    await broker.stop();
  });

  for (const version of [5, 4] as const) {
    describe(`MQTT ${version === 5 ? '5' : '3.1.1'}`, () => {
      it('publishes to MQTT.js at QoS 0, 1 and 2 in order, QoS 1 and 2 all, QoS 2 exactly once', async () => {
        const c = await peer(broker, version);
        await c.subscribeAsync('to-peer/#', { qos: 2 });
        const s = session(broker, { protocolVersion: version });
        await s.connect();
        const n = 300;
        const sends: Promise<unknown>[] = [];
        for (let i = 0; i < n; i++)
          sends.push(s.publish(`to-peer/q${i % 3}`, `m${i}`, { qos: (i % 3) as 0 | 1 | 2 }));
        // every QoS 1 and 2 message and an end marker; mosquitto may drop QoS 0 under load, as MQTT allows
        const count = (got: { topic: string }[], t: string) => got.filter((m) => m.topic === t).length;
        const done = collectUntil(
          c,
          (got) =>
            count(got, 'to-peer/q1') === n / 3 &&
            count(got, 'to-peer/q2') === n / 3 &&
            count(got, 'to-peer/end') === 1,
        );
        await Promise.all(sends);
        await s.publish('to-peer/end', '', { qos: 1 });
        const got = await done;
        for (const q of [0, 1, 2]) {
          const seq = got
            .filter((m) => m.topic === `to-peer/q${q}`)
            .map((m) => Number(m.payload.toString().slice(1)));
          expect(seq).toEqual([...seq].sort((a, b) => a - b));
          if (q > 0) expect(seq).toHaveLength(n / 3);
        }
        expect(got.filter((m) => m.topic === 'to-peer/q0').length).toBeGreaterThan(0);
      });

      it('receives from MQTT.js at QoS 0, 1 and 2 in order, QoS 2 exactly once', async () => {
        const s = session(broker, { protocolVersion: version });
        await s.connect();
        const byHandler: string[] = [];
        const sub = await s.subscribe('from-peer/#', { qos: 2 }, (m) => byHandler.push(m.payload.toString()));
        expect(sub.reasonCodes).toEqual([2]);
        const c = await peer(broker, version);
        const n = 300;
        const done = received(s, n);
        // one at a time: MQTT.js ignores the broker's Receive Maximum and gets 0x97 Quota exceeded
        for (let i = 0; i < n; i++) {
          await c.publishAsync(`from-peer/q${i % 3}`, `m${i}`, { qos: (i % 3) as 0 | 1 | 2 });
        }
        const got = await done;
        expect(byHandler).toHaveLength(n);
        for (const q of [0, 1, 2]) {
          const seq = got
            .filter((m) => m.topic === `from-peer/q${q}`)
            .map((m) => Number(m.payload.toString().slice(1)));
          expect(seq).toEqual([...seq].sort((a, b) => a - b));
          expect(new Set(seq).size).toBe(n / 3);
        }
      });

      it('sends and receives retained messages', async () => {
        const s = session(broker, { protocolVersion: version });
        await s.connect();
        await s.publish(`retained/v${version}`, 'kept', { qos: 1, retain: true });
        const c = await peer(broker, version);
        const got = collect(c, 1);
        await c.subscribeAsync(`retained/v${version}`, { qos: 1 });
        const [m] = await got;
        expect(m.payload.toString()).toBe('kept');
        expect(m.packet.retain).toBe(true);

        await c.publishAsync(`retained/peer-v${version}`, 'theirs', { qos: 1, retain: true });
        const s2 = session(broker, { protocolVersion: version });
        await s2.connect();
        const r = received(s2, 1);
        await s2.subscribe(`retained/peer-v${version}`, { qos: 1 });
        const [mine] = await r;
        expect(mine.retain).toBe(true);
        expect(mine.payload.toString()).toBe('theirs');
      });

      it('has its will published when the connection dies', async () => {
        const c = await peer(broker, version);
        await c.subscribeAsync(`will/v${version}`, { qos: 1 });
        const got = collect(c, 1);
        const s = new Session({
          url: broker.url,
          protocolVersion: version,
          keepalive: 1,
          will: { topic: `will/v${version}`, payload: 'gone', qos: 1 },
        });
        await s.connect();
        // a dead network: the socket closes without DISCONNECT
        cutConnection(s);
        const [m] = await got;
        expect(m.payload.toString()).toBe('gone');
        await s.close();
      });
    });
  }

  it('passes MQTT 5 properties through both ways', async () => {
    const c = await peer(broker, 5);
    await c.subscribeAsync('props/to-peer', { qos: 1 });
    const s = session(broker);
    await s.connect();
    const got = collect(c, 1);
    await s.publish('props/to-peer', '{}', {
      qos: 1,
      properties: {
        userProperties: [
          ['a', '1'],
          ['b', '2'],
        ],
        contentType: 'application/json',
        responseTopic: 'reply/here',
        correlationData: Buffer.from('c-1'),
        messageExpiryInterval: 60,
        payloadFormatIndicator: true,
      },
    });
    const [m] = await got;
    expect(m.packet.properties).toMatchObject({
      userProperties: { a: '1', b: '2' },
      contentType: 'application/json',
      responseTopic: 'reply/here',
      payloadFormatIndicator: true,
    });
    expect(m.packet.properties?.correlationData?.toString()).toBe('c-1');
    expect(m.packet.properties?.messageExpiryInterval).toBeGreaterThan(55);

    const r = received(s, 1);
    await s.subscribe('props/to-me', { qos: 1 });
    await c.publishAsync('props/to-me', 'x', {
      qos: 1,
      properties: {
        userProperties: { k: 'v' },
        contentType: 'text/plain',
        correlationData: Buffer.from('z'),
      },
    });
    const [mine] = await r;
    expect(mine.properties?.userProperties).toEqual([['k', 'v']]);
    expect(mine.properties?.contentType).toBe('text/plain');
    expect(mine.properties?.correlationData?.toString()).toBe('z');
  });

  it("takes MQTT.js's object-shaped user properties and delivers pairs, each way in order", async () => {
    const c = await peer(broker, 5);
    await c.subscribeAsync('shapes/to-peer', { qos: 1 });
    const s = session(broker);
    await s.connect();
    const got = collect(c, 1);
    await s.publish('shapes/to-peer', 'x', {
      qos: 1,
      properties: {
        userProperties: { site: 'north', tag: ['a', 'b', 'c'], line: '3' },
        contentType: 'text/plain',
      },
    });
    const [m] = await got;
    expect(m.packet.properties?.userProperties).toEqual({ site: 'north', tag: ['a', 'b', 'c'], line: '3' });
    expect(m.packet.properties?.contentType).toBe('text/plain');

    const r = received(s, 1);
    await s.subscribe('shapes/to-me', { qos: 1 });
    await c.publishAsync('shapes/to-me', 'y', {
      qos: 1,
      properties: { userProperties: { tag: ['z', 'y'], site: 'south', empty: '' } },
    });
    const [mine] = await r;
    // pairs in the order MQTT.js wrote them, the repeated name as separate pairs
    expect(mine.properties?.userProperties).toEqual([
      ['tag', 'z'],
      ['tag', 'y'],
      ['site', 'south'],
      ['empty', ''],
    ]);
    expect(userPropertiesObject(mine.properties?.userProperties)).toEqual({
      tag: ['z', 'y'],
      site: 'south',
      empty: '',
    });
  });

  it("sends a will whose user properties are given in MQTT.js's shape", async () => {
    const c = await peer(broker, 5);
    await c.subscribeAsync('shapes/will', { qos: 1 });
    const got = collect(c, 1);
    const s = new Session({
      url: broker.url,
      keepalive: 1,
      userProperties: { app: 'test' },
      will: {
        topic: 'shapes/will',
        payload: 'gone',
        qos: 1,
        properties: { userProperties: { why: ['lost', 'dead'] } },
      },
    });
    await s.connect();
    cutConnection(s);
    const [m] = await got;
    expect(m.payload.toString()).toBe('gone');
    expect(m.packet.properties?.userProperties).toEqual({ why: ['lost', 'dead'] });
    await s.close();
  });

  it('uses topic aliases towards mosquitto and MQTT.js still sees every topic', async () => {
    const c = await peer(broker, 5);
    await c.subscribeAsync('alias/#', { qos: 1 });
    const s = session(broker);
    const info = await s.connect();
    expect(info.properties?.topicAliasMaximum).toBeGreaterThan(0);
    const got = collect(c, 6);
    for (const t of ['alias/a', 'alias/b', 'alias/a', 'alias/b', 'alias/a', 'alias/c']) {
      await s.publish(t, t, { qos: 1 });
    }
    const topics = (await got).map((m) => m.topic);
    expect(topics).toEqual(['alias/a', 'alias/b', 'alias/a', 'alias/b', 'alias/a', 'alias/c']);
    expect((await got).every((m) => m.payload.toString() === m.topic)).toBe(true);
  });

  it('sends small and large payloads interleaved (large ones uncopied) and MQTT.js reads each intact', async () => {
    const c = await peer(broker, 5);
    await c.subscribeAsync('sizes/#', { qos: 1 });
    const s = session(broker);
    await s.connect();
    const sizes = [10, 1023, 1024, 1025, 4096, 65_536, 300_000, 0, 2000];
    const payloads = sizes.map((n, i) => Buffer.alloc(n, i + 1));
    const got = collect(c, sizes.length * 2);
    // one turn: the packets of QoS 0 and QoS 1 leave together, heads and payloads in one writev
    await Promise.all(
      payloads.flatMap((p, i) => [
        s.publish(`sizes/${i % 2}`, p, { qos: 0 }),
        s.publish(`sizes/${i % 2}`, p, { qos: 1 }),
      ]),
    );
    const msgs = await got;
    // in order within each QoS (the broker may let QoS 0 pass QoS 1 held back by its in-flight window)
    for (const qos of [0, 1]) {
      const mine = msgs.filter((m) => m.packet.qos === qos);
      expect(mine.map((m) => [m.topic, m.payload.length])).toEqual(
        sizes.map((n, i) => [`sizes/${i % 2}`, n]),
      );
      expect(mine.every((m, i) => m.payload.equals(payloads[i]))).toBe(true);
    }
  });

  it('resolves 100,000 QoS 1 publishes started at once, each delivered once', async () => {
    const c = await peer(broker, 5);
    await c.subscribeAsync('many/t', { qos: 1 });
    const seen = new Set<string>();
    let dup = 0;
    const n = 100_000;
    const all = new Promise<void>((resolve) => {
      c.on('message', (_t, payload) => {
        const k = payload.toString();
        if (seen.has(k)) dup++;
        seen.add(k);
        if (seen.size === n) resolve();
      });
    });
    const s = session(broker);
    await s.connect();
    const results = await Promise.all(
      Array.from({ length: n }, (_, i) => s.publish('many/t', `${i}`, { qos: 1 })),
    );
    expect(results).toHaveLength(n);
    await all;
    expect(dup).toBe(0);
    expect(s.inflight).toBe(0);
  }, 60_000);

  it('gets a message it did not acknowledge (manualAck) again after a lost connection', async () => {
    const proxy = await startProxy({ port: broker.port });
    closeAfter(proxy);
    const s = new Session({
      url: proxy.url,
      clientId: 'manual-ack-1',
      clean: false,
      sessionExpiry: 60,
      reconnect: { initialDelay: 20, maxDelay: 100, jitter: 0 },
    });
    onCleanup(() => s.close());
    await s.connect();
    const got: Message[] = [];
    let arrived: () => void = () => {};
    await s.subscribe('ma/t', { qos: 1, manualAck: true }, (m) => {
      got.push(m);
      arrived();
    });
    const next = () =>
      new Promise<void>((resolve) => {
        arrived = resolve;
      });
    const c = await peer(broker, 5);
    let first = next();
    await c.publishAsync('ma/t', 'kept', { qos: 1 });
    await first;
    // not acknowledged: the broker keeps it and sends it again on the next connection
    first = next();
    proxy.cut();
    await first;
    expect(got.map((m) => [m.payload.toString(), m.dup])).toEqual([
      ['kept', false],
      ['kept', true],
    ]);
    got[1].ack?.();
    // acknowledged now: after another cut it does not come back
    await s.publish('ma/probe', 'x', { qos: 1 });
    const reconnected = new Promise((resolve) => s.once('ready', resolve));
    proxy.cut();
    await reconnected;
    const second = next();
    await c.publishAsync('ma/t', 'after', { qos: 1 });
    await second;
    expect(got.map((m) => m.payload.toString())).toEqual(['kept', 'kept', 'after']);
  });

  it('measures publish-to-ack latency and the keepalive round trip', async () => {
    const s = session(broker, { keepalive: 1 });
    await s.connect();
    expect(s.metrics().roundTrip).toBeUndefined();
    await Promise.all(Array.from({ length: 50 }, () => s.publish('lat/t', 'x', { qos: 1 })));
    await s.publish('lat/t', 'x', { qos: 2 });
    await s.publish('lat/t', 'x', { qos: 0 });
    const m = s.metrics().publishLatency;
    expect(m.count).toBe(51);
    expect(m.counts.reduce((a, b) => a + b, 0)).toBe(51);
    expect(m.counts).toHaveLength(m.bounds.length + 1);
    expect(m.sum).toBeGreaterThan(0);
    // the first PINGREQ goes out after a second of silence
    await expect
      .poll(() => s.metrics().roundTrip, { timeout: 5000, interval: 100 })
      .toBeGreaterThanOrEqual(0);
  });
});

describe.skipIf(!hasMosquitto())('broker limits', () => {
  it("respects mosquitto's max_inflight_messages as Receive Maximum", async () => {
    const broker = await startMosquitto({ maxInflight: 5 });
    try {
      const s = new Session({ url: broker.url });
      await s.connect();
      expect(s.serverLimits.receiveMaximum).toBe(5);
      let max = 0;
      const sends = Array.from({ length: 200 }, (_, i) => {
        const p = s.publish('limit/t', `${i}`, { qos: 1 });
        max = Math.max(max, s.inflight);
        return p.then(() => {
          max = Math.max(max, s.inflight);
        });
      });
      await Promise.all(sends);
      expect(max).toBeLessThanOrEqual(5);
      expect(max).toBe(5);
      await s.close();
    } finally {
      await broker.stop();
    }
  });

  it('MQTT 3.1.1: 1,000 QoS 1 and 1,000 QoS 2 publishes at once through a default mosquitto arrive exactly once', async () => {
    // mosquitto holds 20 QoS 2 messages awaiting PUBREL from a 3.1.1 client and answers the rest
    // with PUBREC while dropping them; 3.1.1 has no Receive Maximum to say so, so the window is ours.
    // QoS 1 messages are done at PUBACK: mosquitto holds none and takes them all at once.
    const broker = await startMosquitto();
    try {
      const sub = session(broker, { protocolVersion: 4 });
      await sub.connect();
      const counts = new Map<string, number>();
      sub.on('message', (m) => {
        if (m.topic !== 'window/t') return;
        const k = Buffer.from(m.payload).toString();
        counts.set(k, (counts.get(k) ?? 0) + 1);
      });
      await sub.subscribe(['window/t', 'window/end'], { qos: 2 });
      const pub = session(broker, { protocolVersion: 4 });
      await pub.connect();
      const most: number[] = [];
      for (const qos of [1, 2] as const) {
        const sends = Array.from({ length: 1000 }, (_, i) => pub.publish('window/t', `${qos}:${i}`, { qos }));
        most.push(pub.inflight);
        await Promise.all(sends);
      }
      // one more message behind them, delivered in order: everything before it has arrived (or was dropped)
      const last = new Promise<void>((resolve) =>
        sub.on('message', (m) => m.topic === 'window/end' && resolve()),
      );
      await pub.publish('window/end', 'x', { qos: 2 });
      await last;
      expect(most).toEqual([1000, 20]);
      expect(counts.size).toBe(2000);
      expect([...counts.values()].every((n) => n === 1)).toBe(true);
    } finally {
      await broker.stop();
    }
  });

  it('refuses a publish larger than the maximum packet size, before sending it', async () => {
    const broker = await startMosquitto({ maxPacketSize: 1000 });
    try {
      const s = new Session({ url: broker.url });
      await s.connect();
      expect(s.serverLimits.maximumPacketSize).toBe(1000);
      const err = await s.publish('big/t', Buffer.alloc(2000), { qos: 1 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).reasonCode).toBe(0x95);
      expect((err as Error).message).toMatch(/maximum packet size is 1000/);
      // the session is still usable
      await s.publish('big/t', Buffer.alloc(100), { qos: 1 });
      expect(s.state).toBe('connected');
      await s.close();
    } finally {
      await broker.stop();
    }
  });
});
