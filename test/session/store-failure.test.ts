/**
 * Write-ahead with a store that fails, on a fake broker: no packet that
 * depends on a change of the store leaves before a flush made the change
 * durable, on the connection where the flush failed or on any later one,
 * and `publish()` resolves only once the deletion of its message is durable.
 * The broker checks, as each packet arrives, what the store has saved.
 * (test/session/store-failure-crash.test.ts does the same end to end, with a
 * full disk, a killed Redis and a killed process.)
 */
import { describe, expect, it } from 'vitest';
import type { Packet, PublishPacket } from '../../src/codec/index.js';
import { type MqttError, StoreError } from '../../src/core/errors.js';
import type { Session, SessionOptions } from '../../src/session/index.js';
import type { FakeConnection } from '../helpers/fake-broker.js';
import { FlakyStore } from '../helpers/flaky-store.js';
import { fake, publishPacket, session as sessionAfterTest } from './fake-session.js';

const ID = 'write-ahead';

/** A persistent session (client id `ID`) on `store`, reconnecting quickly, closed after the test. */
function session(url: string, store: FlakyStore, options: Partial<SessionOptions> = {}): Session {
  return sessionAfterTest({
    url,
    clientId: ID,
    clean: false,
    sessionExpiry: 60,
    store,
    reconnect: { initialDelay: 10, maxDelay: 40 },
    ...options,
  });
}

/** Resolves once the session has reported `n` errors; all of them are collected in `list`. */
function errors(s: Session, n: number): { list: MqttError[]; reached: Promise<void> } {
  const list: MqttError[] = [];
  const reached = new Promise<void>((resolve) => {
    s.on('error', (e) => {
      list.push(e);
      if (list.length === n) resolve();
    });
  });
  return { list, reached };
}

/** A promise with its resolve function. */
function signal(): { promise: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const promise = new Promise<void>((resolve) => {
    fire = resolve;
  });
  return { promise, fire };
}

function settledFlag(p: Promise<unknown>): { settled: boolean } {
  const flag = { settled: false };
  p.then(
    () => {
      flag.settled = true;
    },
    () => {
      flag.settled = true;
    },
  );
  return flag;
}

/**
 * A session (no reconnect) on a store that starts failing once the broker
 * has a PUBLISH: the broker acknowledges it, its deletion cannot be flushed.
 */
async function failingOnceAcknowledged(): Promise<{ store: FlakyStore; s: Session }> {
  const store = new FlakyStore();
  const broker = await fake({
    autoConnack: true,
    autoAck: true,
    onPacket: (p: Packet) => {
      if (p.type === 'publish') store.failure = new Error('EIO: i/o error');
    },
  });
  return { store, s: session(broker.url, store, { reconnect: false }) };
}

const payloadOf = (m: { packet: PublishPacket }): string => Buffer.from(m.packet.payload).toString();

describe('a session whose store fails in the middle of a QoS 2 exchange', () => {
  it('sends no PUBREL until a flush has recorded the PUBREC, on that connection or a later one', async () => {
    const store = new FlakyStore();
    const violations: string[] = [];
    let pubrels = 0;
    const pubrel = signal();
    const broker = await fake({
      autoConnack: true,
      autoAck: true,
      onPacket: (p: Packet) => {
        // the PUBREC the broker has just sent will find the disk full
        if (p.type === 'publish' && !p.dup) store.failure = new Error('ENOSPC: no space left on device');
        if (p.type === 'pubrel') {
          pubrels++;
          const m = [...store.of(ID).messages.values()].find((x) => x.packetId === p.packetId);
          if (m?.stage !== 2) violations.push(`PUBREL ${p.packetId} while the store holds stage ${m?.stage}`);
          pubrel.fire();
        }
      },
    });
    const s = session(broker.url, store);
    const failed = errors(s, 3);
    await s.connect();
    const published = s.publish('t/q2', 'once', { qos: 2 });
    const flag = settledFlag(published);

    // the flush of the PUBREC's change failed, then the flush before each reconnect's CONNECT
    await Promise.race([failed.reached, pubrel.promise]);
    expect(pubrels, violations.join('; ')).toBe(0);
    expect(failed.list.every((e) => e instanceof StoreError && e.code === 'ERR_MQTT_STORE')).toBe(true);
    expect(flag.settled).toBe(false);

    store.failure = undefined; // room again: the next attempt flushes, then goes on
    await expect(published).resolves.toEqual({ reasonCode: 0, properties: undefined });
    expect(pubrels).toBeGreaterThanOrEqual(1);
    expect(violations).toEqual([]);
    // it resolved once its deletion was durable
    expect(store.of(ID).messages.size).toBe(0);
  });

  it('sends no PUBREC for an incoming QoS 2 message until its id is flushed, and no PUBCOMP until its release is', async () => {
    const store = new FlakyStore();
    const violations: string[] = [];
    let pubrecs = 0;
    const pubrec = signal();
    const pubcomp = signal();
    const incoming = publishPacket('in/q2', { qos: 2, packetId: 7, payload: Buffer.from('once') });
    const broker = await fake({
      onPacket: (p: Packet, conn: FakeConnection) => {
        if (p.type === 'connect') {
          // a broker that kept the session resends the PUBLISH it has no PUBREC for
          conn.send({ type: 'connack', sessionPresent: conn.id > 0, reasonCode: 0 });
          if (conn.id > 0) conn.send({ ...incoming, dup: true });
        } else if (p.type === 'pubrec') {
          pubrecs++;
          if (!store.of(ID).incomingQoS2.has(7)) violations.push('PUBREC 7 before id 7 was durable');
          pubrec.fire();
          conn.send({ type: 'pubrel', packetId: 7 });
        } else if (p.type === 'pubcomp') {
          if (store.of(ID).incomingQoS2.has(7)) violations.push('PUBCOMP 7 before its release was durable');
          pubcomp.fire();
        }
      },
    });
    const s = session(broker.url, store);
    const delivered: string[] = [];
    s.on('message', (m) => delivered.push(m.payload.toString()));
    const failed = errors(s, 3);
    await s.connect();
    store.failure = new Error('ENOSPC: no space left on device');
    broker.connections[0].send(incoming);

    await Promise.race([failed.reached, pubrec.promise]);
    expect(pubrecs, violations.join('; ')).toBe(0);
    expect(failed.list.every((e) => e instanceof StoreError)).toBe(true);

    store.failure = undefined;
    await pubcomp.promise;
    expect(violations).toEqual([]);
    expect(delivered).toEqual(['once']);
    expect(store.of(ID).incomingQoS2.size).toBe(0);
  });
});

