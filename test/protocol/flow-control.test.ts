/**
 * The engine's send window, brokers without QoS 2, and the poison-message
 * guard: what goes on the wire, decoded as the broker sees it.
 */
import { describe, expect, it } from 'vitest';
import type { PublishPacket } from '../../src/codec/index.js';
import { DEFAULT_MAX_INFLIGHT } from '../../src/protocol/engine.js';
import { pub, setup } from './engine-harness.js';

function publishes(packets: { type: string }[]): PublishPacket[] {
  return packets.filter((p) => p.type === 'publish') as PublishPacket[];
}

describe('send window', () => {
  it('MQTT 3.1.1 sends at most 20 QoS 2 publishes in flight by default, the rest as acks free room', () => {
    const t = setup({ protocolVersion: 4 });
    t.connect();
    const ops = Array.from({ length: 50 }, () => pub('w/t', 2));
    for (const op of ops) t.e.publish(op);
    const first = publishes(t.sent());
    expect(first).toHaveLength(DEFAULT_MAX_INFLIGHT);
    expect(t.e.pendingCount).toBe(50 - DEFAULT_MAX_INFLIGHT);
    // PUBREC frees nothing: the message is in flight until PUBCOMP
    t.deliver({ type: 'pubrec', packetId: first[0].packetId as number });
    expect(publishes(t.sent())).toHaveLength(0);
    t.deliver({ type: 'pubcomp', packetId: first[0].packetId as number });
    expect(publishes(t.sent())).toHaveLength(1);
  });

  it('MQTT 3.1.1 does not hold QoS 1 back by default, and keeps the order behind a waiting QoS 2', () => {
    const t = setup({ protocolVersion: 4 });
    t.connect();
    for (let i = 0; i < 500; i++) t.e.publish(pub('w/one', 1));
    expect(publishes(t.sent())).toHaveLength(500);
    for (let i = 0; i < DEFAULT_MAX_INFLIGHT + 1; i++) t.e.publish(pub('w/two', 2));
    t.e.publish(pub('w/one', 1));
    const sent = publishes(t.sent());
    expect(sent.map((p) => p.qos)).toEqual(Array(DEFAULT_MAX_INFLIGHT).fill(2));
    t.deliver({ type: 'pubrec', packetId: sent[0].packetId as number });
    t.sent();
    t.deliver({ type: 'pubcomp', packetId: sent[0].packetId as number });
    expect(publishes(t.sent()).map((p) => p.qos)).toEqual([2, 1]);
  });

  it('maxInflight sets the 3.1.1 window for QoS 1 and 2', () => {
    const t = setup({ protocolVersion: 4, maxInflight: 3 });
    t.connect();
    for (let i = 0; i < 10; i++) t.e.publish(pub('w/t', i % 2 === 0 ? 1 : 2));
    expect(publishes(t.sent())).toHaveLength(3);
  });

  it('MQTT 5 follows the Receive Maximum, lowered by maxInflight only when set', () => {
    const plain = setup();
    plain.connect({ receiveMaximum: 100 });
    for (let i = 0; i < 150; i++) plain.e.publish(pub('w/t', 1));
    expect(publishes(plain.sent())).toHaveLength(100);

    const capped = setup({ maxInflight: 7 });
    capped.connect({ receiveMaximum: 100 });
    for (let i = 0; i < 20; i++) capped.e.publish(pub('w/t', 1));
    expect(publishes(capped.sent())).toHaveLength(7);

    const lower = setup({ maxInflight: 50 });
    lower.connect({ receiveMaximum: 5 });
    for (let i = 0; i < 20; i++) lower.e.publish(pub('w/t', 1));
    expect(publishes(lower.sent())).toHaveLength(5);
  });
});

describe('a broker without QoS 2', () => {
  it('completes a QoS 2 publish answered with PUBACK and sends QoS 1 at most from then on', () => {
    const t = setup({ protocolVersion: 4 });
    t.connect();
    const op = pub('q/t', 2);
    t.e.publish(op);
    const [sent] = publishes(t.sent());
    t.deliver({ type: 'puback', packetId: sent.packetId as number });
    expect(t.h.closed).toEqual([]);
    expect(t.h.done).toEqual([[op, 0]]);
    expect(t.e.limits.maximumQoS).toBe(1);
    // remembered across connections of the session
    t.e.connectionLost();
    t.connect();
    expect(t.e.limits.maximumQoS).toBe(1);
  });

  it('a PUBACK after PUBREL is still a protocol error', () => {
    const t = setup();
    t.connect();
    t.e.publish(pub('q/t', 2));
    const [sent] = publishes(t.sent());
    t.deliver({ type: 'pubrec', packetId: sent.packetId as number });
    t.deliver({ type: 'puback', packetId: sent.packetId as number });
    expect(t.h.closed[0]?.message).toMatch(/PUBACK for QoS 2/);
  });

  it('maximumQoS is the limit before any CONNACK, and a CONNACK cannot raise it', () => {
    const t = setup({ maximumQoS: 1 });
    expect(t.e.limits.maximumQoS).toBe(1);
    t.connect();
    expect(t.e.limits.maximumQoS).toBe(1);
  });
});

