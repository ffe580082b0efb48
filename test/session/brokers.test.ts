/**
 * The broker matrix: the same interop checks, with mqttkit `Session` on one
 * side and MQTT.js where a second client is needed, against every broker the
 * machines have: mosquitto 2.0 (MQTT 5 and 3.1.1), aedes (3.1.1, in
 * process), NATS 2.9's MQTT (a private nats-server) and RabbitMQ 3.10's MQTT
 * plugin (the machine's node, set up by `.ci/run`). The README's broker
 * matrix states what these tests show.
 *
 * A broker's known limits are asserted as what it does, not skipped: a QoS 2
 * subscription granted QoS 1 and a QoS 2 PUBLISH answered with PUBACK
 * (RabbitMQ) or a closed connection (NATS), `$share/g/t` taken as a plain
 * topic filter (aedes, NATS, RabbitMQ), no retained messages for a wildcard
 * filter (RabbitMQ), an MQTT 5 CONNECT refused (all but mosquitto). The
 * brokers and what each does are in `brokers.ts`. The block `known limits` at the end holds what mqttkit does
 * about the missing QoS 2 and MQTT 5 (`maximumQoS`, `maxDeliveryAttempts`,
 * completion by PUBACK, `protocolVersion: 'auto'`).
 *
 * One broker process per describe; every test names its client ids and topics
 * with `unique()` (RabbitMQ is shared by every run on the machine), and ends
 * the persistent sessions and retained messages it made.
 */
import { describe, expect, it } from 'vitest';
import {
  ConnectionError,
  DroppedError,
  type Message,
  RejectedError,
  RpcClient,
  RpcServer,
  Session,
  type SessionOptions,
} from '../../src/index.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { collect, received } from '../helpers/messages.js';
import { CASES, nth, publishes, rig, text } from './brokers.js';

