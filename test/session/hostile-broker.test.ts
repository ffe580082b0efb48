/**
 * A hostile broker: a scripted server (test/helpers/fake-broker.ts) that
 * breaks MQTT on purpose, byte by byte. One table of (name, bytes the broker
 * sends, the DISCONNECT reason code the session must answer with, the error
 * every pending call must settle with: ProtocolError unless the row names
 * another). The reason code is read from the
 * wire; MQTT 3.1.1 has no DISCONNECT reason, so there the connection must
 * just close with no DISCONNECT.
 *
 * Sessions in the table run without reconnect, so each pending call (connect,
 * publish QoS 0/1/2, subscribe, unsubscribe) settles with the error that
 * ended the connection. With reconnect, QoS 1/2 publishes, subscribes and
 * unsubscribes in flight stay for replay and settle on a later connection:
 * one test below checks that.
 *
 * Decisions the tables encode: an acknowledgement for a packet id this
 * client never used is not fatal for PUBACK and PUBCOMP (ignored; the spec
 * gives them no reason code) nor for PUBREC and PUBREL (answered with 0x92
 * Packet Identifier not found, as MQTT 5 provides); a SUBACK or UNSUBACK for
 * an unknown id, or any ack for the id of an operation of another kind, is a
 * protocol error (0x82).
 */
import { once } from 'node:events';
import { createServer as createHttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { encode, type Packet } from '../../src/codec/index.js';
import {
  ConnectionError,
  InvalidArgumentError,
  type MqttError,
  ProtocolError,
  TimeoutError,
} from '../../src/core/errors.js';
import type { ClientEngine } from '../../src/protocol/engine.js';
import { sessionContext } from '../../src/session/context.js';
import type { Session, SessionOptions } from '../../src/session/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import type { FakeConnection } from '../helpers/fake-broker.js';
import { accept, fake, publishPacket, session as sessionAfterTest } from './fake-session.js';

/** A session without reconnect, closed after the test. */
function session(url: string, options: Partial<SessionOptions> = {}): Session {
  return sessionAfterTest({ url, reconnect: false, ...options });
}

/** The session's engine, for what only it can tell (bytes its decoder holds). */
function engineOf(s: Session): ClientEngine {
  return sessionContext(s).engine;
}

/** A packet from its first byte and its body (bytes, and strings written as UTF-8 as they are). */
function raw(first: number, ...body: (number | string | number[])[]): Buffer {
  const bytes: number[] = [];
  for (const b of body) {
    if (typeof b === 'number') bytes.push(b);
    else if (typeof b === 'string') bytes.push(...Buffer.from(b));
    else bytes.push(...b);
  }
  const len: number[] = [];
  let n = bytes.length;
  do {
    let d = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) d |= 0x80;
    len.push(d);
  } while (n > 0);
  return Buffer.from([first, ...len, ...bytes]);
}

/** A UTF-8 string with its two-byte length. */
function str(s: string): number[] {
  const b = Buffer.from(s);
  return [b.length >> 8, b.length & 0xff, ...b];
}

function u16(n: number): number[] {
  return [n >> 8, n & 0xff];
}

/** Packet ids of the operations in flight when the broker turns hostile. */
interface Ids {
  q1: number;
  q2: number;
  sub: number;
  unsub: number;
}

type ErrorClass = new (...args: never[]) => MqttError;

interface Row {
  name: string;
  /** @default 5 */
  v?: 4 | 5;
  /** What the broker sends: instead of CONNACK ('connecting'), or once the calls are in flight. */
  when?: 'connecting' | 'connected';
  options?: Partial<SessionOptions>;
  bytes: (ids: Ids) => Uint8Array;
  /** DISCONNECT reason code on the wire; undefined: closed without DISCONNECT (3.1.1). */
  rc: number | undefined;
  /** The error every pending call settles with. @default ProtocolError */
  error?: ErrorClass;
  message: RegExp;
}

const MALFORMED = /^malformed packet from the server: /;

