/**
 * The client engine against a scripted broker side, with a fake clock and no
 * sockets: what the engine writes is decoded and checked, what the broker
 * says is encoded and fed in.
 */
import { describe, expect, it } from 'vitest';
import { encode } from '../../src/codec/index.js';
import { ConnectionError, ProtocolError, TimeoutError } from '../../src/core/errors.js';
import { EngineState } from '../../src/protocol/engine.js';

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
