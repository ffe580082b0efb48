/**
 * The server's messages through the engine (src/protocol/incoming.ts,
 * aliases.ts): delivery, acknowledgements deferred and in order, QoS 2
 * exactly once, topic aliases, Receive Maximum. A scripted broker side, a
 * fake clock, no sockets.
 */
import { describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../src/codec/index.js';
import { ProtocolError } from '../../src/core/errors.js';
import { EngineState, type IncomingAck } from '../../src/protocol/engine.js';

import { setup } from './engine-harness.js';

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