const fatal: Row[] = [
  // garbage and bad remaining lengths
  {
    name: 'packet type 0',
    bytes: () => raw(0x00),
    rc: 0x81,
    message: /type 0 is reserved/,
  },
  {
    name: 'a remaining length of 5 bytes',
    bytes: () => Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]),
    rc: 0x81,
    message: /remaining length is longer than 4 bytes/,
  },
  {
    name: 'a remaining length not in the fewest bytes',
    bytes: () => Buffer.from([0xd0, 0x80, 0x00]),
    rc: 0x81,
    message: /fewest bytes/,
  },
  {
    name: 'a topic longer than its packet',
    bytes: () => raw(0x30, 0x00, 0x05, 'a'),
    rc: 0x81,
    message: MALFORMED,
  },
  {
    name: 'a property section longer than its packet',
    bytes: (ids) => raw(0x40, u16(ids.q1), 0x00, 0x05),
    rc: 0x81,
    message: /property length 5 runs past the end/,
  },
  {
    name: 'PINGRESP with a body',
    bytes: () => raw(0xd0, 0x00),
    rc: 0x81,
    message: /PINGRESP cannot have a remaining length of 1/,
  },
  // PUBLISH
  {
    name: 'PUBLISH with QoS 3',
    bytes: () => raw(0x36, str('a'), u16(1)),
    rc: 0x81,
    message: /QoS is 3/,
  },
  {
    name: 'PUBLISH QoS 0 with DUP',
    bytes: () => raw(0x38, str('a'), 0x00),
    rc: 0x81,
    message: /DUP is set on a QoS 0 message/,
  },
  {
    name: 'PUBLISH QoS 1 with packet id 0',
    bytes: () => raw(0x32, str('a'), u16(0), 0x00),
    rc: 0x82,
    message: /packet identifier is 0/,
  },
  {
    name: 'PUBLISH QoS 1 that ends before its packet id',
    bytes: () => raw(0x32, str('a')),
    rc: 0x81,
    message: MALFORMED,
  },
  {
    name: 'a wildcard in a PUBLISH topic',
    bytes: () => raw(0x30, str('a/+'), 0x00, 'x'),
    rc: 0x90,
    message: /topic name 'a\/\+' contains a wildcard/,
  },
  {
    name: 'a topic that is not UTF-8',
    bytes: () => raw(0x30, 0x00, 0x02, 0xc3, 0x28, 0x00),
    rc: 0x81,
    message: MALFORMED,
  },
  {
    name: 'a topic alias never set',
    bytes: () => encode(publishPacket('', { properties: { topicAlias: 3 } }), 5),
    rc: 0x82,
    message: /topic alias 3 was never set/,
  },
  {
    name: 'a topic alias over the maximum',
    bytes: () => encode(publishPacket('t', { properties: { topicAlias: 65 } }), 5),
    rc: 0x94,
    message: /topic alias 65 exceeds the maximum of 64/,
  },
  {
    name: 'topic alias 0',
    bytes: () => raw(0x30, str('t'), 0x03, 0x23, u16(0)),
    rc: 0x94,
    message: /topicAlias must not be 0/,
  },
  {
    name: 'a property twice',
    bytes: () => raw(0x30, str('t'), 0x0a, 0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2, 'x'),
    rc: 0x82,
    message: /messageExpiryInterval appears more than once/,
  },
  {
    name: 'a property of another packet',
    bytes: () => raw(0x30, str('t'), 0x05, 0x11, 0, 0, 0, 1),
    rc: 0x81,
    message: /sessionExpiryInterval \(0x11\) is not allowed here/,
  },
  {
    name: 'an unknown property',
    bytes: () => raw(0x30, str('t'), 0x02, 0x7f, 0x00),
    rc: 0x81,
    message: /unknown property identifier 0x7f/,
  },
  {
    name: 'a packet over maximumPacketSize',
    options: { maximumPacketSize: 64 },
    bytes: () => encode(publishPacket('t', { payload: Buffer.alloc(100) }), 5),
    rc: 0x95,
    message: /PUBLISH of 106 bytes exceeds the maximum packet size of 64/,
  },
  // acknowledgements
  {
    name: 'PUBACK with a reason code PUBACK does not have',
    bytes: (ids) => raw(0x40, u16(ids.q1), 0x05),
    rc: 0x81,
    message: /0x5 is not a valid reason code/,
  },
  {
    name: 'PUBREC for the QoS 1 message',
    bytes: (ids) => encode({ type: 'pubrec', packetId: ids.q1 }, 5),
    rc: 0x82,
    message: /PUBREC for QoS 1 message/,
  },
  {
    name: 'PUBCOMP before PUBREL',
    bytes: (ids) => encode({ type: 'pubcomp', packetId: ids.q2 }, 5),
    rc: 0x82,
    message: /PUBCOMP for message \d+ before its PUBREL/,
  },
  {
    name: "PUBACK with a SUBSCRIBE's packet id",
    bytes: (ids) => encode({ type: 'puback', packetId: ids.sub }, 5),
    rc: 0x82,
    message: /PUBACK for packet id \d+ of a SUBSCRIBE/,
  },
  {
    name: 'SUBACK with a packet id never used',
    bytes: () => encode({ type: 'suback', packetId: 999, reasonCodes: [0] }, 5),
    rc: 0x82,
    message: /SUBACK for packet id 999, which has no subscribe/,
  },
  {
    name: "SUBACK with a publish's packet id",
    bytes: (ids) => encode({ type: 'suback', packetId: ids.q1, reasonCodes: [0] }, 5),
    rc: 0x82,
    message: /which has no subscribe/,
  },
  {
    name: 'SUBACK with two reason codes for one filter',
    bytes: (ids) => encode({ type: 'suback', packetId: ids.sub, reasonCodes: [1, 1] }, 5),
    rc: 0x82,
    message: /SUBACK has 2 reason codes for 1 filters/,
  },
  {
    name: 'UNSUBACK with a packet id never used',
    bytes: () => encode({ type: 'unsuback', packetId: 999, reasonCodes: [0] }, 5),
    rc: 0x82,
    message: /UNSUBACK for packet id 999, which has no unsubscribe/,
  },
  {
    name: 'UNSUBACK with no reason code',
    bytes: (ids) => raw(0xb0, u16(ids.unsub), 0x00),
    rc: 0x82,
    message: /UNSUBACK: no reason code/,
  },
  // packets a server does not send
  {
    name: 'a second CONNACK',
    bytes: () => encode({ type: 'connack', sessionPresent: false, reasonCode: 0 }, 5),
    rc: 0x82,
    message: /unexpected CONNACK/,
  },
  {
    name: 'SUBSCRIBE from the server',
    bytes: () => encode({ type: 'subscribe', packetId: 5, subscriptions: [{ topicFilter: 'a', qos: 0 }] }, 5),
    rc: 0x82,
    message: /unexpected SUBSCRIBE/,
  },
  {
    name: 'PINGREQ from the server',
    bytes: () => raw(0xc0),
    rc: 0x82,
    message: /unexpected PINGREQ/,
  },
  {
    name: 'DISCONNECT with a reason code DISCONNECT does not have',
    bytes: () => raw(0xe0, 0x01),
    rc: 0x81,
    message: MALFORMED,
  },
  {
    name: 'AUTH when no authentication was asked for',
    bytes: () => encode({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'X' } }, 5),
    rc: 0x82,
    message: /asked for authentication this session cannot answer/,
  },

  // instead of CONNACK
  {
    name: 'an HTTP answer instead of CONNACK',
    when: 'connecting',
    bytes: () => Buffer.from('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n'),
    rc: 0x81,
    message:
      /^the server did not answer CONNECT with a CONNACK: it sent "HTTP\/1\.1 400 Bad Request\\r\\nConnec"…; is this an MQTT port\?$/,
  },
  {
    name: 'a TLS alert instead of CONNACK',
    when: 'connecting',
    bytes: () => Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]),
    rc: 0x81,
    message: /it sent 15 03 03 00 02 02 46, which is TLS: use mqtts:\/\/ \(or wss:\/\/\) for this port$/,
  },
  {
    name: 'binary garbage instead of CONNACK',
    when: 'connecting',
    bytes: () => Buffer.from([0x00, 0x22, 0x5c, 0xff]),
    rc: 0x81,
    message: /it sent "\\x00\\"\\\\\\xff"; is this an MQTT port\?$/,
  },
  {
    name: 'a PUBLISH instead of CONNACK',
    when: 'connecting',
    bytes: () => encode(publishPacket('t'), 5),
    rc: 0x82,
    message: /did not answer CONNECT with a CONNACK but with PUBLISH: it sent "0\\x05\\x00\\x01t\\x00x"/,
  },
  {
    name: 'Session Present 1 in answer to a clean start',
    when: 'connecting',
    bytes: () => encode({ type: 'connack', sessionPresent: true, reasonCode: 0 }, 5),
    rc: 0x82,
    message: /answered a clean start with Session Present 1/,
  },
  {
    name: 'CONNACK with reserved flags set',
    when: 'connecting',
    bytes: () => raw(0x20, 0x02, 0x00, 0x00),
    rc: 0x81,
    message: /^malformed packet from the server: CONNACK/,
  },
  {
    name: 'CONNACK larger than maximumPacketSize',
    when: 'connecting',
    options: { maximumPacketSize: 16 },
    bytes: () =>
      encode(
        {
          type: 'connack',
          sessionPresent: false,
          reasonCode: 0,
          properties: { reasonString: 'x'.repeat(20) },
        },
        5,
      ),
    rc: 0x95,
    message: /CONNACK of \d+ bytes exceeds the maximum packet size of 16/,
  },

  // MQTT 3.1.1: the connection is closed, no DISCONNECT
  {
    name: 'packet type 0',
    v: 4,
    bytes: () => raw(0x00),
    rc: undefined,
    message: /type 0 is reserved/,
  },
  {
    name: 'PUBLISH with QoS 3',
    v: 4,
    bytes: () => raw(0x36, str('a'), u16(1)),
    rc: undefined,
    message: /QoS is 3/,
  },
  {
    name: 'a wildcard in a PUBLISH topic',
    v: 4,
    bytes: () => raw(0x30, str('a/#'), 'x'),
    rc: undefined,
    message: /contains a wildcard/,
  },
  {
    name: 'AUTH',
    v: 4,
    bytes: () => raw(0xf0),
    rc: undefined,
    message: /AUTH \(type 15\) does not exist/,
  },
  {
    name: 'PUBACK of 3 bytes',
    v: 4,
    bytes: (ids) => raw(0x40, u16(ids.q1), 0x00),
    rc: undefined,
    message: /PUBACK cannot have a remaining length of 3/,
  },
  {
    name: 'SUBACK with a packet id never used',
    v: 4,
    bytes: () => encode({ type: 'suback', packetId: 999, reasonCodes: [0] }, 4),
    rc: undefined,
    message: /SUBACK for packet id 999/,
  },
  {
    name: 'SUBACK with a return code 3.1.1 does not have',
    v: 4,
    bytes: (ids) => raw(0x90, u16(ids.sub), 0x03),
    rc: undefined,
    message: MALFORMED,
  },
  {
    name: 'a second CONNACK',
    v: 4,
    bytes: () => encode({ type: 'connack', sessionPresent: false, reasonCode: 0 }, 4),
    rc: undefined,
    message: /unexpected CONNACK/,
  },
  {
    name: 'an HTTP answer instead of CONNACK',
    v: 4,
    when: 'connecting',
    bytes: () => Buffer.from('HTTP/1.1 400 Bad Request\r\n\r\n'),
    rc: undefined,
    message: /it sent "HTTP\/1\.1 400 Bad Request\\r\\n\\r\\n"; is this an MQTT port\?$/,
  },
  {
    name: 'Session Present 1 in answer to a clean session',
    v: 4,
    when: 'connecting',
    bytes: () => encode({ type: 'connack', sessionPresent: true, reasonCode: 0 }, 4),
    rc: undefined,
    message: /answered a clean start with Session Present 1/,
  },
];

