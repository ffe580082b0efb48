/**
 * What real brokers won't do, from a scripted fake broker: malformed
 * packets, silence, refusals, no acknowledgements. Every operation must
 * settle with a typed error and the process must not crash.
 */
import { describe, expect, it } from 'vitest';
import { encode, type SubscribePacket, type UnsubscribePacket } from '../../src/codec/index.js';
import {
  AbortError,
  ClosedError,
  ConnectionError,
  InvalidArgumentError,
  type MqttError,
  ProtocolError,
  RejectedError,
  TimeoutError,
} from '../../src/core/errors.js';
import { sharedTimer } from '../../src/core/timer.js';
import { Session, type SessionOptions } from '../../src/session/index.js';
import { fake, publishPacket, session } from './fake-session.js';

/** Resolves when the session has read a message on `topic` (its 'message' event sees every message). */
function arrived(s: Session, topic: string): Promise<void> {
  return new Promise((resolve) => {
    const on = (m: { topic: string }) => {
      if (m.topic !== topic) return;
      s.off('message', on);
      resolve();
    };
    s.on('message', on);
  });
}

function nextDisconnect(s: Session): Promise<MqttError | undefined> {
  return new Promise((resolve) => s.once('disconnect', resolve));
}

describe('connecting', () => {
  it('times out when the broker never answers CONNECT', async () => {
    const b = await fake({});
    const s = session({ url: b.url, connectTimeout: 300 });
    const err = await s.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/connect to mqtt:\/\/127\.0\.0\.1:\d+ timed out/);
    expect(s.state).toBe('disconnected');
  });

  it('rejects with the reason code when the broker refuses', async () => {
    const b = await fake({});
    const s = session({ url: b.url });
    const p = s.connect();
    const conn = await b.nextConnection();
    await conn.nextPacket('connect');
    conn.send({
      type: 'connack',
      sessionPresent: false,
      reasonCode: 0x86,
      properties: { reasonString: 'who?' },
    });
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as ConnectionError).reasonCode).toBe(0x86);
    expect((err as Error).message).toMatch(/Bad User Name or Password: who\?/);
  });

  it('maps a 3.1.1 return code to its MQTT 5 reason code', async () => {
    const b = await fake({ protocolVersion: 4 });
    const s = session({ url: b.url, protocolVersion: 4 });
    const p = s.connect();
    const conn = await b.nextConnection();
    await conn.nextPacket('connect');
    conn.send({ type: 'connack', sessionPresent: false, reasonCode: 5 });
    const err = (await p.catch((e: unknown) => e)) as ConnectionError;
    expect(err.reasonCode).toBe(0x87);
    expect(err.message).toMatch(/not authorized/);
  });

  it('rejects when the port refuses the connection', async () => {
    const b = await fake({});
    const url = b.url;
    await b.close();
    const s = session({ url });
    await expect(s.connect()).rejects.toBeInstanceOf(ConnectionError);
  });

  it('rejects connect with AbortError through its signal', async () => {
    const b = await fake({});
    const s = session({ url: b.url });
    const ac = new AbortController();
    const p = s.connect({ signal: ac.signal });
    await (await b.nextConnection()).nextPacket('connect');
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
    expect(s.state).toBe('disconnected');
  });

  it('settles publishes queued while connecting when the connection fails', async () => {
    const b = await fake({});
    const s = session({ url: b.url });
    const connecting = s.connect();
    const q0 = s.publish('early', 'x');
    const q1 = s.publish('early', 'y', { qos: 1 });
    const conn = await b.nextConnection();
    await conn.nextPacket('connect');
    conn.destroy();
    await expect(connecting).rejects.toBeInstanceOf(ConnectionError);
    await expect(q1).rejects.toBeInstanceOf(ConnectionError);
    await q0.catch(() => undefined); // accepted while connecting: resolved or rejected, never pending
    expect(s.state).toBe('disconnected');
  });

  it('rejects connect with ClosedError when closed meanwhile', async () => {
    const b = await fake({});
    const s = session({ url: b.url });
    const p = s.connect();
    await (await b.nextConnection()).nextPacket('connect');
    await s.close();
    await expect(p).rejects.toBeInstanceOf(ClosedError);
  });
});

