/**
 * The client engine against a scripted broker side, with a fake clock and no
 * sockets: what the engine writes is decoded and checked, what the broker
 * says is encoded and fed in.
 */
import { describe, expect, it } from 'vitest';
import { EncodeError, encode, PacketDecoder, type PublishPacket } from '../../src/codec/index.js';
import { ConnectionError, ProtocolError, TimeoutError } from '../../src/core/errors.js';
import { type ControlOp, EngineState, type IncomingAck } from '../../src/protocol/engine.js';

import { pub, setup } from './engine-harness.js';

describe('connect', () => {
  it('sends CONNECT with the options and applies the limits of CONNACK', () => {
    const t = setup({
      keepalive: 30,
      username: 'u',
      connectProperties: { sessionExpiryInterval: 60, receiveMaximum: 10, topicAliasMaximum: 4 },
    });
    const [connect] = t.connect({
      receiveMaximum: 3,
      maximumPacketSize: 1000,
      topicAliasMaximum: 5,
      serverKeepAlive: 20,
      assignedClientIdentifier: 'assigned-1',
      maximumQoS: 1,
    });
    expect(connect).toMatchObject({
      type: 'connect',
      clientId: 'c1',
      keepalive: 30,
      username: 'u',
      properties: { sessionExpiryInterval: 60, receiveMaximum: 10, topicAliasMaximum: 4 },
    });
    expect(t.e.state).toBe(EngineState.Connected);
    expect(t.h.connacks).toHaveLength(1);
    expect(t.e.clientId).toBe('assigned-1');
    expect(t.e.limits).toMatchObject({
      receiveMaximum: 3,
      maximumPacketSize: 1000,
      topicAliasMaximum: 5,
      keepalive: 20,
      maximumQoS: 1,
    });
  });

  it('reports a refused CONNACK and goes idle', () => {
    const t = setup();
    t.e.open(0);
    t.sent();
    t.deliver({ type: 'connack', sessionPresent: false, reasonCode: 0x86 });
    expect(t.h.connacks[0].reasonCode).toBe(0x86);
    expect(t.e.state).toBe(EngineState.Idle);
  });

  it('treats any other packet before CONNACK as a protocol error', () => {
    const t = setup();
    t.e.open(0);
    t.sent();
    t.deliver({ type: 'puback', packetId: 1 });
    expect(t.h.closed[0]).toBeInstanceOf(ProtocolError);
    expect(t.h.closed[0].reasonCode).toBe(0x82);
    expect(t.sent()).toEqual([{ type: 'disconnect', reasonCode: 0x82 }]);
  });

  it('runs the enhanced authentication exchange through the handler', () => {
    const t = setup({
      connectProperties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('c1') },
    });
    t.e.open(0);
    expect(t.sent()[0]).toMatchObject({ properties: { authenticationMethod: 'SCRAM' } });
    t.deliver({
      type: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('s1') },
    });
    expect(t.h.auths[0].properties?.authenticationData?.toString()).toBe('s1');
    t.e.auth({
      type: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: 'SCRAM', authenticationData: Buffer.from('c2') },
    });
    expect(t.sent()).toMatchObject([{ type: 'auth', reasonCode: 0x18 }]);
    t.deliver({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    expect(t.e.state).toBe(EngineState.Connected);
  });
});