/** Reads how the session ended the connection: its DISCONNECT reason code, or undefined for none. */
async function ending(conn: FakeConnection): Promise<number | undefined> {
  await conn.closed;
  const d = conn.packets.find((p) => p.type === 'disconnect');
  return d === undefined ? undefined : ((d as { reasonCode?: number }).reasonCode ?? 0);
}

/** Publishes at QoS 0, 1 and 2, a SUBSCRIBE and an UNSUBSCRIBE: the calls in flight when the broker turns hostile. */
function calls(s: Session): Promise<unknown>[] {
  return [
    s.publish('h/0', 'x'),
    s.publish('h/1', 'x', { qos: 1 }),
    s.publish('h/2', 'x', { qos: 2 }),
    s.subscribe('h/s', { qos: 1 }),
    s.unsubscribe('h/u'),
  ];
}

/** Waits for the three publishes (QoS 0, 1, 2), the SUBSCRIBE and the UNSUBSCRIBE; returns their ids. */
async function inFlight(conn: FakeConnection): Promise<Ids> {
  const pubs = [
    await conn.nextPacket('publish'),
    await conn.nextPacket('publish'),
    await conn.nextPacket('publish'),
  ];
  const id = (qos: number) => pubs.find((p) => p.qos === qos)?.packetId as number;
  const sub = await conn.nextPacket('subscribe');
  const unsub = await conn.nextPacket('unsubscribe');
  return { q1: id(1), q2: id(2), sub: sub.packetId, unsub: unsub.packetId };
}