describe('while connected', () => {
  async function connected(options: Partial<SessionOptions> = {}) {
    const b = await fake({ autoConnack: true });
    const s = session({ url: b.url, ...options });
    await s.connect();
    const conn = await b.nextConnection();
    return { b, s, conn };
  }

  it('closes with 0x81 and reports a ProtocolError on a malformed packet', async () => {
    const { s, conn } = await connected();
    const gone = nextDisconnect(s);
    conn.sendRaw([0x30, 0x03, 0x00, 0x05, 0x61]); // topic length 5 in a 3-byte body
    const err = await gone;
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err?.reasonCode).toBe(0x81);
    const disconnect = await conn.nextPacket('disconnect');
    expect(disconnect).toMatchObject({ type: 'disconnect', reasonCode: 0x81 });
    await conn.closed;
    expect(s.state).toBe('reconnecting');
  });

  it('closes with 0x95 when the broker sends a packet over the maximum packet size', async () => {
    const { s, conn } = await connected({ maximumPacketSize: 64 });
    expect(conn.packets[0]).toMatchObject({ type: 'connect', properties: { maximumPacketSize: 64 } });
    const gone = nextDisconnect(s);
    conn.send(publishPacket('t', { payload: Buffer.alloc(200) }));
    const err = await gone;
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err?.reasonCode).toBe(0x95);
    expect(await conn.nextPacket('disconnect')).toMatchObject({ reasonCode: 0x95 });
  });

  it('hands a subscription the messages sent before its SUBACK and with it in one read', async () => {
    const { s, conn } = await connected();
    const got: string[] = [];
    const pub = (payload: string, qos: 0 | 1 = 0, packetId?: number) =>
      encode(publishPacket('early/t', { payload: Buffer.from(payload), qos, packetId }), 5);
    const subscribed = s.subscribe('early/#', { qos: 1 }, (m) => got.push(m.payload.toString()));
    const sub = (await conn.nextPacket('subscribe')) as SubscribePacket;
    // one write: a message before the SUBACK (3.8.4 allows it), the SUBACK, and two after it
    conn.sendRaw(
      Buffer.concat([
        pub('before', 1, 7),
        encode({ type: 'suback', packetId: sub.packetId, reasonCodes: [1] }, 5),
        pub('after-1'),
        pub('after-2', 1, 8),
      ]),
    );
    const handle = await subscribed;
    expect(got).toEqual(['before', 'after-1', 'after-2']);
    // both QoS 1 messages acknowledged
    expect((await conn.nextPacket('puback')).packetId).toBe(7);
    expect((await conn.nextPacket('puback')).packetId).toBe(8);
    // and the route belongs to the handle: unsubscribing ends it
    await Promise.all([
      handle.unsubscribe(),
      conn
        .nextPacket('unsubscribe')
        .then((u) =>
          conn.send({ type: 'unsuback', packetId: (u as UnsubscribePacket).packetId, reasonCodes: [0] }),
        ),
    ]);
    const read = arrived(s, 'early/end');
    conn.sendRaw(Buffer.concat([pub('gone'), encode(publishPacket('early/end'), 5)]));
    await read; // both read: the session's 'message' event sees every message
    expect(got).toEqual(['before', 'after-1', 'after-2']);
  });

  it('a refused or failed subscribe leaves no handler behind', async () => {
    const { s, conn } = await connected();
    const got: string[] = [];
    const refused = s.subscribe(['ok/#', 'no/#'], { qos: 0 }, (m) => got.push(m.topic));
    const sub = (await conn.nextPacket('subscribe')) as SubscribePacket;
    conn.send({ type: 'suback', packetId: sub.packetId, reasonCodes: [0, 0x87] });
    await refused;
    const failed = s.subscribe('late/#', { qos: 0, timeout: 200 }, (m) => got.push(m.topic));
    await conn.nextPacket('subscribe'); // never answered
    await expect(failed).rejects.toBeInstanceOf(TimeoutError);
    const read = arrived(s, 'end');
    for (const topic of ['ok/1', 'no/1', 'late/1', 'end']) conn.send(publishPacket(topic));
    await read;
    expect(got).toEqual(['ok/1']);
  });

  it('declares the connection dead when the broker goes silent', async () => {
    const { s, conn } = await connected({ keepalive: 1 });
    const gone = nextDisconnect(s);
    const ping = await conn.nextPacket('pingreq', 3000);
    expect(ping.type).toBe('pingreq');
    const err = await gone;
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err?.message).toMatch(/keepalive 1 s/);
  });

  it('keeps a connection alive while the broker answers pings', async () => {
    const b = await fake({ autoConnack: true, autoAck: true });
    const s = session({ url: b.url, keepalive: 1 });
    await s.connect();
    const conn = await b.nextConnection();
    await conn.nextPacket('pingreq', 3000);
    await conn.nextPacket('pingreq', 3000);
    expect(s.state).toBe('connected');
  });

  it('reports a server DISCONNECT with its reason', async () => {
    const { s, conn } = await connected();
    const gone = nextDisconnect(s);
    conn.send({ type: 'disconnect', reasonCode: 0x98, properties: { reasonString: 'kicked' } });
    const err = await gone;
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err?.reasonCode).toBe(0x98);
    expect(err?.message).toMatch(/Administrative action.*kicked/);
  });

  it('fails what is in flight when the connection drops and reconnect is off', async () => {
    const { s, conn } = await connected({ reconnect: false });
    const p1 = s.publish('t', 'x', { qos: 1 });
    const p2 = s.subscribe('f/#', { qos: 1 });
    await conn.nextPacket('publish');
    await conn.nextPacket('subscribe');
    conn.destroy();
    await expect(p1).rejects.toBeInstanceOf(ConnectionError);
    await expect(p2).rejects.toBeInstanceOf(ConnectionError);
    expect(s.state).toBe('disconnected');
    await expect(s.publish('t', 'x')).rejects.toBeInstanceOf(ConnectionError);
  });

  it('times out an unacknowledged publish', async () => {
    const { s, conn } = await connected();
    const err = await s.publish('slow', 'x', { qos: 1, timeout: 200 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(/publish to 'slow' \(QoS 1\) timed out/);
    // a late PUBACK is harmless
    const p = (await conn.nextPacket('publish')) as { packetId: number };
    conn.send({ type: 'puback', packetId: p.packetId });
    expect(s.state).toBe('connected');
  });

  it('aborts a publish through its signal', async () => {
    const { s } = await connected();
    const ac = new AbortController();
    const p = s.publish('t', 'x', { qos: 2, signal: ac.signal });
    ac.abort();
    await expect(p).rejects.toBeInstanceOf(AbortError);
  });

  it('refuses at once, sending nothing, an operation whose signal is already aborted', async () => {
    const { s, conn } = await connected();
    const signal = AbortSignal.abort();
    const calls = [
      s.publish('t', 'x', { signal }),
      s.publish('t', 'x', { qos: 1, signal }),
      s.subscribe('t', { qos: 1, signal }, () => {}),
      s.unsubscribe('t', { signal }),
    ];
    const errors = await Promise.all(calls.map((p) => (p as Promise<unknown>).catch((e: unknown) => e)));
    expect(errors.map((e) => (e as Error).message)).toEqual([
      "publish to 't' was aborted before it was sent",
      "publish to 't' was aborted before it was sent",
      "subscribe 't' was aborted before it was sent",
      "unsubscribe 't' was aborted before it was sent",
    ]);
    for (const e of errors) expect(e).toBeInstanceOf(AbortError);
    // the first publish after them is the next operation's, and no SUBSCRIBE or UNSUBSCRIBE went out
    s.publish('after', 'y', { qos: 1 }).catch(() => undefined);
    expect(await conn.nextPacket('publish')).toMatchObject({ topic: 'after' });
    expect(conn.packets.filter((p) => p.type !== 'connect' && p.type !== 'publish')).toEqual([]);
  });

  it('rejects with RejectedError when the broker refuses a publish or every filter', async () => {
    const { s, conn } = await connected();
    const p = s.publish('t', 'x', { qos: 1 });
    const pub = (await conn.nextPacket('publish')) as { packetId: number };
    conn.send({ type: 'puback', packetId: pub.packetId, reasonCode: 0x87 });
    const err = (await p.catch((e: unknown) => e)) as RejectedError;
    expect(err).toBeInstanceOf(RejectedError);
    expect(err.reasonCode).toBe(0x87);

    const sp = s.subscribe(['a', 'b'], { qos: 1 });
    const sub = (await conn.nextPacket('subscribe')) as { packetId: number };
    conn.send({ type: 'suback', packetId: sub.packetId, reasonCodes: [0x87, 0x80] });
    await expect(sp).rejects.toBeInstanceOf(RejectedError);

    const partial = s.subscribe(['c', 'd'], { qos: 1 });
    const sub2 = (await conn.nextPacket('subscribe')) as { packetId: number };
    conn.send({ type: 'suback', packetId: sub2.packetId, reasonCodes: [1, 0x87] });
    expect((await partial).reasonCodes).toEqual([1, 0x87]);
  });

  it('close() waits for what is in flight, sends DISCONNECT and rejects what is left', async () => {
    const { s, conn } = await connected();
    const acked = s.publish('t', 'a', { qos: 1 });
    const never = s.publish('t', 'b', { qos: 1 });
    const first = (await conn.nextPacket('publish')) as { packetId: number };
    await conn.nextPacket('publish');
    conn.send({ type: 'puback', packetId: first.packetId });
    const stream = s.messages();
    await s.close({ timeout: 200 });
    await expect(acked).resolves.toMatchObject({ reasonCode: 0 });
    await expect(never).rejects.toBeInstanceOf(ClosedError);
    expect(await conn.nextPacket('disconnect')).toMatchObject({ reasonCode: 0 });
    expect(await stream.next()).toEqual({ value: undefined, done: true });
    expect(s.state).toBe('closed');
    await expect(s.publish('t', 'x')).rejects.toBeInstanceOf(ClosedError);
    await expect(s.connect()).rejects.toBeInstanceOf(ClosedError);
  });

  it('close() stops waiting for acknowledgements once the connection is gone', async () => {
    const { s, conn } = await connected();
    const never = s.publish('t', 'b', { qos: 1 });
    await conn.nextPacket('publish');
    const closed = s.close({ timeout: 60_000 }); // far longer than the test may take
    conn.destroy(); // nothing in flight can be acknowledged any more
    await closed;
    await expect(never).rejects.toBeInstanceOf(ClosedError);
    expect(s.state).toBe('closed');
  });

  it('survives a throwing handler, reports it as an error event and counts it in errors', async () => {
    const { s, conn } = await connected();
    const errors: MqttError[] = [];
    s.on('error', (e) => errors.push(e));
    const sp = s.subscribe('h/#', { qos: 0 }, () => {
      throw new Error('boom');
    });
    const sub = (await conn.nextPacket('subscribe')) as { packetId: number };
    conn.send({ type: 'suback', packetId: sub.packetId, reasonCodes: [0] });
    await sp;
    const it = s.messages('h/#');
    conn.send(publishPacket('h/1'));
    const { value } = await it.next();
    expect(value?.topic).toBe('h/1');
    expect(errors[0].message).toMatch(/boom/);
    expect(s.metrics().errors).toBe(1);
    expect(s.state).toBe('connected');
  });

  it('acknowledges received QoS 1 messages in one write with the rest of the turn', async () => {
    const { s, conn } = await connected();
    const sp = s.subscribe('q/#', { qos: 1 });
    const sub = (await conn.nextPacket('subscribe')) as { packetId: number };
    conn.send({ type: 'suback', packetId: sub.packetId, reasonCodes: [1] });
    await sp;
    let chunks = 0;
    conn.socket.on('data', () => chunks++);
    const got = new Promise<void>((resolve) => {
      let n = 0;
      s.on('message', () => {
        if (++n === 50) resolve();
      });
    });
    const burst: number[] = [];
    for (let i = 1; i <= 50; i++) {
      burst.push(0x32, 0x08, 0x00, 0x03, 0x71, 0x2f, 0x31, 0x00, i, 0x00); // PUBLISH QoS 1 'q/1' id i, property length 0, no payload
    }
    conn.sendRaw(burst);
    await got;
    for (let i = 1; i <= 50; i++) await conn.nextPacket('puback');
    expect(chunks).toBe(1);
  });
});