describe.each(CASES.filter((c) => c.available()))('$name', (b) => {
  const { t, session, connected, peer, proxied } = rig(b);

  /** A persistent session for `clientId` (clean: false; MQTT 5 keeps it for a minute). */
  function persistent(clientId: string): Partial<SessionOptions> {
    return { clientId, clean: false, ...(b.version === 5 && { sessionExpiry: 60 }) };
  }

  /** Ends the broker's session for `clientId`: connects with a clean start and leaves. */
  async function forget(clientId: string): Promise<void> {
    const s = new Session({ url: t.url, protocolVersion: b.version, clientId, reconnect: false });
    await s.connect();
    await s.close();
  }

  const levels = b.maximumQoS === 2 ? ([0, 1, 2] as const) : ([0, 1] as const);

  it(`publishes and receives at QoS ${levels.join(', ')}, both ways`, async () => {
    const p = t.unique('qos');
    const c = await peer();
    await c.subscribeAsync(`${p}/to-peer/+`, { qos: b.maximumQoS });
    const s = await connected();
    const toPeer = collect(c, levels.length);
    for (const qos of levels) await s.publish(`${p}/to-peer/${qos}`, `m${qos}`, { qos });
    const peerGot = (await toPeer).sort((x, y) => x.topic.localeCompare(y.topic));
    expect(peerGot.map((m) => [text(m), m.packet.qos])).toEqual(
      levels.map((q) => [`${p}/to-peer/${q}=m${q}`, q]),
    );

    const sub = await s.subscribe(`${p}/from-peer/+`, { qos: b.maximumQoS });
    expect(sub.reasonCodes).toEqual([b.maximumQoS]);
    const fromPeer = received(s, levels.length);
    for (const qos of levels) await c.publishAsync(`${p}/from-peer/${qos}`, `m${qos}`, { qos });
    const got = (await fromPeer).sort((x, y) => x.topic.localeCompare(y.topic));
    expect(got.map((m) => [text(m), m.qos])).toEqual(levels.map((q) => [`${p}/from-peer/${q}=m${q}`, q]));
  });

  it(`grants a QoS 2 subscription at QoS ${b.maximumQoS}`, async () => {
    const p = t.unique('grant');
    const s = await connected();
    const got: Message[] = [];
    const sub = await s.subscribe(`${p}/t`, { qos: 2 }, (m) => got.push(m));
    expect(sub.reasonCodes).toEqual([b.maximumQoS]);
    const c = await peer();
    const arrived = received(s, 1);
    await c.publishAsync(`${p}/t`, 'x', { qos: 1 });
    await arrived;
    expect(got.map((m) => [text(m), m.qos])).toEqual([[`${p}/t=x`, 1]]);
  });

  it(`keeps retained messages${b.retainedForWildcards ? '' : ', and sends none to a wildcard filter'}`, async () => {
    const p = t.unique('retained');
    const s = await connected();
    await s.publish(`${p}/mine`, 'kept', { qos: 1, retain: true });
    const c = await peer();
    await c.publishAsync(`${p}/theirs`, 'also kept', { qos: 1, retain: true });
    const both = [`${p}/mine=kept`, `${p}/theirs=also kept`];

    /** What a new subscription to `filters` gets before a live message published after its SUBACK. */
    const replayed = async (filters: string[]): Promise<string[]> => {
      const late = await connected();
      const got: string[] = [];
      const marker = new Promise<void>((resolve) => {
        late.on('message', (m) => {
          if (m.topic === `${p}-marker`) resolve();
          else got.push(m.retain ? text(m) : `${text(m)} (retain flag not set)`);
        });
      });
      await late.subscribe([...filters, `${p}-marker`], { qos: 1 });
      await c.publishAsync(`${p}-marker`, '', { qos: 1 });
      await marker;
      await late.close();
      return got.sort();
    };
    expect(await replayed([`${p}/mine`, `${p}/theirs`])).toEqual(both);
    expect(await replayed([`${p}/+`])).toEqual(b.retainedForWildcards ? both : []);

    // an empty retained message clears it (RabbitMQ keeps retained messages across runs)
    await s.publish(`${p}/mine`, '', { qos: 1, retain: true });
    await c.publishAsync(`${p}/theirs`, '', { qos: 1, retain: true });
    expect(await replayed([`${p}/mine`, `${p}/theirs`])).toEqual([]);
  });

  it('has its will published when the connection dies without DISCONNECT', async () => {
    const p = t.unique('will');
    const c = await peer();
    await c.subscribeAsync(`${p}/status`, { qos: 1 });
    const will = collect(c, 1);
    const proxy = await proxied();
    const s = session({ url: proxy.url, will: { topic: `${p}/status`, payload: 'gone', qos: 1 } });
    await s.connect();
    const lost = nth(s, 'disconnect');
    proxy.cut();
    await lost;
    const [m] = await will;
    expect([text(m), m.packet.qos]).toEqual([`${p}/status=gone`, 1]);
  });

  it('resumes a persistent session: messages published while it was away arrive after the reconnect', async () => {
    const p = t.unique('resume');
    const id = t.unique('persistent');
    const first = await connected(persistent(id));
    await first.subscribe(`${p}/+`, { qos: 1 });
    await first.close();

    const c = await peer();
    for (let i = 0; i < 3; i++) await c.publishAsync(`${p}/m`, `offline-${i}`, { qos: 1 });

    const again = session(persistent(id));
    const got = received(again, 3);
    const connack = await again.connect();
    expect(connack.sessionPresent).toBe(true);
    expect((await got).map((m) => [text(m), m.qos])).toEqual([
      [`${p}/m=offline-0`, 1],
      [`${p}/m=offline-1`, 1],
      [`${p}/m=offline-2`, 1],
    ]);
    await again.close();
    await forget(id);
  });

  it('matches + and # wildcards', async () => {
    const p = t.unique('wild');
    const s = await connected();
    const plus: string[] = [];
    const hash: string[] = [];
    await s.subscribe(`${p}/+/temp`, { qos: 1 }, (m) => plus.push(m.topic.slice(p.length + 1)));
    await s.subscribe(`${p}/b/#`, { qos: 1 }, (m) => hash.push(m.topic.slice(p.length + 1)));
    const c = await peer();
    const topics = ['a/temp', 'a/hum', 'a/temp/x', 'b', 'b/x', 'b/x/y', 'c/b/x', 'z/temp'];
    // '#' also matches the parent level: b/# matches b (MQTT 4.7.1.2)
    const expected = { plus: ['a/temp', 'z/temp'], hash: ['b', 'b/x', 'b/x/y'] };
    const all = received(s, expected.plus.length + expected.hash.length);
    for (const topic of topics) await c.publishAsync(`${p}/${topic}`, 'x', { qos: 1 });
    await all;
    expect({ plus: plus.sort(), hash: hash.sort() }).toEqual(expected);
  });

  it('stops delivering a filter once it is unsubscribed', async () => {
    const p = t.unique('unsub');
    const s = await connected();
    const dropped: string[] = [];
    const sub = await s.subscribe(`${p}/dropped`, { qos: 1 }, (m) => dropped.push(text(m)));
    const kept: string[] = [];
    await s.subscribe(`${p}/kept`, { qos: 1 }, (m) => kept.push(text(m)));
    const c = await peer();
    const first = received(s, 1);
    await c.publishAsync(`${p}/dropped`, 'before', { qos: 1 });
    await first;
    await sub.unsubscribe();
    const marker = received(s, 1);
    await c.publishAsync(`${p}/dropped`, 'after', { qos: 1 });
    await c.publishAsync(`${p}/kept`, 'marker', { qos: 1 });
    await marker;
    expect(dropped).toEqual([`${p}/dropped=before`]);
    expect(kept).toEqual([`${p}/kept=marker`]);
  });

  it(`treats $share/{group}/{filter} as ${b.share === 'shared' ? 'a shared subscription' : 'a plain topic filter'}`, async () => {
    const p = t.unique('share');
    const members = [await connected(), await connected()];
    const got: string[][] = [[], []];
    members.forEach((s, i) => {
      s.on('message', (m) => got[i].push(text(m)));
    });
    for (const s of members) {
      const sub = await s.subscribe(`$share/g/${p}/t`, { qos: 1 });
      expect(sub.reasonCodes).toEqual([1]);
    }
    const c = await peer();
    if (b.share === 'shared') {
      const four = new Promise<void>((resolve) => {
        for (const s of members) s.on('message', () => got[0].length + got[1].length === 4 && resolve());
      });
      for (let i = 0; i < 4; i++) await c.publishAsync(`${p}/t`, `m${i}`, { qos: 1 });
      await four;
      // each message to one member only, and both members get some
      expect([...got[0], ...got[1]].sort()).toEqual([0, 1, 2, 3].map((i) => `${p}/t=m${i}`));
      expect(got.map((g) => g.length > 0)).toEqual([true, true]);
    } else {
      // a publish to the filter's topic reaches no member; one to the literal '$share/...' topic reaches both
      const both = Promise.all([received(members[0], 1), received(members[1], 1)]);
      await c.publishAsync(`${p}/t`, 'to the topic', { qos: 1 });
      await c.publishAsync(`$share/g/${p}/t`, 'to $share', { qos: 1 });
      await both;
      expect(got).toEqual([[`$share/g/${p}/t=to $share`], [`$share/g/${p}/t=to $share`]]);
    }
  });

  it(`answers RPC requests (${b.version === 5 ? 'MQTT 5 properties' : "mqttkit's 3.1.1 envelope"})`, async () => {
    const p = t.unique('rpc');
    const server = new RpcServer(await connected());
    onCleanup(() => server.stop());
    await server.route(`${p}/devices/:id/get`, (req) => ({ id: req.params.id, body: req.text() }));
    await server.start();
    const client = closeAfter(new RpcClient(await connected(), { timeout: 5_000 }));
    const res = await client.request(`${p}/devices/7/get`, 'hello');
    expect(res.json()).toEqual({ id: '7', body: 'hello' });
    expect(res.properties?.contentType).toBe('application/json');
  });

  it('reconnects after the connection is cut, restores its subscription and delivers both ways', async () => {
    const p = t.unique('reconnect');
    const proxy = await proxied();
    const s = session({ url: proxy.url, reconnect: { initialDelay: 20, maxDelay: 100, jitter: 0 } });
    await s.connect();
    const got: string[] = [];
    await s.subscribe(`${p}/in`, { qos: 1 }, (m) => got.push(text(m)));
    const c = await peer();
    await c.subscribeAsync(`${p}/out`, { qos: 1 });
    const out = collect(c, 1);

    const back = nth(s, 'ready');
    proxy.cut();
    await nth(s, 'disconnect');
    const queued = s.publish(`${p}/out`, 'sent while offline', { qos: 1 });
    await back;
    await queued;
    expect(text((await out)[0])).toBe(`${p}/out=sent while offline`);
    expect(s.metrics().reconnects).toBe(1);

    const arrived = received(s, 1);
    await c.publishAsync(`${p}/in`, 'after the reconnect', { qos: 1 });
    await arrived;
    expect(got).toEqual([`${p}/in=after the reconnect`]);
  });

  if (b.qos2Publish !== undefined) {
    const what = b.qos2Publish === 'puback' ? 'answers it with PUBACK' : 'closes the connection';
    it(`gets a QoS 2 PUBLISH from MQTT.js and ${what}`, async () => {
      const p = t.unique('qos2');
      const proxy = await proxied();
      const c = await peer({}, proxy.url);
      if (b.qos2Publish === 'puback') {
        await c.publishAsync(`${p}/t`, 'two', { qos: 2 });
      } else {
        const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
        c.publish(`${p}/t`, 'two', { qos: 2 }, () => {});
        await closed;
      }
      expect(publishes(proxy.sent.get(1))).toEqual([`${p}/t@2`]);
      const answers = (proxy.got.get(1) ?? []).map((packet) => packet.type);
      expect(answers).toEqual(b.qos2Publish === 'puback' ? ['connack', 'puback'] : ['connack']);
    });
  }

  if (b.refusesMqtt5 !== undefined) {
    it(`refuses MQTT 5 (${b.refusesMqtt5 === 'close' ? 'closes the socket' : 'CONNACK 0x01'}): connect() rejects with ConnectionError`, async () => {
      const s = closeAfter(
        new Session({ url: t.url, protocolVersion: 5, reconnect: false, clientId: t.unique('v5') }),
      );
      const err = await s.connect().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConnectionError);
      expect((err as ConnectionError).reasonCode).toBe(b.refusesMqtt5 === 'connack' ? 0x84 : undefined);
    });
  }
});