describe('outgoing publish', () => {
  it('sends QoS 0 at once and tracks nothing', () => {
    const t = setup();
    t.connect();
    expect(t.e.publish(pub('a/b', 0, 'hello'))).toBe(true);
    expect(t.sent()).toMatchObject([{ type: 'publish', topic: 'a/b', qos: 0 }]);
    expect(t.e.inflightCount).toBe(0);
  });

  it('completes QoS 1 on PUBACK', () => {
    const t = setup();
    t.connect();
    const op = pub('a', 1);
    t.e.publish(op);
    const [p] = t.sent() as PublishPacket[];
    expect(p.packetId).toBe(op.packetId);
    t.deliver({ type: 'puback', packetId: op.packetId });
    expect(t.h.done).toEqual([[op, 0]]);
    expect(t.e.inflightCount).toBe(0);
  });

  it('runs QoS 2 through PUBREC, PUBREL and PUBCOMP', () => {
    const t = setup();
    t.connect();
    const op = pub('a', 2);
    t.e.publish(op);
    t.sent();
    t.deliver({ type: 'pubrec', packetId: op.packetId });
    expect(t.sent()).toEqual([{ type: 'pubrel', packetId: op.packetId, reasonCode: 0 }]);
    expect(t.h.done).toEqual([]);
    t.deliver({ type: 'pubcomp', packetId: op.packetId });
    expect(t.h.done).toEqual([[op, 0]]);
  });

  it('ends QoS 2 at a failing PUBREC without PUBREL', () => {
    const t = setup();
    t.connect();
    const op = pub('a', 2);
    t.e.publish(op);
    t.sent();
    t.deliver({ type: 'pubrec', packetId: op.packetId, reasonCode: 0x87 });
    expect(t.sent()).toEqual([]);
    expect(t.h.done).toEqual([[op, 0x87]]);
  });

  it('uses Receive Maximum as a send quota and keeps the order', () => {
    const t = setup();
    t.connect({ receiveMaximum: 2 });
    const ops = [1, 2, 3, 4, 5].map((i) => pub(`t/${i}`, 1));
    for (const op of ops) t.e.publish(op);
    expect((t.sent() as PublishPacket[]).map((p) => p.topic)).toEqual(['t/1', 't/2']);
    expect(t.e.pendingCount).toBe(3);
    t.deliver({ type: 'puback', packetId: ops[0].packetId });
    expect((t.sent() as PublishPacket[]).map((p) => p.topic)).toEqual(['t/3']);
    t.deliver({ type: 'puback', packetId: ops[2].packetId });
    t.deliver({ type: 'puback', packetId: ops[1].packetId });
    expect((t.sent() as PublishPacket[]).map((p) => p.topic)).toEqual(['t/4', 't/5']);
  });

  it('never reuses a packet id in flight; the 65,536th publish waits for a free id', () => {
    const t = setup();
    t.connect();
    const ops = Array.from({ length: 65_536 }, () => pub('t', 1));
    for (const op of ops) t.e.publish(op);
    const sent = t.sent() as PublishPacket[];
    expect(sent).toHaveLength(65_535);
    expect(new Set(sent.map((p) => p.packetId)).size).toBe(65_535);
    expect(t.e.pendingCount).toBe(1);
    t.deliver({ type: 'puback', packetId: ops[100].packetId });
    const [last] = t.sent() as PublishPacket[];
    expect(last.packetId).toBe(ops[100].packetId);
    expect(ops[65_535].packetId).toBe(last.packetId);
  });

  it('refuses a publish larger than the server allows, before sending anything', () => {
    const t = setup();
    t.connect({ maximumPacketSize: 100 });
    let error: unknown;
    try {
      t.e.publish(pub('a', 1, 'x'.repeat(200)));
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(EncodeError);
    expect((error as EncodeError).reasonCode).toBe(0x95);
    expect(t.sent()).toEqual([]);
    expect(t.e.inflightCount).toBe(0);
  });

  it('assigns topic aliases while the server allows them', () => {
    const t = setup();
    t.connect({ topicAliasMaximum: 2 });
    for (const topic of ['a/1', 'a/1', 'b/2', 'c/3', 'b/2']) t.e.publish(pub(topic, 0));
    const wire = (t.sent() as PublishPacket[]).map((p) => [p.topic, p.properties?.topicAlias]);
    expect(wire).toEqual([
      ['a/1', 1],
      ['', 1],
      ['b/2', 2],
      ['c/3', undefined],
      ['', 2],
    ]);
  });

  describe('large payloads leave uncopied', () => {
    /** The output chunk that is `payload`'s own memory, if any. */
    const share = (chunks: Buffer[], payload: Buffer) =>
      chunks.filter(
        (c) =>
          c.buffer === payload.buffer &&
          c.byteOffset === payload.byteOffset &&
          c.byteLength === payload.byteLength,
      );

    it.each([
      ['QoS 0', 0, 4],
      ['QoS 1', 1, 4],
      ['QoS 2, MQTT 5', 2, 5],
      ['QoS 1, MQTT 5', 1, 5],
    ] as const)('%s: 1 KiB and 64 KiB payloads are written as they are', (_, qos, version) => {
      const t = setup({ protocolVersion: version });
      t.connect();
      const big = Buffer.alloc(64 * 1024, 7);
      const kib = Buffer.alloc(1024, 8);
      const a = pub('big/a', qos);
      a.packet.payload = big;
      const b = pub('big/b', qos);
      b.packet.payload = kib;
      t.e.publish(a);
      t.e.publish(b);
      const chunks = t.e.takeOutput(0);
      expect(share(chunks, big)).toHaveLength(1);
      expect(share(chunks, kib)).toHaveLength(1);
      // and the broker reads two whole, correct packets
      const wire = new PacketDecoder({ protocolVersion: version }).push(
        Buffer.concat(chunks),
      ) as PublishPacket[];
      expect(
        wire.map((p) => [p.topic, p.qos, Buffer.from(p.payload).equals(p.topic === 'big/a' ? big : kib)]),
      ).toEqual([
        ['big/a', qos, true],
        ['big/b', qos, true],
      ]);
    });

    it('a small payload is copied into the packet, one chunk for many packets', () => {
      const t = setup();
      t.connect();
      for (let i = 0; i < 10; i++) t.e.publish(pub('small', 1, 'x'.repeat(100)));
      expect(t.e.takeOutput(0)).toHaveLength(1);
    });

    it('with a topic alias, from the queue, and when replayed with DUP', () => {
      const t = setup({ clean: false });
      t.e.open(0);
      t.sent();
      const big = Buffer.alloc(4096, 1);
      const ops = [pub('alias/t', 1), pub('alias/t', 1)];
      for (const op of ops) {
        op.packet.payload = big;
        t.e.publish(op); // queued: no CONNACK yet
      }
      t.deliver({
        type: 'connack',
        sessionPresent: false,
        reasonCode: 0,
        properties: { topicAliasMaximum: 4 },
      });
      let chunks = t.e.takeOutput(0);
      expect(share(chunks, big)).toHaveLength(2);
      const decoder = new PacketDecoder({ protocolVersion: 5 });
      expect(
        (decoder.push(Buffer.concat(chunks)) as PublishPacket[]).map((p) => [
          p.topic,
          p.properties?.topicAlias,
          p.payload.byteLength,
        ]),
      ).toEqual([
        ['alias/t', 1, 4096],
        ['', 1, 4096],
      ]);
      t.e.connectionLost(false); // closed by this client: the next connection does not probe
      t.e.open(1000);
      t.sent();
      t.deliver({ type: 'connack', sessionPresent: true, reasonCode: 0 });
      chunks = t.e.takeOutput(1000);
      expect(share(chunks, big)).toHaveLength(2);
      expect(
        (new PacketDecoder({ protocolVersion: 5 }).push(Buffer.concat(chunks)) as PublishPacket[]).map(
          (p) => [p.dup, p.packetId, p.payload.byteLength],
        ),
      ).toEqual(ops.map((op) => [true, op.packetId, 4096]));
    });

    it('a large payload over the maximum packet size is refused before anything is written', () => {
      const t = setup();
      t.connect({ maximumPacketSize: 2000 });
      const op = pub('big', 1);
      op.packet.payload = Buffer.alloc(2000);
      expect(() => t.e.publish(op)).toThrow(/maximum packet size is 2000/);
      expect(t.e.takeOutput(0)).toEqual([]);
      expect(t.e.inflightCount).toBe(0);
    });
  });

  it('queues before CONNACK and sends on it', () => {
    const t = setup();
    t.e.open(0);
    t.sent();
    const op = pub('early', 1);
    expect(t.e.publish(op)).toBe(false);
    t.deliver({ type: 'connack', sessionPresent: false, reasonCode: 0 });
    expect(t.sent()).toMatchObject([{ type: 'publish', topic: 'early' }]);
  });

  it('cancels a queued publish but not one in flight', () => {
    const t = setup();
    t.connect({ receiveMaximum: 1 });
    const a = pub('a', 1);
    const b = pub('b', 1);
    t.e.publish(a);
    t.e.publish(b);
    expect(t.e.cancel(a)).toBe(false);
    expect(t.e.cancel(b)).toBe(true);
    t.sent();
    t.deliver({ type: 'puback', packetId: a.packetId });
    expect(t.sent()).toEqual([]);
  });

  it('replays what was in flight after a reconnect: PUBLISH with DUP, then PUBREL', () => {
    const t = setup({ clean: false });
    t.connect();
    const q1 = pub('one', 1);
    const q2 = pub('two', 2);
    t.e.publish(q1);
    t.e.publish(q2);
    t.sent();
    t.deliver({ type: 'pubrec', packetId: q2.packetId });
    t.sent();
    t.e.connectionLost();
    t.e.open(1000);
    t.sent();
    t.deliver({ type: 'connack', sessionPresent: true, reasonCode: 0 });
    // the connection ended with both unacknowledged: the oldest goes alone first (probing)
    expect(t.sent()).toMatchObject([{ type: 'publish', topic: 'one', dup: true, packetId: q1.packetId }]);
    t.deliver({ type: 'puback', packetId: q1.packetId });
    expect(t.sent()).toMatchObject([{ type: 'pubrel', packetId: q2.packetId }]);
  });
});

describe('replay across several reconnects', () => {
  it('resends each message once per connection and keeps the quota, however often the connection drops', () => {
    const t = setup({ clean: false });
    t.connect({ receiveMaximum: 3 });
    const ops = [1, 2, 3].map((i) => pub(`r/${i}`, 1));
    for (const op of ops) t.e.publish(op);
    t.sent();
    for (let round = 0; round < 3; round++) {
      t.e.connectionLost();
      t.e.open(0);
      t.sent();
      // a smaller window each time: the rest of the replay waits behind the quota
      t.deliver({ type: 'connack', sessionPresent: true, reasonCode: 0, properties: { receiveMaximum: 1 } });
      expect((t.sent() as PublishPacket[]).map((p) => p.topic)).toEqual(['r/1']);
    }
    t.deliver({ type: 'puback', packetId: ops[0].packetId });
    expect((t.sent() as PublishPacket[]).map((p) => p.topic)).toEqual(['r/2']);
    t.deliver({ type: 'puback', packetId: ops[1].packetId });
    expect((t.sent() as PublishPacket[]).map((p) => p.topic)).toEqual(['r/3']);
    t.deliver({ type: 'puback', packetId: ops[2].packetId });
    expect(t.sent()).toEqual([]);
    expect(t.e.pendingCount).toBe(0);
    expect(t.e.inflightCount).toBe(0);
    const next = pub('r/4', 1);
    t.e.publish(next);
    expect((t.sent() as PublishPacket[]).map((p) => p.topic)).toEqual(['r/4']);
  });
});

describe('incoming publish', () => {
  const msg = (qos: 0 | 1 | 2, packetId?: number, dup = false): PublishPacket => ({
    type: 'publish',
    topic: 'in/t',
    payload: Buffer.from('m'),
    qos,
    retain: false,
    dup,
    packetId,
  });

  it('delivers QoS 1 and acknowledges it', () => {
    const t = setup();
    t.connect();
    t.deliver(msg(1, 7));
    expect(t.h.messages).toHaveLength(1);
    expect(t.sent()).toEqual([{ type: 'puback', packetId: 7, reasonCode: 0 }]);
  });

  it('delivers QoS 2 exactly once across a resend', () => {
    const t = setup();
    t.connect();
    t.deliver(msg(2, 9));
    t.deliver(msg(2, 9, true));
    expect(t.h.messages).toHaveLength(1);
    expect(t.sent()).toEqual([
      { type: 'pubrec', packetId: 9, reasonCode: 0 },
      { type: 'pubrec', packetId: 9, reasonCode: 0 },
    ]);
    t.deliver({ type: 'pubrel', packetId: 9 });
    expect(t.sent()).toEqual([{ type: 'pubcomp', packetId: 9, reasonCode: 0 }]);
    t.deliver(msg(2, 9));
    expect(t.h.messages).toHaveLength(2);
  });

  it('forgets unreleased QoS 2 ids when the broker comes back without the session', () => {
    for (const sessionPresent of [true, false]) {
      const t = setup({ clean: false });
      t.connect();
      t.deliver(msg(2, 9));
      expect(t.sent()).toEqual([{ type: 'pubrec', packetId: 9, reasonCode: 0 }]);
      t.e.connectionLost();
      t.e.open(0);
      t.sent();
      t.deliver({ type: 'connack', sessionPresent, reasonCode: 0 });
      // a broker with the session resends (DUP); one without may use id 9 for a new message
      t.deliver(msg(2, 9, sessionPresent));
      expect(t.h.messages).toHaveLength(sessionPresent ? 1 : 2);
    }
  });

  it('holds a deferred acknowledgement, and those after it, until it is given, in arrival order', () => {
    const t = setup();
    t.connect();
    const tokens = new Map<number, IncomingAck>();
    const defer = new Set([1, 2, 5]);
    t.h.message = (p) => {
      if (defer.has(p.packetId as number)) tokens.set(p.packetId as number, t.e.deferAck() as IncomingAck);
    };
    for (const id of [1, 2, 3]) t.deliver(msg(1, id));
    t.deliver(msg(2, 4));
    expect(t.sent()).toEqual([]);
    t.e.acknowledge(tokens.get(2) as IncomingAck); // out of order: still held behind 1
    expect(t.sent()).toEqual([]);
    t.e.acknowledge(tokens.get(1) as IncomingAck);
    expect(t.sent()).toEqual([
      { type: 'puback', packetId: 1, reasonCode: 0 },
      { type: 'puback', packetId: 2, reasonCode: 0 },
      { type: 'puback', packetId: 3, reasonCode: 0 },
      { type: 'pubrec', packetId: 4, reasonCode: 0 },
    ]);
    // with nothing deferred, acknowledgements go out at once again
    t.deliver(msg(1, 6));
    expect(t.sent()).toEqual([{ type: 'puback', packetId: 6, reasonCode: 0 }]);
    t.e.acknowledge(tokens.get(1) as IncomingAck); // twice: nothing
    expect(t.sent()).toEqual([]);
  });

  it('holds a deferred QoS 2 id only once acknowledged, and voids tokens of a lost connection', () => {
    const t = setup({ clean: false });
    t.connect();
    let token: IncomingAck | undefined;
    t.h.message = () => {
      token = t.e.deferAck();
    };
    t.deliver(msg(2, 5));
    expect(t.sent()).toEqual([]);
    t.e.connectionLost();
    t.e.open(0);
    t.sent();
    t.deliver({ type: 'connack', sessionPresent: true, reasonCode: 0 });
    t.e.acknowledge(token as IncomingAck); // from the old connection: void
    expect(t.sent()).toEqual([]);
    // the broker sends it again and it is delivered again: it was never acknowledged
    const first = token;
    t.deliver(msg(2, 5, true));
    expect(token).not.toBe(first);
    t.e.acknowledge(token as IncomingAck);
    expect(t.sent()).toEqual([{ type: 'pubrec', packetId: 5, reasonCode: 0 }]);
    t.deliver(msg(2, 5, true)); // now a resend of a held id: PUBREC, no delivery
    expect(t.sent()).toEqual([{ type: 'pubrec', packetId: 5, reasonCode: 0 }]);
  });

  it('sends at once an acknowledgement given during the delivery itself', () => {
    const t = setup();
    t.connect();
    t.h.message = () => {
      t.e.acknowledge(t.e.deferAck() as IncomingAck);
    };
    t.deliver(msg(1, 8));
    expect(t.sent()).toEqual([{ type: 'puback', packetId: 8, reasonCode: 0 }]);
  });

  it('counts deferred messages against Receive Maximum', () => {
    const t = setup({ connectProperties: { receiveMaximum: 2 } });
    t.connect();
    t.h.message = () => {
      t.e.deferAck();
    };
    t.deliver(msg(1, 1));
    t.deliver(msg(2, 2));
    expect(t.h.closed).toEqual([]);
    t.deliver(msg(1, 3));
    expect(t.h.closed[0]?.reasonCode).toBe(0x93);
  });

  it('resolves topic aliases and rejects unknown or too large ones', () => {
    const t = setup({ connectProperties: { topicAliasMaximum: 3 } });
    t.connect();
    t.deliver({ ...msg(0), topic: 'long/topic/name', properties: { topicAlias: 2 } });
    t.deliver({ ...msg(0), topic: '', properties: { topicAlias: 2 } });
    expect(t.h.messages.map((m) => m.topic)).toEqual(['long/topic/name', 'long/topic/name']);
    t.deliver({ ...msg(0), topic: '', properties: { topicAlias: 1 } });
    expect(t.h.closed[0].reasonCode).toBe(0x82);
    expect(t.sent()).toEqual([{ type: 'disconnect', reasonCode: 0x82 }]);

    const u = setup({ connectProperties: { topicAliasMaximum: 3 } });
    u.connect();
    u.deliver({ ...msg(0), topic: 'x', properties: { topicAlias: 4 } });
    expect(u.h.closed[0].reasonCode).toBe(0x94);
  });

  it('closes with 0x93 when the server exceeds this client’s Receive Maximum', () => {
    const t = setup({ connectProperties: { receiveMaximum: 1 } });
    t.connect();
    t.deliver(msg(2, 1));
    t.deliver(msg(2, 2));
    expect(t.h.messages).toHaveLength(1);
    expect(t.h.closed[0].reasonCode).toBe(0x93);
  });

  it('closes with 0x81 on a malformed packet', () => {
    const t = setup();
    t.connect();
    t.e.receive(Buffer.from([0x30, 0x02, 0x00]), 0);
    t.e.receive(Buffer.from([0x05]), 0);
    expect(t.h.closed[0]).toBeInstanceOf(ProtocolError);
    expect(t.h.closed[0].reasonCode).toBe(0x81);
    expect(t.sent()).toEqual([{ type: 'disconnect', reasonCode: 0x81 }]);
    expect(t.e.state).toBe(EngineState.Idle);
  });
});

describe('subscribe and unsubscribe', () => {
  it('sends several filters with v5 options and reports per-filter reason codes', () => {
    const t = setup();
    t.connect();
    const op: ControlOp = {
      packet: {
        type: 'subscribe',
        packetId: 0,
        subscriptions: [
          { topicFilter: 'a/+', qos: 1, noLocal: true },
          { topicFilter: 'b/#', qos: 2, retainHandling: 2, retainAsPublished: true },
        ],
        properties: { subscriptionIdentifier: 5 },
      },
      packetId: 0,
      stage: 0,
    };
    t.e.control(op);
    const [s] = t.sent();
    expect(s).toMatchObject({
      type: 'subscribe',
      packetId: op.packetId,
      properties: { subscriptionIdentifier: 5 },
    });
    t.deliver({ type: 'suback', packetId: op.packetId, reasonCodes: [1, 0x87] });
    expect(t.h.subacks[0][1].reasonCodes).toEqual([1, 0x87]);

    const un: ControlOp = {
      packet: { type: 'unsubscribe', packetId: 0, topicFilters: ['a/+'] },
      packetId: 0,
      stage: 0,
    };
    t.e.control(un);
    t.sent();
    t.deliver({ type: 'unsuback', packetId: un.packetId, reasonCodes: [0] });
    expect(t.h.unsubacks).toHaveLength(1);
  });

  it('treats a SUBACK with the wrong number of codes as a protocol error', () => {
    const t = setup();
    t.connect();
    const op: ControlOp = {
      packet: { type: 'subscribe', packetId: 0, subscriptions: [{ topicFilter: 'a', qos: 0 }] },
      packetId: 0,
      stage: 0,
    };
    t.e.control(op);
    t.sent();
    t.deliver({ type: 'suback', packetId: op.packetId, reasonCodes: [0, 0] });
    expect(t.h.closed[0]).toBeInstanceOf(ProtocolError);
  });
});

describe('keepalive', () => {
  it('pings when idle and declares the connection dead 1.5 keepalives after the last packet', () => {
    const t = setup({ keepalive: 10 });
    t.connect(undefined, 0);
    expect(t.e.nextDeadline()).toBe(10_000);
    t.e.tick(9_999);
    expect(t.sent(9_999)).toEqual([]);
    t.e.tick(10_000);
    expect(t.sent(10_000)).toEqual([{ type: 'pingreq' }]);
    expect(t.e.roundTrip).toBeUndefined();
    t.deliver({ type: 'pingresp' }, 10_500);
    expect(t.e.roundTrip).toBe(500);
    expect(t.e.nextDeadline()).toBe(20_000);
    t.e.tick(20_000);
    expect(t.sent(20_000)).toEqual([{ type: 'pingreq' }]);
    expect(t.e.nextDeadline()).toBe(10_500 + 15_000);
    t.e.tick(25_499);
    expect(t.h.closed).toEqual([]);
    t.e.tick(25_500);
    expect(t.h.closed[0]).toBeInstanceOf(TimeoutError);
    expect(t.e.state).toBe(EngineState.Idle);
  });

  it('pings a silent server even while publishing QoS 0', () => {
    const t = setup({ keepalive: 10 });
    t.connect(undefined, 0);
    for (let now = 1000; now < 10_000; now += 1000) {
      t.e.publish(pub('t', 0));
      t.sent(now);
      t.e.tick(now);
    }
    t.e.tick(10_000);
    expect(t.sent(10_000)).toEqual([{ type: 'pingreq' }]);
  });

  it('follows Server Keep Alive', () => {
    const t = setup({ keepalive: 60 });
    t.connect({ serverKeepAlive: 5 }, 0);
    expect(t.e.nextDeadline()).toBe(5_000);
  });

  it('is off with keepalive 0', () => {
    const t = setup({ keepalive: 0 });
    t.connect();
    expect(t.e.nextDeadline()).toBe(Number.POSITIVE_INFINITY);
  });
});

describe('server DISCONNECT', () => {
  it('closes with the reason code and reason string', () => {
    const t = setup();
    t.connect();
    t.deliver({ type: 'disconnect', reasonCode: 0x8b, properties: { reasonString: 'maintenance' } });
    const err = t.h.closed[0];
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.reasonCode).toBe(0x8b);
    expect(err.message).toMatch(/Server shutting down.*maintenance/);
    expect(t.e.state).toBe(EngineState.Idle);
  });
});