describe('memory', () => {
  it('lets go of operations once they settle: the shared timer holds none of them', async () => {
    const b = await fake({ autoConnack: true, autoAck: true });
    const s = session({ url: b.url, keepalive: 0 });
    await s.connect();
    const before = sharedTimer.size;
    await Promise.all(
      Array.from({ length: 2000 }, (_, i) => s.publish('m', `${i}`, { qos: (1 + (i % 2)) as 1 | 2 })),
    );
    expect(sharedTimer.size).toBe(before);
    expect(s.inflight).toBe(0);
  });
});

describe('backpressure', () => {
  it('holds QoS 0 publishes until a full socket drains', async () => {
    const b = await fake({ autoConnack: true });
    const s = session({ url: b.url, keepalive: 0 });
    await s.connect();
    const conn = await b.nextConnection();
    conn.socket.pause(); // the broker stops reading: the kernel buffers fill up
    const payload = Buffer.alloc(64 * 1024);
    let last: Promise<unknown> = Promise.resolve();
    for (let i = 0; i < 400; i++) last = s.publish('bp/t', payload); // 25 MiB in one turn
    let settled = false;
    last.then(
      () => (settled = true),
      () => (settled = true),
    );
    // turns of the event loop, not time: the write has happened and found the socket full
    for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(settled).toBe(false);
    conn.socket.resume();
    await last;
    expect(settled).toBe(true);
  });
});

