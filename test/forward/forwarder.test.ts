/**
 * Forwarders between two private mosquitto brokers: nothing lost while the
 * target broker restarts, no loop between opposite forwarders, and mapping,
 * filter, transform and metadata as seen by a subscriber on the target.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  FORWARDED_PROPERTY,
  type Forwarder,
  type ForwarderOptions,
  readForwarded,
} from '../../src/forward/index.js';
import { SessionManager } from '../../src/manager/index.js';
import { type Message, Session } from '../../src/session/index.js';
import { type Watcher, watch as watchFilter } from '../helpers/messages.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

const FAST = { initialDelay: 20, maxDelay: 200, jitter: 0 };

describe.skipIf(!hasMosquitto())('Forwarder between two brokers', () => {
  let a: Broker;
  let b: Broker;
  beforeAll(async () => {
    a = await startMosquitto({ config: 'max_queued_messages 100000' });
    b = await startMosquitto({ persistence: true, config: 'max_queued_messages 100000' });
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
  });

  /** A subscriber on `broker` that collects what arrives on `filter`. */
  /** A verifying session on `broker` (persistent when it has a `clientId`). */
  function watch(broker: Broker, filter: string, clientId?: string): Promise<Watcher> {
    const persistent = clientId === undefined ? {} : { clientId, clean: false, sessionExpiry: 300 };
    return watchFilter({ url: broker.url, reconnect: FAST, ...persistent }, filter);
  }

  it('start() while a start is in flight joins it; the manager lists its forwarders', async () => {
    const m = new SessionManager();
    try {
      m.add({ name: 'src', url: a.url, reconnect: FAST });
      m.add({ name: 'dst', url: b.url, reconnect: FAST });
      await m.connectAll();
      const f = m.forward({ name: 'join', from: 'src', topics: ['join/a', 'join/b'], to: 'dst' });
      expect(m.forwarders()).toEqual([f]);
      expect([f.sources, f.topics, f.target]).toEqual([['src'], ['join/a', 'join/b'], 'dst']);
      const first = f.start();
      const second = f.start();
      // the second caller is told the subscriptions are in place only when they are
      expect(second).toBe(first);
      await second;
      const verify = await watch(b, 'join/#');
      const pub = new Session({ url: a.url });
      await pub.connect();
      await pub.publish('join/a', 'x', { qos: 1 });
      await verify.until(1);
      expect(verify.got[0].topic).toBe('join/a');
      await pub.close();
      await verify.s.close();
    } finally {
      await m.close();
    }
    expect(m.forwarders()).toEqual([]);
  });

  it('loses nothing at QoS 1 while the target broker restarts', async () => {
    const m = new SessionManager();
    try {
      m.add({ name: 'src', url: a.url, reconnect: FAST });
      m.add({ name: 'dst', url: b.url, reconnect: FAST });
      await m.connectAll();
      const verify = await watch(b, 'kept/#', 'fwd-verifier');
      const f = m.forward({ name: 'a-to-b', from: 'src', topics: 'kept/#', to: 'dst', qos: 1 });
      await f.start();
      const pub = new Session({ url: a.url });
      await pub.connect();
      const n = 3000;
      const seen = new Set<string>();
      for (let i = 0; i < n; i++) {
        await pub.publish(`kept/${i % 7}`, `${i}`, { qos: 1 });
        if (i === 1000) await b.restart();
      }
      await expect
        .poll(
          () => {
            for (const msg of verify.got) seen.add(msg.payload.toString());
            return seen.size;
          },
          { timeout: 30_000, interval: 100 },
        )
        .toBe(n);
      expect(m.get('dst')?.metrics().reconnects).toBeGreaterThanOrEqual(1);
      await expect.poll(() => f.metrics().forwarded).toBeGreaterThanOrEqual(n);
      const metrics = f.metrics();
      expect(metrics.waiting).toBe(0);
      expect(metrics.latency.count).toBe(metrics.forwarded);
      await pub.close();
      await verify.s.close();
    } finally {
      await m.close();
    }
  }, 60_000);

  for (const version of [5, 4] as const)
    it(`does not loop between forwarders A to B and B to A on the same topics (MQTT ${version === 5 ? '5' : '3.1.1'})`, async () => {
      const m = new SessionManager();
      try {
        m.add({ name: 'A', url: a.url, protocolVersion: version });
        m.add({ name: 'B', url: b.url, protocolVersion: version });
        await m.connectAll();
        await m.forward({ name: 'ab', from: 'A', topics: 'loop/#', to: 'B' }).start();
        await m.forward({ name: 'ba', from: 'B', topics: 'loop/#', to: 'A' }).start();
        const onA = await watch(a, 'loop/#');
        const onB = await watch(b, 'loop/#');
        const pub = new Session({ url: a.url });
        await pub.connect();
        await pub.publish('loop/x', 'once', { qos: 1 });
        await pub.publish('loop/x', 'sentinel', { qos: 1 });
        await onB.until(2);
        await onA.until(2);
        // a loop would have brought 'once' back to A and to B again before the sentinel went round
        const text = (got: Message[]) => got.map((x) => x.payload.toString());
        const more = new Session({ url: b.url });
        await more.connect();
        await more.publish('loop/y', 'from-b', { qos: 1 });
        await onA.until(3);
        await onB.until(3);
        expect(text(onA.got)).toEqual(['once', 'sentinel', 'from-b']);
        expect(text(onB.got)).toEqual(['once', 'sentinel', 'from-b']);
        await Promise.all([pub.close(), more.close(), onA.s.close(), onB.s.close()]);
      } finally {
        await m.close();
      }
    });

  it('puts metadata in a JSON envelope for an MQTT 3.1.1 target that asks for it', async () => {
    const m = new SessionManager();
    try {
      m.add({ name: 'src', url: a.url });
      m.add({ name: 'old', url: b.url, protocolVersion: 4 });
      await m.connectAll();
      await m
        .forward({
          name: 'v4',
          from: 'src',
          topics: 'env/#',
          to: 'old',
          envelope: true,
          metadata: { site: 'x' },
        })
        .start();
      const verify = await watch(b, 'env/#');
      const pub = new Session({ url: a.url });
      await pub.connect();
      await pub.publish('env/1', Buffer.from([0, 1, 2]), { qos: 1 });
      await verify.until(1);
      expect(JSON.parse(verify.got[0].payload.toString())).toEqual({
        topic: 'env/1',
        metadata: { site: 'x' },
        payload: Buffer.from([0, 1, 2]).toString('base64'),
      });
      expect(readForwarded(verify.got[0])).toEqual({
        sourceTopic: 'env/1',
        metadata: { site: 'x' },
        payload: Buffer.from([0, 1, 2]),
      });
      await Promise.all([pub.close(), verify.s.close()]);
    } finally {
      await m.close();
    }
  });

  it('refuses to start with metadata toward an MQTT 3.1.1 target without the envelope', async () => {
    const m = new SessionManager();
    try {
      m.add({ name: 'src', url: a.url });
      m.add({ name: 'old', url: b.url, protocolVersion: 4 });
      await m.connectAll();
      const f = m.forward({ name: 'lossy', from: 'src', topics: 'x/#', to: 'old', metadata: { site: 'x' } });
      const err = (await f.start().catch((e: unknown) => e)) as InvalidArgumentError;
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toBe(
        "metadata: session 'old' uses MQTT 3.1.1, which has no user properties: set envelope: true to send it",
      );
    } finally {
      await m.close();
    }
  });

  it('retries a failing forward once a second with one timer, and forwards it once it works', async () => {
    const m = new SessionManager();
    try {
      m.add({ name: 'src', url: a.url });
      m.add({ name: 'dst', url: b.url });
      await m.connectAll();
      let broken = true;
      const f = m.forward({
        name: 'flaky',
        from: 'src',
        topics: 'flaky/#',
        to: 'dst',
        transform: (msg) => {
          if (broken) throw new Error('not yet');
          return msg;
        },
      });
      await f.start();
      const verify = await watch(b, 'flaky/#');
      const pub = new Session({ url: a.url });
      await pub.connect();
      for (let i = 0; i < 3; i++) await pub.publish('flaky/t', `${i}`, { qos: 1 });
      // the first fails; the others queue behind it (order is kept) without trying
      await expect.poll(() => f.metrics()).toMatchObject({ errors: 1, waiting: 3 });
      // one retry round a second for all three (one timer per forwarder), not one timer per failure
      await expect.poll(() => f.metrics().errors, { timeout: 3000 }).toBe(4);
      broken = false;
      await verify.until(3);
      expect(verify.got.map((x) => x.payload.toString())).toEqual(['0', '1', '2']);
      await expect.poll(() => f.metrics().forwarded).toBe(3); // the target's PUBACKs may trail
      expect(f.metrics()).toMatchObject({ errors: 4, waiting: 0 });
      await Promise.all([pub.close(), verify.s.close()]);
    } finally {
      await m.close();
    }
  });

  /**
   * Forwards `payloads`, published in turn on `<name>/t` of broker a, from a session on a to one on b
   * through a forwarder with `options`, and waits until `arrive` of them reached b. `during` runs once
   * they are all published.
   */
  async function forwardPayloads(
    name: string,
    options: Partial<ForwarderOptions>,
    payloads: string[],
    arrive: number,
    during?: (f: Forwarder) => Promise<void>,
  ) {
    const m = new SessionManager();
    try {
      m.add({ name: 'src', url: a.url });
      m.add({ name: 'dst', url: b.url });
      await m.connectAll();
      const errors: Error[] = [];
      const f = m.forward({ name, from: 'src', topics: `${name}/#`, to: 'dst', ...options });
      f.onError = (err) => errors.push(err);
      await f.start();
      const verify = await watch(b, `${name}/#`);
      const pub = new Session({ url: a.url });
      await pub.connect();
      for (const p of payloads) await pub.publish(`${name}/t`, p, { qos: 1 });
      await during?.(f);
      await verify.until(arrive);
      // the target's PUBACKs may trail what the subscriber got
      await expect.poll(() => f.metrics().forwarded).toBe(arrive);
      await Promise.all([pub.close(), verify.s.close()]);
      return { got: verify.got.map((x) => x.payload.toString()), metrics: f.metrics(), errors };
    } finally {
      await m.close();
    }
  }

  it('gives up at once a message the target refuses before sending it, and goes on', async () => {
    // a transform that makes a topic no broker takes: no retry can mend it
    const r = await forwardPayloads(
      'inv',
      { transform: (msg) => (msg.payload.toString() === 'bad' ? { ...msg, topic: 'inv/+' } : msg) },
      ['bad', 'ok1', 'ok2'],
      2,
    );
    expect(r.got).toEqual(['ok1', 'ok2']);
    expect(r.metrics).toMatchObject({ errors: 1, dropped: 1, waiting: 0 });
    expect(r.errors.map((e) => e.constructor.name)).toEqual(['InvalidArgumentError']);
  });

  it('gives up a message after maxAttempts failed tries, acknowledges it and forwards the next', async () => {
    const r = await forwardPayloads(
      'poison',
      {
        maxAttempts: 2,
        transform: (msg) => {
          if (msg.payload.toString() === 'poison') throw new Error('cannot transform');
          return msg;
        },
      },
      ['poison', 'ok1', 'ok2'],
      2,
      // the first try fails and the others wait behind it; the retry a second later is its last
      (f) => expect.poll(() => f.metrics()).toMatchObject({ errors: 1, waiting: 3 }),
    );
    expect(r.got).toEqual(['ok1', 'ok2']);
    expect(r.metrics).toMatchObject({ errors: 2, dropped: 1, waiting: 0 });
    expect(r.errors.map((e) => e.message)).toEqual(['cannot transform', 'cannot transform']);
  });

  it('bounds the QoS 0 messages waiting for an offline target, and counts what it drops', async () => {
    const m = new SessionManager();
    try {
      m.add({ name: 'src', url: a.url });
      m.add({ name: 'offline', url: b.url }); // never connected
      await m.get('src')?.connect();
      const f = m.forward({ name: 'q0', from: 'src', topics: 'q0/#', to: 'offline', qos: 0, maxWaiting: 5 });
      await f.start();
      const pub = new Session({ url: a.url });
      await pub.connect();
      for (let i = 0; i < 10; i++) await pub.publish('q0/t', `${i}`, { qos: 1 });
      await expect.poll(() => f.metrics().received).toBe(10);
      expect(f.metrics()).toMatchObject({ waiting: 5, dropped: 5, forwarded: 0 });
      await pub.close();
    } finally {
      await m.close();
    }
  });

  it('maps topics, filters, transforms and adds metadata', async () => {
    const m = new SessionManager();
    try {
      m.add({ name: 'src', url: a.url });
      m.add({ name: 'dst', url: b.url });
      await m.connectAll();
      const f = m.forward({
        name: 'shape',
        from: ['src'],
        topics: ['sensors/+/temperature'],
        to: 'dst',
        map: [['sensors/+/temperature', 'storage/{1}/temp']],
        filter: (msg) => msg.payload.toString() !== 'skip',
        transform: (msg) =>
          msg.payload.toString() === 'drop'
            ? null
            : { ...msg, payload: Buffer.from(msg.payload.toString().toUpperCase()) },
        metadata: (msg) => ({ site: 'plant-a', from: msg.source }),
      });
      await f.start();
      const verify = await watch(b, 'storage/#');
      const pub = new Session({ url: a.url });
      await pub.connect();
      for (const p of ['skip', 'drop', 'hot', 'cold'])
        await pub.publish('sensors/k1/temperature', p, { qos: 1 });
      await verify.until(2);
      expect(verify.got.map((x) => [x.topic, x.payload.toString()])).toEqual([
        ['storage/k1/temp', 'HOT'],
        ['storage/k1/temp', 'COLD'],
      ]);
      expect(verify.got[0].properties?.userProperties).toEqual([
        ['site', 'plant-a'],
        ['from', 'src'],
        [FORWARDED_PROPERTY, m.id],
      ]);
      expect(readForwarded(verify.got[0])).toMatchObject({
        metadata: { site: 'plant-a', from: 'src' },
        payload: Buffer.from('HOT'),
      });
      // the target's PUBACK may come after the subscriber got the message
      await expect.poll(() => f.metrics().forwarded).toBe(2);
      expect(f.metrics()).toMatchObject({ received: 4, filtered: 1, dropped: 1, errors: 0 });
      await Promise.all([pub.close(), verify.s.close()]);
    } finally {
      await m.close();
    }
  });

  it("takes user properties a transform gives in MQTT.js's shape, and gives up a message whose are not strings", async () => {
    const m = new SessionManager();
    try {
      m.add({ name: 'src', url: a.url });
      m.add({ name: 'dst', url: b.url });
      await m.connectAll();
      const errors: Error[] = [];
      const f = m.forward({
        name: 'shapes',
        from: 'src',
        topics: 'shapes/+',
        to: 'dst',
        // what a JavaScript caller used to MQTT.js writes; the type says pairs
        transform: (msg) => ({
          ...msg,
          properties: {
            userProperties: (msg.payload.toString() === 'bad' ? { n: 1 } : { tag: ['x', 'y'] }) as never,
          },
        }),
      });
      f.onError = (e) => errors.push(e);
      await f.start();
      const verify = await watch(b, 'shapes/#');
      const pub = new Session({ url: a.url });
      await pub.connect();
      for (const p of ['bad', 'good']) await pub.publish(`shapes/${p}`, p, { qos: 1 });
      await verify.until(1);
      expect(verify.got.map((x) => [x.topic, x.properties?.userProperties])).toEqual([
        [
          'shapes/good',
          [
            ['tag', 'x'],
            ['tag', 'y'],
            [FORWARDED_PROPERTY, m.id],
          ],
        ],
      ]);
      await expect.poll(() => f.metrics().forwarded).toBe(1);
      expect(f.metrics()).toMatchObject({ received: 2, dropped: 1, errors: 1 });
      expect(errors[0]).toBeInstanceOf(InvalidArgumentError);
      expect(errors[0].message).toMatch(/^transform\(\)\.properties\.userProperties\.n: must be a string/);
      await Promise.all([pub.close(), verify.s.close()]);
    } finally {
      await m.close();
    }
  });
});