describe('publish() with a durable store', () => {
  it.each([1, 2] as const)(
    'QoS %i: resolves only once the flush that deletes the message has succeeded',
    async (qos) => {
      const store = new FlakyStore();
      let deleteFlush: Promise<number> | undefined;
      const last = signal();
      const broker = await fake({
        autoConnack: true,
        autoAck: true,
        onPacket: (p: Packet) => {
          // the broker's answer to this packet completes the exchange: hold the flush that follows
          if ((qos === 1 && p.type === 'publish') || (qos === 2 && p.type === 'pubrel')) {
            store.hold();
            deleteFlush = store.nextFlush();
            last.fire();
          }
        },
      });
      const s = session(broker.url, store);
      await s.connect();
      const published = s.publish('t/done', 'x', { qos });
      const flag = settledFlag(published);
      try {
        await last.promise;
        await Promise.race([deleteFlush, published]);
        expect(flag.settled, 'resolved before its deletion was flushed').toBe(false);
        expect(store.of(ID).messages.size).toBe(1);
      } finally {
        store.release();
      }
      await published;
      expect(store.of(ID).messages.size).toBe(0);
    },
  );

  it('resolves none of 300 QoS 1/2 publishes while the store still holds its message', async () => {
    const store = new FlakyStore();
    const broker = await fake({ autoConnack: true, autoAck: true });
    const s = session(broker.url, store);
    await s.connect();
    const early: string[] = [];
    const all: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i++) {
      const text = String(i);
      all.push(
        s.publish('t/many', text, { qos: i % 2 === 0 ? 1 : 2 }).then(() => {
          for (const m of store.of(ID).messages.values()) if (payloadOf(m) === text) early.push(text);
        }),
      );
    }
    await Promise.all(all);
    expect(early).toEqual([]);
    expect(store.of(ID).messages.size).toBe(0);
  });

  it('a QoS 0 publish whose bytes waited behind a failed flush rejects instead of resolving', async () => {
    const store = new FlakyStore();
    const broker = await fake({ autoConnack: true, autoAck: true });
    const s = session(broker.url, store, { reconnect: false });
    s.on('error', () => undefined);
    await s.connect();
    store.failure = new Error('ENOSPC: no space left on device');
    // one turn: the QoS 1 message changes the store, so the QoS 0 bytes wait for its flush
    const durable = s.publish('t/q1', 'x', { qos: 1 }).catch((e: unknown) => e);
    const err = await s.publish('t/q0', 'y', { qos: 0 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect(broker.connections.flatMap((c) => c.packets).filter((p) => p.type === 'publish')).toEqual([]);
    store.failure = undefined;
    await s.close();
    await durable;
  });

  it('a publish whose timeout passes while only the store is late says so with StoreError, not TimeoutError', async () => {
    const { store, s } = await failingOnceAcknowledged();
    s.on('error', () => undefined);
    await s.connect();
    const err = await s.publish('t/late', 'x', { qos: 1, timeout: 200 }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(
      /publish to 't\/late'.*acknowledged the publish, but the session store could not record it/,
    );
    store.failure = undefined;
  });

  it('rejects with StoreError on close() when the deletion of an acknowledged message could not be flushed', async () => {
    const { s } = await failingOnceAcknowledged();
    const failed = errors(s, 1);
    await s.connect();
    const published = s.publish('t/lost', 'x', { qos: 1 });
    published.catch(() => undefined);
    await Promise.race([failed.reached, published]);
    await s.close();
    const err = await published.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StoreError);
    expect((err as Error).message).toMatch(/acknowledged .* could not record it/);
  });
});