function expectFailed(result: PromiseSettledResult<unknown>, row: Row, what: string): void {
  expect(result.status, what).toBe('rejected');
  const err = (result as PromiseRejectedResult).reason;
  expect(err, what).toBeInstanceOf(row.error ?? ProtocolError);
  expect((err as Error).message, what).toMatch(row.message);
}

describe('a hostile broker: every pending call settles and the session says why on the wire', () => {
  it.each(fatal.map((r) => [`MQTT ${r.v ?? 5}, ${r.when ?? 'connected'}: ${r.name}`, r] as const))(
    '%s',
    async (_name, row) => {
      const v = row.v ?? 5;
      const b = await fake({});
      const s = session(b.url, { protocolVersion: v, offlineQueue: { qos0: true }, ...row.options });
      const connecting = s.connect();
      const conn = await b.nextConnection();
      await conn.nextPacket('connect');
      let settled: Promise<PromiseSettledResult<unknown>[]>;
      if (row.when === 'connecting') {
        settled = Promise.allSettled([connecting, ...calls(s)]);
        conn.sendRaw(row.bytes({ q1: 0, q2: 0, sub: 0, unsub: 0 }));
      } else {
        conn.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
        await connecting;
        const [q0, ...pending] = calls(s);
        settled = Promise.allSettled(pending);
        await q0; // QoS 0 is done once written
        conn.sendRaw(row.bytes(await inFlight(conn)));
      }
      expect(await ending(conn)).toBe(row.rc);
      for (const [i, r] of (await settled).entries()) expectFailed(r, row, `call ${i}`);
      expect(s.state).toBe('disconnected');
    },
  );
});

