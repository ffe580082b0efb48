/**
 * Sessions that survive: reconnect with backoff and URL rotation,
 * credentials per attempt, subscriptions restored, in-flight replay, the
 * offline queue and its bounds, and resuming from a store. Driven by the
 * fake broker, which can drop connections and answer as a broker with or
 * without a session would.
 */
import { describe, expect, it } from 'vitest';
import type { PublishPacket, SubscribePacket } from '../../src/codec/index.js';
import { ClosedError, DroppedError, StoreError } from '../../src/core/errors.js';
import { type Message, Session, type SessionOptions } from '../../src/session/index.js';
import { MemoryStore } from '../../src/store/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { type FakeBroker, startFakeBroker } from '../helpers/fake-broker.js';
import { outcome } from '../helpers/outcome.js';
import { accept, connectedToFake, FAST, fake, once, publishPacket, session } from './fake-session.js';

describe('reconnect', () => {
  it('reconnects after the connection drops, with events and a count', async () => {
    const b = await fake();
    const s = session({ url: b.url, reconnect: FAST });
    const c = s.connect();
    const first = await accept(b);
    await c;
    const offline = once(s, 'offline');
    const reconnecting = once<[number, number]>(s, 'reconnecting');
    const back = once(s, 'connect');
    first.destroy();
    await offline;
    expect(await reconnecting).toEqual([1, 10]);
    expect(s.state).toBe('reconnecting');
    await accept(b);
    await back;
    expect(s.state).toBe('connected');
    expect(s.metrics().reconnects).toBe(1);
  });

  it('backs off by the factor up to the maximum delay', async () => {
    const b = await fake();
    const s = session({ url: b.url, reconnect: FAST });
    const c = s.connect();
    (await accept(b)).destroy();
    await c.catch(() => undefined);
    const delays: number[] = [];
    const fourth = new Promise<void>((resolve) => {
      s.on('reconnecting', (attempt, delay) => {
        delays.push(delay);
        if (attempt === 4) resolve();
      });
    });
    // refuse three attempts: close each connection on its CONNECT
    for (let i = 0; i < 3; i++) (await b.nextConnection()).destroy();
    await fourth;
    expect(delays).toEqual([10, 20, 40, 40]);
  });

  it('jitters each delay within the bound', async () => {
    const b = await fake();
    const s = session({ url: b.url, reconnect: { initialDelay: 1000, jitter: 0.5 } });
    const c = s.connect();
    const conn = await accept(b);
    await c;
    const r = once<[number, number]>(s, 'reconnecting');
    conn.destroy();
    const [, delay] = await r;
    expect(delay).toBeGreaterThanOrEqual(500);
    expect(delay).toBeLessThanOrEqual(1500);
  });

  it('rotates to the next URL when a connection attempt fails', async () => {
    const dead = await startFakeBroker();
    const deadUrl = dead.url;
    await dead.close();
    const b = await fake();
    const s = session({ url: [deadUrl, b.url], reconnect: FAST });
    const c = s.connect();
    await accept(b);
    await c;
    expect(s.state).toBe('connected');
  });

  it('asks the credentials hook before every attempt', async () => {
    const b = await fake();
    let n = 0;
    const s = session({
      url: b.url,
      reconnect: FAST,
      credentials: async () => ({ username: 'dev', password: `token-${++n}` }),
    });
    const c = s.connect();
    const first = await b.nextConnection();
    const p1 = await first.nextPacket('connect');
    first.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    await c;
    first.destroy();
    const second = await b.nextConnection();
    const p2 = await second.nextPacket('connect');
    expect([p1, p2].map((p) => Buffer.from((p as { password: Uint8Array }).password).toString())).toEqual([
      'token-1',
      'token-2',
    ]);
  });

  it("takes username and password from each URL's userinfo when none is given, never showing them", async () => {
    const b = await fake();
    const other = await fake();
    const at = (broker: FakeBroker, userinfo: string) => broker.url.replace('mqtt://', `mqtt://${userinfo}@`);
    // the first URL refuses: the second attempt uses the second URL's userinfo
    const s = session({
      url: [at(b, 'ann:s%40cret'), at(other, 'bob:pw2')],
      reconnect: FAST,
    });
    expect(s.url).not.toContain('s%40cret');
    const c = s.connect();
    const first = await b.nextConnection();
    const p1 = (await first.nextPacket('connect')) as { username?: string; password?: Uint8Array };
    first.destroy();
    const second = await other.nextConnection();
    const p2 = (await second.nextPacket('connect')) as { username?: string; password?: Uint8Array };
    second.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    await c;
    expect([p1, p2].map((p) => [p.username, Buffer.from(p.password ?? []).toString()])).toEqual([
      ['ann', 's@cret'],
      ['bob', 'pw2'],
    ]);

    // given options win over the URL
    const t = session({ url: at(b, 'ann:s%40cret'), username: 'given', reconnect: false });
    const c2 = t.connect();
    const conn = await b.nextConnection();
    const p3 = (await conn.nextPacket('connect')) as { username?: string; password?: Uint8Array };
    conn.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    await c2;
    expect([p3.username, p3.password]).toEqual(['given', undefined]);

    // not valid percent-encoding: taken as written, never a crash
    const raw = session({ url: at(b, 'a%ZZ:p%'), reconnect: false });
    const c3 = raw.connect();
    const conn3 = await b.nextConnection();
    const p4 = (await conn3.nextPacket('connect')) as { username?: string; password?: Uint8Array };
    conn3.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    await c3;
    expect([p4.username, Buffer.from(p4.password ?? []).toString()]).toEqual(['a%ZZ', 'p%']);

    // MQTT 3.1.1 has no password without a username: refused up front, the URL not echoed
    expect(() => new Session({ url: at(b, ':only-pw'), protocolVersion: 4 })).toThrow(
      'url: has a password without a username, which MQTT 3.1.1 does not allow',
    );
    // checked for every URL, also after one with a username
    expect(() => new Session({ url: [at(b, 'ann:pw'), at(other, ':only-pw')], protocolVersion: 4 })).toThrow(
      'url[1]: has a password without a username, which MQTT 3.1.1 does not allow',
    );
  });

  it('resolves close() at once while reconnecting, and rejects what waits', async () => {
    const b = await fake();
    const s = session({ url: b.url, reconnect: { initialDelay: 60_000, jitter: 0 } });
    const c = s.connect();
    const conn = await accept(b);
    await c;
    const r = once(s, 'reconnecting');
    conn.destroy();
    await r;
    const queued = s.publish('q', 'x', { qos: 1 });
    // within a few turns of the event loop: no wait for the reconnect delay or the close timeout
    expect(await outcome(() => s.close())).toBe('resolved');
    expect(s.state).toBe('closed');
    await expect(queued).rejects.toBeInstanceOf(ClosedError);
    await expect(s.connect()).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('after a reconnect', () => {
  it('restores every subscription when the broker has no session, with its options and handler', async () => {
    const b = await fake();
    const s = session({ url: b.url, reconnect: FAST });
    const c = s.connect();
    const first = await accept(b);
    await c;
    const got: string[] = [];
    await s.subscribe(['a/+', 'b/#'], { qos: 1, noLocal: true }, (m) => got.push(m.topic));
    await s.subscribe('c', { qos: 2 });
    first.destroy();
    const second = await accept(b, false);
    const subs: SubscribePacket[] = [
      (await second.nextPacket('subscribe')) as SubscribePacket,
      (await second.nextPacket('subscribe')) as SubscribePacket,
    ];
    const restored = subs.flatMap((p) => p.subscriptions.map((x) => [x.topicFilter, x.qos, x.noLocal]));
    expect(restored.sort()).toEqual([
      ['a/+', 1, true],
      ['b/#', 1, true],
      ['c', 2, false],
    ]);
    second.send(publishPacket('a/1'));
    const it = s.messages('a/#');
    second.send(publishPacket('a/2'));
    await it.next();
    expect(got).toContain('a/2');
  });

  it('restores the subscriptions before it sends what was in flight or queued', async () => {
    const b = await fake();
    const s = session({ url: b.url, reconnect: FAST });
    const c = s.connect();
    const first = await accept(b);
    await c;
    await s.subscribe('own/#', { qos: 1 });
    const offline = once(s, 'offline');
    first.destroy();
    await offline;
    // published while offline to its own filter: the broker must have the subscription first
    const queued = s.publish('own/t', 'queued', { qos: 1 });
    const second = await accept(b, false);
    await queued;
    expect(second.packets.map((p) => p.type)).toEqual(['connect', 'subscribe', 'publish']);
  });

  it('is ready only once the restored subscriptions are acknowledged', async () => {
    const b = await startFakeBroker();
    onCleanup(() => b.close());
    const s = session({ url: b.url, reconnect: FAST });
    const events: string[] = [];
    s.on('connect', () => events.push('connect'));
    s.on('ready', () => events.push('ready'));
    const c = s.connect();
    const first = await accept(b);
    await c;
    expect(events).toEqual(['connect', 'ready']);
    expect(s.ready).toBe(true);
    const sub = s.subscribe('a/#', { qos: 1 });
    const p = await first.nextPacket('subscribe');
    first.send({ type: 'suback', packetId: p.packetId, reasonCodes: [1] });
    await sub;
    first.destroy();
    const second = await accept(b, false);
    const again = await second.nextPacket('subscribe');
    expect(events).toEqual(['connect', 'ready', 'connect']);
    expect(s.ready).toBe(false);
    const ready = new Promise((resolve) => s.once('ready', resolve));
    second.send({ type: 'suback', packetId: again.packetId, reasonCodes: [1] });
    await ready;
    expect(events).toEqual(['connect', 'ready', 'connect', 'ready']);
    expect(s.ready).toBe(true);
  });

  it('sends no SUBSCRIBE when the broker kept the session', async () => {
    const b = await fake();
    const s = session({ url: b.url, reconnect: FAST, clean: false, sessionExpiry: 60 });
    const c = s.connect();
    const first = await accept(b);
    await c;
    await s.subscribe('kept/#', { qos: 1 });
    first.destroy();
    const back = once(s, 'connect');
    const second = await accept(b, true);
    await back;
    await s.publish('probe', 'x', { qos: 1 });
    expect(second.packets.map((p) => p.type)).toEqual(['connect', 'publish']);
  });

  it('replays what was in flight, with DUP and the same packet id, before what was queued', async () => {
    const b = await startFakeBroker();
    onCleanup(() => b.close());
    const s = session({ url: b.url, reconnect: FAST, clean: false, sessionExpiry: 60 });
    const c = s.connect();
    const first = await accept(b);
    await c;
    const inflight = s.publish('order/t', 'first', { qos: 1 });
    const sent = (await first.nextPacket('publish')) as PublishPacket;
    const offline = once(s, 'offline');
    first.destroy();
    await offline;
    const queued = s.publish('order/t', 'second', { qos: 1 });
    expect(s.metrics().queued).toBe(1);
    const second = await accept(b, true);
    const replayed = (await second.nextPacket('publish')) as PublishPacket;
    expect([replayed.dup, replayed.packetId, Buffer.from(replayed.payload).toString()]).toEqual([
      true,
      sent.packetId,
      'first',
    ]);
    // the first connection ended with nothing acknowledged: the next one probes with one message
    second.send({ type: 'puback', packetId: replayed.packetId as number });
    const next = (await second.nextPacket('publish')) as PublishPacket;
    expect([next.dup, Buffer.from(next.payload).toString()]).toEqual([false, 'second']);
    second.send({ type: 'puback', packetId: next.packetId as number });
    await expect(inflight).resolves.toMatchObject({ reasonCode: 0 });
    await expect(queued).resolves.toMatchObject({ reasonCode: 0 });
  });
});

describe('manual acknowledgement', () => {
  it('sends PUBACK and PUBREC only when ack() is called, in arrival order', async () => {
    const { s, conn } = await connectedToFake();
    const got: Message[] = [];
    const auto: string[] = [];
    const sub = s.subscribe('m/#', { qos: 2, manualAck: true }, (m) => got.push(m));
    const req = await conn.nextPacket('subscribe');
    conn.send({ type: 'suback', packetId: req.packetId, reasonCodes: [2] });
    await sub;
    const sub2 = s.subscribe('auto/#', { qos: 1 }, (m) => auto.push(m.topic));
    const req2 = await conn.nextPacket('subscribe');
    conn.send({ type: 'suback', packetId: req2.packetId, reasonCodes: [1] });
    await sub2;
    const publish = (topic: string, qos: 1 | 2, packetId: number) =>
      conn.send(publishPacket(topic, { qos, packetId }));
    publish('m/1', 1, 11);
    publish('m/2', 2, 12);
    publish('auto/3', 1, 13); // not manual, but its PUBACK must wait behind the others
    await expect.poll(() => auto).toEqual(['auto/3']);
    expect(got.map((m) => m.topic)).toEqual(['m/1', 'm/2']);
    got[1].ack?.(); // out of order: held
    await s.publish('probe', 'p', { qos: 0 });
    await conn.nextPacket('publish');
    expect(conn.packets.filter((p) => p.type === 'puback' || p.type === 'pubrec')).toEqual([]);
    got[0].ack?.();
    const acks = [await conn.nextPacket(), await conn.nextPacket(), await conn.nextPacket()];
    expect(acks.map((p) => [p.type, (p as { packetId?: number }).packetId])).toEqual([
      ['puback', 11],
      ['pubrec', 12],
      ['puback', 13],
    ]);
    got[0].ack?.(); // again: nothing
  });

  it('waits for every manual-ack handler a message reaches; one that throws counts as done', async () => {
    const { s, conn } = await connectedToFake();
    const first: Message[] = [];
    const second: Message[] = [];
    for (const [filter, sink] of [
      ['w/#', first],
      ['w/+', second],
    ] as const) {
      const sub = s.subscribe(filter, { qos: 1, manualAck: true }, (m) => {
        if (m.topic === 'w/boom' && sink === second) throw new Error('handler failed');
        sink.push(m);
      });
      const req = await conn.nextPacket('subscribe');
      conn.send({ type: 'suback', packetId: req.packetId, reasonCodes: [1] });
      await sub;
    }
    const publish = (topic: string, packetId: number) =>
      conn.send(publishPacket(topic, { qos: 1, packetId }));
    publish('w/1', 21);
    await expect.poll(() => second.length).toBe(1);
    first[0].ack?.();
    await s.publish('probe', 'p', { qos: 0 });
    await conn.nextPacket('publish');
    expect(conn.packets.some((p) => p.type === 'puback')).toBe(false); // w/+ has not acknowledged yet
    second[0].ack?.();
    expect((await conn.nextPacket('puback')).packetId).toBe(21);
    publish('w/boom', 22); // w/+ throws: only w/# has to acknowledge
    await expect.poll(() => first.length).toBe(2);
    first[1].ack?.();
    expect((await conn.nextPacket('puback')).packetId).toBe(22);
  });
});

describe('the offline queue', () => {
  async function offline(options: Partial<SessionOptions>): Promise<{ s: Session; b: FakeBroker }> {
    const b = await fake();
    const s = session({ url: b.url, reconnect: { initialDelay: 60_000, jitter: 0 }, ...options });
    const c = s.connect();
    const conn = await accept(b);
    await c;
    const off = once(s, 'offline');
    conn.destroy();
    await off;
    return { s, b };
  }

  it("refuses past its bounds with 'reject'", async () => {
    const { s } = await offline({ offlineQueue: { maxMessages: 2 } });
    const kept = [s.publish('q', '1', { qos: 1 }), s.publish('q', '2', { qos: 1 })];
    const err = (await s.publish('q', '3', { qos: 1 }).catch((e: unknown) => e)) as DroppedError;
    expect(err).toBeInstanceOf(DroppedError);
    expect(err.reason).toBe('queue-full');
    expect(s.metrics()).toMatchObject({ queued: 2, dropped: 1, messagesOut: 2 }); // the refused one was not accepted
    for (const p of kept) p.catch(() => undefined);
  });

  it("drops the oldest with 'drop-oldest' and the newest with 'drop-newest'", async () => {
    const a = await offline({ offlineQueue: { maxMessages: 2, overflow: 'drop-oldest' } });
    const oldest = a.s.publish('q', '1', { qos: 1 });
    a.s.publish('q', '2', { qos: 1 }).catch(() => undefined);
    a.s.publish('q', '3', { qos: 1 }).catch(() => undefined);
    const e1 = (await oldest.catch((e: unknown) => e)) as DroppedError;
    expect(e1.reason).toBe('overflow');
    expect(a.s.metrics().queued).toBe(2);

    const n = await offline({ offlineQueue: { maxBytes: 10, overflow: 'drop-newest' } });
    n.s.publish('q', '12345', { qos: 1 }).catch(() => undefined);
    const e2 = (await n.s.publish('q', '123456789', { qos: 1 }).catch((e: unknown) => e)) as DroppedError;
    expect(e2.reason).toBe('overflow');
    expect(n.s.metrics().queuedBytes).toBe(6);
  });

  it('drops QoS 0 while offline unless asked to queue it', async () => {
    const a = await offline({});
    const e = (await a.s.publish('q', 'x').catch((err: unknown) => err)) as DroppedError;
    expect(e.reason).toBe('offline');
    const q = await offline({ offlineQueue: { qos0: true } });
    q.s.publish('q', 'x').catch(() => undefined);
    expect(q.s.metrics().queued).toBe(1);
  });

  it('sends queued messages in order on reconnect and drops the expired', async () => {
    const b = await fake();
    const s = session({ url: b.url, reconnect: { initialDelay: 1300, jitter: 0 } });
    const c = s.connect();
    const first = await accept(b);
    await c;
    const off = once(s, 'offline');
    first.destroy();
    await off;
    const short = s.publish('exp/t', 'gone', { qos: 1, properties: { messageExpiryInterval: 1 } });
    const sends = [1, 2, 3].map((i) =>
      s.publish('exp/t', `m${i}`, { qos: 1, properties: { messageExpiryInterval: 60 } }),
    );
    const second = await accept(b);
    const e = (await short.catch((err: unknown) => err)) as DroppedError;
    expect(e.reason).toBe('expired');
    await Promise.all(sends);
    const wire = second.packets.filter((p) => p.type === 'publish') as PublishPacket[];
    expect(wire.map((p) => Buffer.from(p.payload).toString())).toEqual(['m1', 'm2', 'm3']);
    // the interval left is sent, not the original one
    expect(wire[0].properties?.messageExpiryInterval).toBeLessThanOrEqual(59);
  });
});

describe('resuming from a store', () => {
  it('a new session with the same store and client id replays what the old one left', async () => {
    const b = await startFakeBroker();
    onCleanup(() => b.close());
    const store = new MemoryStore();
    const options = {
      url: b.url,
      clientId: 'resume-1',
      clean: false,
      sessionExpiry: 60,
      store,
      reconnect: false,
    } as const;
    const a = new Session(options);
    const c = a.connect();
    const conn = await accept(b);
    await c;
    const lost = a.publish('resume/t', 'unacked', { qos: 2 });
    const sent = (await conn.nextPacket('publish')) as PublishPacket;
    await a.close({ timeout: 0 });
    await expect(lost).rejects.toBeInstanceOf(ClosedError);
    expect((await store.load('resume-1')).messages).toHaveLength(1);

    const s = session(options);
    const c2 = s.connect();
    const conn2 = await accept(b, true);
    await c2;
    const replayed = (await conn2.nextPacket('publish')) as PublishPacket;
    expect([replayed.packetId, replayed.dup, Buffer.from(replayed.payload).toString()]).toEqual([
      sent.packetId,
      true,
      'unacked',
    ]);
    conn2.send({ type: 'pubrec', packetId: replayed.packetId as number });
    await conn2.nextPacket('pubrel');
    conn2.send({ type: 'pubcomp', packetId: replayed.packetId as number });
    await expect.poll(async () => (await store.load('resume-1')).messages.length).toBe(0);
  });

  it('loads the store again at the next connect when loading it failed', async () => {
    const b = await startFakeBroker();
    onCleanup(() => b.close());
    const store = new MemoryStore();
    const options = { url: b.url, clientId: 'flaky-store', clean: false, sessionExpiry: 60, store } as const;
    const a = new Session({ ...options, reconnect: false });
    const c = a.connect();
    const conn = await accept(b);
    await c;
    void a.publish('flaky/t', 'left', { qos: 1 }).catch(() => undefined);
    await conn.nextPacket('publish');
    await a.close({ timeout: 0 });

    let loads = 0;
    const load = store.load.bind(store);
    store.load = (id) => (++loads === 1 ? Promise.reject(new Error('disk unavailable')) : load(id));
    const s = session({ ...options, reconnect: false });
    const err = (await s.connect().catch((e: unknown) => e)) as StoreError;
    expect(err).toBeInstanceOf(StoreError);
    expect(err.message).toBe("cannot load the session of 'flaky-store' from the store");
    const c2 = s.connect();
    const conn2 = await accept(b, true);
    await c2;
    // loaded this time: what the first session left is sent again
    const replayed = (await conn2.nextPacket('publish')) as PublishPacket;
    expect([replayed.dup, Buffer.from(replayed.payload).toString()]).toEqual([true, 'left']);
    expect(loads).toBe(2);
  });
});