describe('MQTT 3.1.1', () => {
  it('publishes and acknowledges without properties or reason codes', () => {
    const t = setup({ protocolVersion: 4 });
    t.connect();
    const op = pub('a', 2);
    t.e.publish(op);
    t.sent();
    t.deliver({ type: 'pubrec', packetId: op.packetId });
    expect(t.sent()).toEqual([{ type: 'pubrel', packetId: op.packetId, reasonCode: 0 }]);
    t.deliver({ type: 'pubcomp', packetId: op.packetId });
    expect(t.h.done).toEqual([[op, 0]]);
  });

  it('closes without DISCONNECT on a malformed packet', () => {
    const t = setup({ protocolVersion: 4 });
    t.connect();
    t.e.receive(Buffer.from([0x00, 0x00]), 0);
    expect(t.h.closed[0].reasonCode).toBe(0x81);
    expect(t.sent()).toEqual([]);
  });
});

describe('a server that breaks the rules', () => {
  it('refuses Session Present 1 in answer to a clean start: DISCONNECT 0x82 (MQTT 5), a plain close (3.1.1)', () => {
    for (const version of [5, 4] as const) {
      const t = setup({ protocolVersion: version, clean: true });
      t.e.open(0);
      t.sent();
      t.deliver({ type: 'connack', sessionPresent: true, reasonCode: 0 });
      expect(t.h.connacks).toEqual([]);
      expect(t.h.closed[0]).toBeInstanceOf(ProtocolError);
      expect(t.h.closed[0].message).toMatch(/answered a clean start with Session Present 1/);
      expect(t.e.state).toBe(EngineState.Idle);
      expect(t.sent()).toEqual(version === 5 ? [{ type: 'disconnect', reasonCode: 0x82 }] : []);
    }
    // resuming a session: Session Present 1 is the answer hoped for
    const t = setup({ clean: false });
    t.e.open(0);
    t.deliver({ type: 'connack', sessionPresent: true, reasonCode: 0 });
    expect(t.e.state).toBe(EngineState.Connected);
  });

  it('says what a server that is not MQTT answered, from the first bytes across chunks', () => {
    const t = setup();
    t.e.open(0);
    t.sent();
    t.e.receive(Buffer.from('HTTP/1.1 400 Bad'), 0); // 'H' (0x48) reads as a PUBACK with flags 0x8
    t.e.receive(Buffer.from(' Request\r\nConnection: close\r\n\r\n'), 0);
    expect(t.h.closed).toHaveLength(1);
    const err = t.h.closed[0];
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err.reasonCode).toBe(0x81);
    expect(err.message).toBe(
      'the server did not answer CONNECT with a CONNACK: it sent "HTTP/1.1 400 Bad"; is this an MQTT port?',
    );
    // the first chunk alone already failed: later ones are not read
    expect(t.sent()).toEqual([{ type: 'disconnect', reasonCode: 0x81 }]);
  });

  it('keeps the first bytes only until CONNACK: a malformed packet later is described as one', () => {
    const t = setup();
    t.connect();
    expect(t.e.unansweredConnect).toBeUndefined();
    t.e.receive(Buffer.from('HTTP/1.1'), 0);
    expect(t.h.closed[0].message).toBe(
      'malformed packet from the server: PUBACK has fixed header flags 0x8, must be 0x0',
    );
  });

  it('describes an answer that began like an MQTT packet and never completed', () => {
    const t = setup();
    t.e.open(0);
    t.e.receive(Buffer.from([0x20, 0x09, 0x00]), 0);
    expect(t.e.unansweredConnect).toBe('it sent 3 bytes of a CONNACK, never the rest');
    t.e.connectionLost();
    expect(t.e.unansweredConnect).toBeUndefined();
  });

  it('refuses a 200 MB packet at its fixed header: nothing of the body is buffered', () => {
    const t = setup({ connectProperties: { maximumPacketSize: 16 * 1024 * 1024 } });
    t.connect();
    t.e.receive(Buffer.from([0x30, 0x80, 0x84, 0xaf]), 0); // the remaining length, not complete yet
    expect(t.h.closed).toEqual([]);
    t.e.receive(Buffer.concat([Buffer.from([0x5f]), Buffer.alloc(64 * 1024)]), 0);
    expect(t.h.closed[0].reasonCode).toBe(0x95);
    expect(t.h.closed[0].message).toMatch(
      /PUBLISH of 200000005 bytes exceeds the maximum packet size of 16777216/,
    );
    expect(t.sent()).toEqual([{ type: 'disconnect', reasonCode: 0x95 }]);
    expect(t.e.bufferedBytes).toBeLessThanOrEqual(5);
  });

  it('a packet trickling in one byte a second keeps a connection alive and is read whole', () => {
    const t = setup({ keepalive: 10 });
    t.connect(undefined, 0);
    const bytes = encode(
      {
        type: 'publish',
        topic: 'slow',
        payload: Buffer.from('drip'),
        qos: 1,
        packetId: 3,
        retain: false,
        dup: false,
      },
      5,
    );
    let now = 0;
    for (const b of bytes) {
      now += 1000;
      t.e.tick(now);
      t.e.receive(Buffer.from([b]), now);
    }
    expect(t.h.closed).toEqual([]);
    expect(t.h.messages.map((m) => [m.topic, m.payload.toString()])).toEqual([['slow', 'drip']]);
    // then silence: the PINGREQ goes unanswered and the connection is dead 1.5 keepalives after the last byte
    t.e.tick(now + 10_000);
    t.e.tick(now + 15_000);
    expect(t.h.closed[0]).toBeInstanceOf(TimeoutError);
  });
});