describe('arguments', () => {
  it('names the option that is wrong', () => {
    const bad: [Partial<SessionOptions>, RegExp][] = [
      [{ keepalive: -1 }, /^keepalive: must be an integer/],
      [{ protocolVersion: 3 as 4 }, /^protocolVersion/],
      [{ connectTimeout: 0 }, /^connectTimeout/],
      [{ will: { topic: 'a/#', payload: 'x' } }, /^will\.topic/],
      [{ protocolVersion: 4, sessionExpiry: 10 }, /^sessionExpiry: is an MQTT 5 feature/],
      [{ password: 42 as unknown as string }, /^password: must be a string, Buffer or Uint8Array/],
      [{ authenticationData: Buffer.from('x') }, /^authenticationMethod: is required/],
      [{ userProperties: [['ok', '\ud800']] }, /^userProperties\[0\]\[1\]: contains a lone surrogate/],
      [
        { will: { topic: 'w', payload: 'x', properties: { topicAlias: 1 } as object } },
        /^will\.properties\.topicAlias/,
      ],
    ];
    for (const [options, message] of bad) {
      let err: unknown;
      try {
        new Session({ url: 'mqtt://127.0.0.1:1', ...options });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(message);
    }
  });

  it('never puts the password in a message', async () => {
    const s = new Session({
      url: 'mqtt://user:hunter2@127.0.0.1:1',
      password: 'hunter2',
      connectTimeout: 2000,
    });
    const err = (await s.connect().catch((e: unknown) => e)) as Error;
    expect(String(err.message)).not.toMatch(/hunter2/);
    expect(s.url).not.toMatch(/hunter2/);
    await s.close();
  });

  it('never puts a token from the URL query in a message (presigned WebSocket URLs)', async () => {
    const s = new Session({ url: 'ws://127.0.0.1:1/mqtt?X-Amz-Signature=s3cr3t#frag', connectTimeout: 2000 });
    const err = (await s.connect().catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/ws:\/\/127\.0\.0\.1:1\/mqtt/);
    expect(err.message).not.toMatch(/s3cr3t|frag/);
    expect(s.url).toBe('ws://127.0.0.1:1/mqtt');
    await s.close();
  });

  it('rejects bad topics, payloads and QoS with the field named', async () => {
    const b = await fake({ autoConnack: true });
    const s = session({ url: b.url });
    await s.connect();
    const cases: [Promise<unknown>, RegExp][] = [
      [s.publish('a/+', 'x'), /^topic: contains the wildcard/],
      [s.publish('', 'x'), /^topic: is empty/],
      [s.publish('a', 42 as unknown as string), /^payload: must be a string, Buffer or Uint8Array/],
      [s.publish('a', 'x', { qos: 3 as 0 }), /^options\.qos/],
      [s.publish('a', 'x', { properties: { topicAlias: 0 } }), /^options\.properties\.topicAlias/],
      [s.subscribe('a/#/b'), /^filters: 'a\/#\/b' is not a valid topic filter/],
      [s.subscribe([]), /^filters: must be/],
      [s.subscribe(['ok', 'b+']), /^filters\[1\]/],
    ];
    for (const [p, message] of cases) {
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(message);
    }
    expect(() => s.messages('x/#/y')).toThrow(InvalidArgumentError);
    expect(s.state).toBe('connected');
  });

  it('accepts string, Buffer and Uint8Array payloads', async () => {
    const b = await fake({ autoConnack: true, autoAck: true });
    const s = session({ url: b.url });
    await s.connect();
    const conn = await b.nextConnection();
    await s.publish('p', 'text', { qos: 1 });
    await s.publish('p', Buffer.from('buf'), { qos: 1 });
    await s.publish('p', new Uint8Array([0x75, 0x38]), { qos: 1 });
    const payloads: string[] = [];
    for (let i = 0; i < 3; i++)
      payloads.push(
        ((await conn.nextPacket('publish')) as unknown as { payload: Buffer }).payload.toString(),
      );
    expect(payloads).toEqual(['text', 'buf', 'u8']);
  });
});