interface Tolerated {
  name: string;
  v?: 4 | 5;
  bytes: (ids: Ids) => Uint8Array;
  /** What the session answers with, or undefined for nothing. */
  reply: Packet | undefined;
}

const tolerated: Tolerated[] = [
  {
    name: 'PUBACK for a packet id never used',
    bytes: () => encode({ type: 'puback', packetId: 999 }, 5),
    reply: undefined,
  },
  {
    name: 'PUBCOMP for a packet id never used',
    bytes: () => encode({ type: 'pubcomp', packetId: 999 }, 5),
    reply: undefined,
  },
  {
    name: 'PUBREC for a packet id never used',
    bytes: () => encode({ type: 'pubrec', packetId: 999 }, 5),
    reply: { type: 'pubrel', packetId: 999, reasonCode: 0x92, properties: undefined },
  },
  {
    name: 'PUBREL for a packet id never used',
    bytes: () => encode({ type: 'pubrel', packetId: 999 }, 5),
    reply: { type: 'pubcomp', packetId: 999, reasonCode: 0x92, properties: undefined },
  },
  {
    name: 'PUBACK for a packet id never used',
    v: 4,
    bytes: () => encode({ type: 'puback', packetId: 999 }, 4),
    reply: undefined,
  },
  {
    name: 'PUBREL for a packet id never used',
    v: 4,
    bytes: () => encode({ type: 'pubrel', packetId: 999 }, 4),
    reply: { type: 'pubcomp', packetId: 999, reasonCode: 0, properties: undefined },
  },
];