/**
 * What mqttkit does about a broker's missing QoS 2 and MQTT 5: the
 * `maximumQoS` option, a QoS 2 publish completed by the broker's PUBACK, the
 * poison-message guard (`maxDeliveryAttempts`), `protocolVersion: 'auto'`.
 */
const LIMITED = CASES.filter((c) => c.available() && (c.version === 5 || c.refusesMqtt5 !== undefined));

describe('known limits', () => {
  describe.each(LIMITED)('$name', (b) => {
    const { t, session, connected, peer, proxied } = rig(b);
    const expected = b.refusesMqtt5 === undefined ? 5 : 4;

    it(`connects with protocolVersion 'auto' and speaks MQTT ${expected === 5 ? '5' : '3.1.1'}`, async () => {
      const p = t.unique('auto');
      const s = await connected({ protocolVersion: 'auto' });
      expect(s.protocolVersion).toBe(expected);
      const c = await peer();
      await c.subscribeAsync(`${p}/t`, { qos: 1 });
      const got = collect(c, 1);
      await s.publish(`${p}/t`, 'x', { qos: 1 });
      expect(text((await got)[0])).toBe(`${p}/t=x`);
    });

    if (b.qos2Publish === undefined) return;

    it('with maximumQoS: 1, refuses a QoS 2 publish with RejectedError 0x9b before anything is sent', async () => {
      const p = t.unique('maxqos');
      const proxy = await proxied();
      const s = await connected({ url: proxy.url, maximumQoS: 1 });
      const err = await s.publish(`${p}/t`, 'two', { qos: 2, timeout: 5_000 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RejectedError);
      expect((err as RejectedError).reasonCode).toBe(0x9b);
      await s.publish(`${p}/t`, 'one', { qos: 1, timeout: 5_000 });
      expect(s.state).toBe('connected');
      expect([...proxy.sent.keys()]).toEqual([1]);
      expect(publishes(proxy.sent.get(1))).toEqual([`${p}/t@1`]);
    });

    if (b.qos2Publish === 'puback') {
      it("completes a QoS 2 publish answered with PUBACK, once, at QoS 1, and takes 1 as the broker's maximum", async () => {
        const p = t.unique('puback');
        const c = await peer();
        await c.subscribeAsync(`${p}/+`, { qos: 1 });
        const got = collect(c, 2);
        const s = await connected();
        const disconnects: unknown[] = [];
        s.on('disconnect', (e) => disconnects.push(e));
        await s.publish(`${p}/t`, 'two', { qos: 2, timeout: 5_000 });
        expect(s.serverLimits.maximumQoS).toBe(1);
        await s.publish(`${p}/end`, 'end', { qos: 1, timeout: 5_000 });
        expect((await got).map((m) => [text(m), m.packet.qos])).toEqual([
          [`${p}/t=two`, 1],
          [`${p}/end=end`, 1],
        ]);
        expect(disconnects).toEqual([]);
      });
    } else {
      it('fails a QoS 2 publish the broker closes the connection for with DroppedError after maxDeliveryAttempts connections', async () => {
        const p = t.unique('attempts');
        const proxy = await proxied();
        const s = session({
          url: proxy.url,
          reconnect: { initialDelay: 20, maxDelay: 50, jitter: 0 },
          maxDeliveryAttempts: 2,
        });
        await s.connect();
        const err = await s.publish(`${p}/t`, 'two', { qos: 2, timeout: 10_000 }).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(DroppedError);
        expect((err as DroppedError).reason).toBe('attempts');
        // sent on two connections, then dropped: the session goes on without it
        const withIt = [...proxy.sent.values()].filter((packets) => publishes(packets).includes(`${p}/t@2`));
        expect(withIt).toHaveLength(2);
        const c = await peer();
        await c.subscribeAsync(`${p}/after`, { qos: 1 });
        const got = collect(c, 1);
        await s.publish(`${p}/after`, 'next', { qos: 1, timeout: 5_000 });
        expect(text((await got)[0])).toBe(`${p}/after=next`);
      });
    }
  });
});