describe('poison-message guard', () => {
  it('gives up a publish after maxDeliveryAttempts connections ended without acknowledging it', () => {
    const t = setup({ protocolVersion: 4, clean: false, maxDeliveryAttempts: 3 });
    t.connect();
    const op = pub('p/t', 2);
    t.e.publish(op);
    for (let attempt = 1; attempt <= 3; attempt++) {
      expect(publishes(t.sent())).toHaveLength(1);
      t.e.connectionLost();
      if (attempt < 3) {
        expect(t.h.givenUp).toEqual([]);
        t.connect();
      }
    }
    expect(t.h.givenUp).toEqual([op]);
    expect(t.e.inflightCount).toBe(0);
    // nothing is replayed on the next connection
    t.connect();
    expect(publishes(t.sent())).toEqual([]);
  });

  it('a connection closed by this client counts no attempt', () => {
    const t = setup({ clean: false, maxDeliveryAttempts: 1 });
    t.connect();
    t.e.publish(pub('p/t', 1));
    t.sent();
    t.e.connectionLost(false);
    expect(t.h.givenUp).toEqual([]);
    expect(t.e.inflightCount).toBe(1);
  });

  it('after a connection that ended with publishes unacknowledged, the next probes with the oldest alone', () => {
    const t = setup({ protocolVersion: 4, clean: false, maxDeliveryAttempts: 2 });
    t.connect();
    const ops = [pub('p/a', 1), pub('p/poison', 1), pub('p/c', 1)];
    for (const op of ops) t.e.publish(op);
    const first = publishes(t.sent());
    expect(first).toHaveLength(3);
    // the broker acknowledges the first, then closes over the second
    t.deliver({ type: 'puback', packetId: first[0].packetId as number });
    t.e.connectionLost();
    expect(t.h.givenUp).toEqual([]);
    // the poison alone is sent; the broker closes again
    t.connect();
    expect(publishes(t.sent()).map((p) => p.topic)).toEqual(['p/poison']);
    t.e.connectionLost();
    expect(t.h.givenUp).toEqual([ops[1]]); // its second attempt; p/c had one
    // p/c alone, then the whole window once it is acknowledged
    t.connect();
    const probe = publishes(t.sent());
    expect(probe.map((p) => [p.topic, p.dup])).toEqual([['p/c', true]]);
    t.e.publish(pub('p/d', 1));
    t.e.publish(pub('p/e', 1));
    expect(publishes(t.sent())).toEqual([]);
    t.deliver({ type: 'puback', packetId: probe[0].packetId as number });
    expect(publishes(t.sent()).map((p) => p.topic)).toEqual(['p/d', 'p/e']);
    expect(t.h.givenUp).toEqual([ops[1]]);
  });

  it('counts attempts per stage: a PUBREC starts the count again', () => {
    const t = setup({ clean: false, maxDeliveryAttempts: 2 });
    t.connect();
    const op = pub('p/t', 2);
    t.e.publish(op);
    const [sent] = publishes(t.sent());
    t.e.connectionLost();
    t.connect();
    t.sent();
    t.deliver({ type: 'pubrec', packetId: sent.packetId as number });
    t.e.connectionLost();
    expect(t.h.givenUp).toEqual([]);
    t.connect();
    expect(t.sent().map((p) => p.type)).toEqual(['pubrel']);
  });

  it('0 turns the guard off', () => {
    const t = setup({ clean: false, maxDeliveryAttempts: 0 });
    t.connect();
    t.e.publish(pub('p/t', 1));
    for (let i = 0; i < 20; i++) {
      t.sent();
      t.e.connectionLost();
      t.connect();
    }
    expect(t.h.givenUp).toEqual([]);
    expect(publishes(t.sent())).toHaveLength(1);
  });
});
