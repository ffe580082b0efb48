/**
 * Brokers that do less than MQTT 5 promises, driven by the fake broker: a
 * broker that drops every connection (reconnect storms), one that refuses
 * MQTT 5 (`protocolVersion: 'auto'`), one without QoS 2, and one that kills
 * the connection over a message (the poison-message guard).
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ConnectPacket, PublishPacket } from '../../src/codec/index.js';
import { ConnectionError, DroppedError, RejectedError } from '../../src/core/errors.js';
import { MemoryStore } from '../../src/store/index.js';
import { accept, connectedToFake, FAST, fake, once, session } from './fake-session.js';

// before the sessions close (helpers/cleanup.ts runs after this hook)
afterEach(() => {
  vi.useRealTimers();
});

describe('reconnect storms', () => {
  it('a broker that accepts and drops every connection meets a growing delay', async () => {
    const b = await fake();
    const s = session({ url: b.url, reconnect: { ...FAST, maxDelay: 1000 } });
    const delays: number[] = [];
    s.on('reconnecting', (_attempt, delay) => delays.push(delay));
    const c = s.connect();
    let conn = await accept(b);
    await c;
    for (let i = 0; i < 4; i++) {
      const back = once(s, 'connect');
      conn.destroy();
      conn = await accept(b);
      await back;
    }
    // each connection got its CONNACK, and still the backoff grew (it started again at 10 before)
    expect(delays).toEqual([10, 20, 40, 80]);
  });

  it('starts again from initialDelay after a connection that stayed up resetAfter ms', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const b = await fake();
    const s = session({ url: b.url, reconnect: { ...FAST, maxDelay: 1000, resetAfter: 60_000 } });
    const delays: number[] = [];
    s.on('reconnecting', (_attempt, delay) => delays.push(delay));
    const c = s.connect();
    let conn = await accept(b);
    await c;
    for (const stayedUp of [0, 0, 60_000, 0]) {
      const back = once(s, 'connect');
      vi.setSystemTime(Date.now() + stayedUp);
      conn.destroy();
      conn = await accept(b);
      await back;
    }
    expect(delays).toEqual([10, 20, 10, 20]);
  });
});

describe("protocolVersion: 'auto'", () => {
  it('falls back to 3.1.1 when the broker closes an MQTT 5 CONNECT, and keeps it for reconnects', async () => {
    const b = await fake();
    const s = session({ url: b.url, protocolVersion: 'auto', reconnect: FAST, sessionExpiry: 30 });
    const fallback = once<[ConnectionError]>(s, 'fallback');
    const c = s.connect();
    const v5 = await b.nextConnection();
    expect(((await v5.nextPacket('connect')) as ConnectPacket).protocolVersion).toBe(5);
    v5.destroy(); // RabbitMQ 3.10 does this
    const [reason] = await fallback;
    expect(reason.message).toMatch(/closed by the broker before CONNACK/);
    const v4 = await b.nextConnection();
    expect(((await v4.nextPacket('connect')) as ConnectPacket).protocolVersion).toBe(4);
    v4.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    await expect(c).resolves.toMatchObject({ protocolVersion: 4 });
    expect(s.protocolVersion).toBe(4);
    const back = once(s, 'connect');
    v4.destroy();
    const again = await b.nextConnection();
    expect(((await again.nextPacket('connect')) as ConnectPacket).protocolVersion).toBe(4);
    again.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    await back;
  });

  it('falls back on a 3.1.1 CONNACK refusing the protocol level', async () => {
    const b = await fake();
    const s = session({ url: b.url, protocolVersion: 'auto' });
    const c = s.connect();
    const v5 = await b.nextConnection();
    await v5.nextPacket('connect');
    v5.sendRaw([0x20, 0x02, 0x00, 0x01]); // what a 3.1.1 broker answers an MQTT 5 CONNECT
    const v4 = await b.nextConnection();
    await v4.nextPacket('connect');
    v4.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    await expect(c).resolves.toMatchObject({ protocolVersion: 4 });
  });

  it('stays with MQTT 5 when the broker takes it, and says both failures when neither connects', async () => {
    const b = await fake();
    const ok = session({ url: b.url, protocolVersion: 'auto' });
    const c = ok.connect();
    await accept(b);
    await expect(c).resolves.toMatchObject({ protocolVersion: 5 });
    expect(ok.protocolVersion).toBe(5);

    const none = session({ url: b.url, protocolVersion: 'auto', reconnect: false });
    const failed = none.connect();
    (await b.nextConnection()).destroy();
    (await b.nextConnection()).destroy();
    const err = await failed.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(/with MQTT 3\.1\.1, after MQTT 5 failed: .*before CONNACK/);
  });

  it('a fixed protocolVersion never falls back', async () => {
    const b = await fake();
    const s = session({ url: b.url, protocolVersion: 5, reconnect: false });
    const c = s.connect();
    (await b.nextConnection()).destroy();
    await expect(c).rejects.toThrow(/closed by the broker before CONNACK/);
    expect(b.connections).toHaveLength(1);
  });
});

describe('a broker without QoS 2', () => {
  it('a QoS 2 publish answered with PUBACK resolves at QoS 1, and later ones are refused before sending', async () => {
    const { s, conn } = await connectedToFake({ protocolVersion: 4 });
    const first = s.publish('q/t', 'x', { qos: 2 });
    const sent = (await conn.nextPacket('publish')) as PublishPacket;
    conn.send({ type: 'puback', packetId: sent.packetId as number });
    await expect(first).resolves.toEqual({ reasonCode: 0, properties: undefined, qos: 1 });
    expect(s.state).toBe('connected');
    expect(s.serverLimits.maximumQoS).toBe(1);
    const second = await s.publish('q/t', 'y', { qos: 2 }).catch((e: unknown) => e);
    expect(second).toBeInstanceOf(RejectedError);
    expect((second as RejectedError).reasonCode).toBe(0x9b);
  });

  it('maximumQoS refuses a QoS 2 publish before anything is sent, even offline', async () => {
    const b = await fake({});
    const s = session({ url: b.url, protocolVersion: 4, maximumQoS: 1 });
    const c = s.connect();
    await expect(s.publish('q/t', 'x', { qos: 2 })).rejects.toMatchObject({
      name: 'RejectedError',
      reasonCode: 0x9b,
    });
    const conn = await accept(b);
    await c;
    await expect(s.publish('q/t', 'x', { qos: 2 })).rejects.toBeInstanceOf(RejectedError);
    const ok = s.publish('q/t', 'y', { qos: 1 });
    const sent = (await conn.nextPacket('publish')) as PublishPacket;
    expect(Buffer.from(sent.payload).toString()).toBe('y');
    conn.send({ type: 'puback', packetId: sent.packetId as number });
    await ok;
  });
});

describe('poison-message guard', () => {
  it('a message the broker closes the connection over is given up after maxDeliveryAttempts, and leaves the store', async () => {
    const b = await fake({});
    const store = new MemoryStore();
    const s = session({
      url: b.url,
      protocolVersion: 4,
      clean: false,
      clientId: 'poison',
      store,
      reconnect: FAST,
      maxDeliveryAttempts: 3,
    });
    const c = s.connect();
    let conn = await accept(b);
    await c;
    const poison = s.publish('p/poison', 'x', { qos: 2 });
    for (let i = 0; i < 3; i++) {
      await conn.nextPacket('publish');
      conn.destroy(); // NATS does this to a QoS 2 PUBLISH
      if (i < 2) conn = await accept(b, true);
    }
    const err = await poison.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DroppedError);
    expect(err).toMatchObject({ reason: 'attempts' });
    expect((err as Error).message).toMatch(/3 connections ended before the broker acknowledged it/);
    expect(s.metrics().dropped).toBe(1);
    // the session goes on: the next connection carries the next message, not the poison
    conn = await accept(b, true);
    const next = s.publish('p/ok', 'y', { qos: 1 });
    const sent = (await conn.nextPacket('publish')) as PublishPacket;
    expect(sent.topic).toBe('p/ok');
    conn.send({ type: 'puback', packetId: sent.packetId as number });
    await next;
    await s.close();
    expect((await store.load('poison')).messages).toEqual([]);
  });
});
