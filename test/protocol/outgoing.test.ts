/**
 * This client's operations through the engine (src/protocol/outgoing.ts,
 * acks.ts, publish-writer.ts): publishes of each QoS, the send quota, packet
 * ids, topic aliases, large payloads, replay after reconnects, SUBSCRIBE and
 * UNSUBSCRIBE. A scripted broker side, a fake clock, no sockets.
 */
import { describe, expect, it } from 'vitest';
import { EncodeError, PacketDecoder, type PublishPacket } from '../../src/codec/index.js';
import { ProtocolError } from '../../src/core/errors.js';
import type { ControlOp } from '../../src/protocol/engine.js';

import { pub, setup } from './engine-harness.js';

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