describe('acknowledgements a session survives', () => {
  it.each(tolerated.map((r) => [`MQTT ${r.v ?? 5}: ${r.name}`, r] as const))('%s', async (_name, row) => {
    const v = row.v ?? 5;
    const b = await fake({});
    const s = session(b.url, { protocolVersion: v });
    const connecting = s.connect();
    const conn = await accept(b);
    await connecting;
    const [q0, ...pending] = calls(s);
    await q0;
    const ids = await inFlight(conn);
    // the stray ack, then a message: its PUBACK says the session read both
    conn.sendRaw(
      Buffer.concat([row.bytes(ids), encode(publishPacket('sentinel', { qos: 1, packetId: 77 }), v)]),
    );
    if (row.reply !== undefined) expect(await conn.nextPacket(row.reply.type)).toEqual(row.reply);
    expect((await conn.nextPacket('puback')).packetId).toBe(77);
    expect(conn.packets.some((p) => p.type === 'disconnect')).toBe(false);
    expect(s.state).toBe('connected');
    // what was in flight completes as usual
    conn.send({ type: 'puback', packetId: ids.q1 });
    conn.send({ type: 'pubrec', packetId: ids.q2 });
    expect((await conn.nextPacket('pubrel')).packetId).toBe(ids.q2);
    conn.send({ type: 'pubcomp', packetId: ids.q2 });
    conn.send({ type: 'suback', packetId: ids.sub, reasonCodes: [1] });
    conn.send({ type: 'unsuback', packetId: ids.unsub, reasonCodes: v === 5 ? [0] : undefined });
    const results = await Promise.allSettled(pending);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled']);
  });
});

/** Writes `bytes` one byte per write, `gapMs` apart, until done or the connection closes. */
async function drip(conn: FakeConnection, bytes: Uint8Array, gapMs: number): Promise<void> {
  for (const byte of bytes) {
    if (conn.isClosed) return;
    conn.sendRaw([byte]);
    await new Promise((r) => setTimeout(r, gapMs));
  }
}

describe('slow and silent brokers', () => {
  it('reads a CONNACK and a PUBLISH sent one byte per write', async () => {
    const b = await fake({});
    const s = session(b.url);
    const connecting = s.connect();
    const conn = await b.nextConnection();
    await conn.nextPacket('connect');
    const connack = encode(
      {
        type: 'connack',
        sessionPresent: false,
        reasonCode: 0,
        properties: { topicAliasMaximum: 3, receiveMaximum: 7 },
      },
      5,
    );
    await drip(conn, connack, 2);
    await connecting;
    expect(s.connack?.properties).toMatchObject({ topicAliasMaximum: 3, receiveMaximum: 7 });
    const got = new Promise<{ topic: string; payload: Buffer; properties?: unknown }>((resolve) =>
      s.once('message', resolve),
    );
    const msg = publishPacket('slow/topic', {
      qos: 1,
      packetId: 9,
      properties: { contentType: 'text/plain' },
      payload: Buffer.from('dripped'),
    });
    await drip(conn, encode(msg, 5), 2);
    const m = await got;
    expect([m.topic, m.payload.toString(), m.properties]).toEqual([
      'slow/topic',
      'dripped',
      { contentType: 'text/plain' },
    ]);
    expect((await conn.nextPacket('puback')).packetId).toBe(9);
  });

  it('a CONNACK trickling in that never completes ends at connectTimeout, saying what came', async () => {
    const b = await fake({});
    const s = session(b.url, { connectTimeout: 400 });
    const connecting = s.connect().catch((e: unknown) => e);
    const conn = await b.nextConnection();
    await conn.nextPacket('connect');
    // a CONNACK announcing 100 bytes, one byte every 50 ms: far longer than connectTimeout
    void drip(conn, Buffer.concat([Buffer.from([0x20, 100]), Buffer.alloc(100)]), 50);
    const err = await connecting;
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(
      /^connect to mqtt:\/\/127\.0\.0\.1:\d+ timed out waiting for CONNACK: it sent \d+ bytes of a CONNACK, never the rest$/,
    );
    await conn.closed;
    expect(conn.packets.map((p) => p.type)).toEqual(['connect']);
  });

  it('no CONNACK at all: connectTimeout settles connect and every call queued behind it', async () => {
    const b = await fake({});
    const s = session(b.url, { connectTimeout: 300, offlineQueue: { qos0: true } });
    const settled = Promise.allSettled([s.connect(), ...calls(s)]);
    const conn = await b.nextConnection();
    await conn.nextPacket('connect');
    const results = await settled;
    for (const r of results) {
      expect(r.status).toBe('rejected');
      expect((r as PromiseRejectedResult).reason).toBeInstanceOf(TimeoutError);
      expect(((r as PromiseRejectedResult).reason as Error).message).toMatch(/timed out$/);
    }
    await conn.closed;
    expect(conn.packets.map((p) => p.type)).toEqual(['connect']);
    expect(s.state).toBe('disconnected');
  });

  it('a server that greets with a banner and waits: the timeout shows the banner', async () => {
    const b = await fake({});
    const s = session(b.url, { connectTimeout: 300 });
    const connecting = s.connect().catch((e: unknown) => e);
    const conn = await b.nextConnection();
    await conn.nextPacket('connect');
    conn.sendRaw(Buffer.from('220 mail.example ESMTP\r\n'));
    const err = await connecting;
    expect(err).toBeInstanceOf(TimeoutError);
    expect((err as Error).message).toMatch(
      /timed out waiting for CONNACK: it sent "220 mail\.example ESMTP\\r\\n"; is this an MQTT port\?$/,
    );
  });

  it('a server that writes a banner and closes: the error shows the banner', async () => {
    const b = await fake({});
    const s = session(b.url);
    const connecting = s.connect().catch((e: unknown) => e);
    const conn = await b.nextConnection();
    await conn.nextPacket('connect');
    conn.sendRaw(Buffer.from('220 bye\r\n'));
    conn.end();
    const err = await connecting;
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(
      /closed by the broker before CONNACK: it sent "220 bye\\r\\n"; is this an MQTT port\?$/,
    );
  });
});

describe('not an MQTT port', () => {
  it('an HTTP server: connect says what it answered and asks whether this is an MQTT port', async () => {
    const http = createHttpServer((_req, res) => res.end('hello'));
    http.listen(0, '127.0.0.1');
    await once(http, 'listening');
    onCleanup(() => new Promise((r) => http.close(r)));
    const { port } = http.address() as AddressInfo;
    const s = session(`mqtt://127.0.0.1:${port}`);
    const err = await s.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(
      /^the server did not answer CONNECT with a CONNACK: it sent "HTTP\/1\.1 400 Bad Request\\r\\n[^"]*"…?; is this an MQTT port\?$/,
    );
    expect(s.state).toBe('disconnected');
  });

  it('mqtts:// to a plain MQTT port: the TLS handshake fails with a hint to use mqtt://', async () => {
    const b = await fake({});
    const s = session(`mqtts://127.0.0.1:${b.port}`, { tls: { rejectUnauthorized: false } });
    const connecting = s.connect().catch((e: unknown) => e);
    const conn = await b.nextConnection();
    await conn.closed; // a ClientHello is no MQTT packet: the broker drops the connection
    const err = await connecting;
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as Error).message).toMatch(
      /during the TLS handshake: if this is a plain MQTT port, use mqtt:\/\//,
    );
  });
});

/** The fixed header of a PUBLISH announcing 200,000,000 bytes, and the first 64 KiB of its body. */
const header = Buffer.from([0x30, 0x80, 0x84, 0xaf, 0x5f]);
const HUGE = Buffer.concat([header, Buffer.alloc(64 * 1024)]);

describe('the incoming packet size limit', () => {
  it('MQTT 5: announces 16 MiB in CONNECT and closes with 0x95 at the header of a 200 MB packet, buffering nothing', async () => {
    const b = await fake({});
    const s = session(b.url);
    const connecting = s.connect();
    const conn = await b.nextConnection();
    expect((await conn.nextPacket('connect')).properties).toMatchObject({
      maximumPacketSize: 16 * 1024 * 1024,
    });
    conn.send({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    await connecting;
    const pending = s.publish('h/1', 'x', { qos: 1 }).catch((e: unknown) => e);
    await conn.nextPacket('publish');
    conn.sendRaw(HUGE);
    expect(await ending(conn)).toBe(0x95);
    const err = await pending;
    expect(err).toBeInstanceOf(ProtocolError);
    expect((err as Error).message).toMatch(
      /PUBLISH of 200000005 bytes exceeds the maximum packet size of 16777216; the server ignored the Maximum Packet Size/,
    );
    expect(engineOf(s).bufferedBytes).toBeLessThanOrEqual(header.length);
  });

  it('MQTT 3.1.1: closes at the header, and the error says why the broker will send it again', async () => {
    const b = await fake({});
    const s = session(b.url, { protocolVersion: 4 });
    const connecting = s.connect();
    const conn = await accept(b);
    await connecting;
    const gone = new Promise<MqttError | undefined>((resolve) => s.once('disconnect', resolve));
    conn.sendRaw(HUGE);
    expect(await ending(conn)).toBe(undefined);
    const err = await gone;
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err?.reasonCode).toBe(0x95);
    expect(err?.message).toMatch(
      /PUBLISH of 200000005 bytes exceeds the maximum packet size of 16777216; MQTT 3\.1\.1 cannot tell the broker this limit.*raise maximumPacketSize/,
    );
    expect(engineOf(s).bufferedBytes).toBeLessThanOrEqual(header.length);
  });
});

describe('the WebSocket message limit', () => {
  it('follows maximumPacketSize: a 2 MiB message is refused from its frame header', async () => {
    const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
    await once(wss, 'listening');
    onCleanup(() => new Promise((r) => wss.close(r)));
    wss.on('connection', (ws) => {
      ws.once('message', () => ws.send(Buffer.concat([header, Buffer.alloc(2 * 1024 * 1024)])));
    });
    const { port } = wss.address() as AddressInfo;
    const s = session(`ws://127.0.0.1:${port}`, { maximumPacketSize: 64 });
    const err = await s.connect().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConnectionError);
    expect((err as MqttError).reasonCode).toBe(0x95);
    expect((err as Error).message).toMatch(
      /Max payload size exceeded \(the WebSocket message limit follows maximumPacketSize\)/,
    );
  });
});

describe('with reconnect', () => {
  it('what was in flight when the broker broke the protocol is sent again on the next connection and settles there', async () => {
    const b = await fake({});
    const s = session(b.url, { reconnect: { initialDelay: 20, maxDelay: 20 } });
    const connecting = s.connect();
    const first = await accept(b);
    await connecting;
    const pending = Promise.allSettled([
      s.publish('h/1', 'x', { qos: 1 }),
      s.publish('h/2', 'x', { qos: 2 }),
      s.subscribe('h/s', { qos: 1 }),
    ]);
    await first.nextPacket('publish');
    await first.nextPacket('publish');
    await first.nextPacket('subscribe');
    first.sendRaw([0x00, 0x00]); // garbage
    expect(await ending(first)).toBe(0x81);
    const second = await accept(b);
    // the oldest alone first (the connection ended with both unacknowledged), then the rest
    const again = [await second.nextPacket('publish')];
    second.send({ type: 'puback', packetId: again[0].packetId as number });
    again.push(await second.nextPacket('publish'));
    expect(again.map((p) => [p.topic, p.qos, p.dup])).toEqual([
      ['h/1', 1, true],
      ['h/2', 2, true],
    ]);
    const sub = await second.nextPacket('subscribe');
    second.send({ type: 'pubrec', packetId: again[1].packetId as number });
    await second.nextPacket('pubrel');
    second.send({ type: 'pubcomp', packetId: again[1].packetId as number });
    second.send({ type: 'suback', packetId: sub.packetId, reasonCodes: [1] });
    const results = await pending;
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
  });
});

describe('what a client must not send', () => {
  it('refuses a Subscription Identifier or a topic alias on publish, sending nothing', async () => {
    const b = await fake({});
    const s = session(b.url);
    const connecting = s.connect();
    const conn = await accept(b, false, { topicAliasMaximum: 10 });
    await connecting;
    const cases: [Promise<unknown>, RegExp][] = [
      [
        s.publish('a', 'x', { properties: { subscriptionIdentifier: 3 } }),
        /^options\.properties\.subscriptionIdentifier: a client must not send it in PUBLISH \(MQTT-3\.3\.4-6\)/,
      ],
      [
        s.publish('a', 'x', { qos: 1, properties: { subscriptionIdentifier: 3 } }),
        /^options\.properties\.subscriptionIdentifier/,
      ],
      [
        s.publish('a', 'x', { properties: { topicAlias: 1 } }),
        /^options\.properties\.topicAlias: is assigned by the session/,
      ],
    ];
    for (const [p, message] of cases) {
      const err = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toMatch(message);
    }
    await s.publish('end', 'x');
    const sent = await conn.nextPacket('publish');
    expect(sent.topic).toBe('end');
    expect(conn.packets.filter((p) => p.type === 'publish')).toHaveLength(1);
  });
});
