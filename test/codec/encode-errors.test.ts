/**
 * Invalid packets handed to the encoder: each throws EncodeError whose
 * `field` names the offending field, both from `encode` and, prefixed with
 * `packets[i].`, from `encodeBatch`. The rules are the MQTT 3.1.1 and 5.0
 * requirements on what a sender may put on the wire.
 */
import { describe, expect, it } from 'vitest';
import {
  type ConnectPacket,
  EncodeError,
  type EncodeOptions,
  encode,
  encodeBatch,
  type Packet,
  type PublishPacket,
  type SubscribePacket,
  type Subscription,
  type Will,
} from '../../src/codec/index.js';

type Version = 4 | 5;

/** Lets a test build a packet the types do not allow. */
function bad(p: object): Packet {
  return p as unknown as Packet;
}

function caught(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

const ping: Packet = { type: 'pingreq' };

/**
 * Expects `packet` to be rejected with `field`, by `encode` and, as the
 * second packet of a batch, by `encodeBatch` with `packets[1].field`.
 */
function expectEncodeError(
  packet: Packet,
  version: Version,
  field: string,
  options?: EncodeOptions,
): EncodeError {
  const err = caught(() => encode(packet, version, options));
  expect(err).toBeInstanceOf(EncodeError);
  const e = err as EncodeError;
  expect(e.field).toBe(field);
  expect(e.code).toBe('ERR_MQTT_ENCODE');
  expect(e.message.startsWith(field)).toBe(true);
  expect(e.message).toBe(`${field}: ${e.reason}`);
  expect(e.reason.length).toBeGreaterThan(0);

  const batchErr = caught(() => encodeBatch([ping, packet, ping], version, options));
  expect(batchErr).toBeInstanceOf(EncodeError);
  const b = batchErr as EncodeError;
  expect(b.field).toBe(`packets[1].${field}`);
  expect(b.message).toBe(`packets[1].${field}: ${e.reason}`);
  expect(b.reason).toBe(e.reason);
  expect(b.reasonCode).toBe(e.reasonCode);
  return e;
}

const publish: PublishPacket = {
  type: 'publish',
  topic: 'a/b',
  payload: Buffer.from('x'),
  qos: 0,
  retain: false,
  dup: false,
};
const publish1: PublishPacket = { ...publish, qos: 1, packetId: 1 };
const connect: ConnectPacket = { type: 'connect', clientId: 'c', clean: true, keepalive: 60 };
const will: Will = { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: false };
const subscription: Subscription = { topicFilter: 'a/b', qos: 0 };
const subscribe: SubscribePacket = { type: 'subscribe', packetId: 1, subscriptions: [subscription] };

describe('PUBLISH topic name (3.3.2.1, 4.7.3)', () => {
  it.each(['a/+', 'a/#', '#', '+', 'a+b', 'sport/tennis#'])('rejects the wildcard topic %s', (topic) => {
    for (const v of [4, 5] as const) expectEncodeError({ ...publish, topic }, v, 'topic');
  });

  it.each([4, 5] as const)('rejects an empty topic without a topic alias (v%i)', (v) => {
    expectEncodeError({ ...publish, topic: '' }, v, 'topic');
  });

  it('rejects an empty topic with a topic alias in 3.1.1, which has no topic aliases', () => {
    const err = caught(() => encode(bad({ ...publish, topic: '', properties: { topicAlias: 1 } }), 4));
    expect(err).toBeInstanceOf(EncodeError);
    expect(['topic', 'properties.topicAlias']).toContain((err as EncodeError).field);
  });

  it.each([4, 5] as const)('rejects U+0000 (v%i)', (v) => {
    expectEncodeError({ ...publish, topic: 'a\u0000b' }, v, 'topic');
  });

  it.each([
    ['a lone high surrogate', 'a\ud800b'],
    ['a lone low surrogate', 'a\udc00b'],
    ['a high surrogate at the end', 'ab\ud83d'],
    ['reversed surrogates', '\ude00\ud83d'],
  ])('rejects %s, which has no UTF-8 encoding (1.5.4)', (_name, topic) => {
    expectEncodeError({ ...publish, topic }, 5, 'topic');
  });

  it('rejects an ASCII topic of 65,536 bytes', () => {
    expectEncodeError({ ...publish, topic: 'a'.repeat(65536) }, 5, 'topic');
  });

  it('rejects a non-ASCII topic of 65,536 bytes in UTF-8 (32,768 characters)', () => {
    expectEncodeError({ ...publish, topic: '\u00e9'.repeat(32768) }, 5, 'topic');
  });

  it('accepts a topic of exactly 65,535 bytes', () => {
    const out = encode({ ...publish, topic: 'a'.repeat(65535) }, 5);
    // fixed header 0x30 + 3-byte remaining length, then the length prefix ff ff
    expect([...out.subarray(4, 6)]).toEqual([0xff, 0xff]);
    expect(out.byteLength).toBe(1 + 3 + 2 + 65535 + 1 + 1);
  });
});

describe('PUBLISH fields', () => {
  it.each([3, -1, 1.5, '1'])('rejects qos %s', (qos) => {
    expectEncodeError(bad({ ...publish1, qos }), 5, 'qos');
  });

  it.each([0, 65536, -1, 1.5])('rejects packetId %s for QoS 1', (packetId) => {
    expectEncodeError(bad({ ...publish1, packetId }), 5, 'packetId');
  });

  it.each([1, 2] as const)('rejects a missing packetId for QoS %i (2.2.1)', (qos) => {
    expectEncodeError(bad({ ...publish, qos }), 4, 'packetId');
    expectEncodeError(bad({ ...publish, qos }), 5, 'packetId');
  });

  it('rejects dup on a QoS 0 message (3.3.1.1)', () => {
    expectEncodeError({ ...publish, dup: true }, 4, 'dup');
    expectEncodeError({ ...publish, dup: true }, 5, 'dup');
  });

  it('rejects a payload that is not bytes', () => {
    expectEncodeError(bad({ ...publish, payload: 'text' }), 5, 'payload');
  });
});

describe('properties (2.2.2)', () => {
  it('rejects a property not allowed in the packet: topicAlias on CONNECT', () => {
    expectEncodeError(bad({ ...connect, properties: { topicAlias: 1 } }), 5, 'properties.topicAlias');
  });

  it.each([
    ['sessionExpiryInterval on PUBLISH', { ...publish, properties: { sessionExpiryInterval: 1 } }],
    ['contentType on PUBACK', { type: 'puback', packetId: 1, properties: { contentType: 'a' } }],
    ['reasonString on SUBSCRIBE', { ...subscribe, properties: { reasonString: 'a' } }],
    ['serverReference on AUTH', { type: 'auth', reasonCode: 0x18, properties: { serverReference: 'a' } }],
    [
      'topicAlias on CONNACK',
      { type: 'connack', sessionPresent: false, reasonCode: 0, properties: { topicAlias: 1 } },
    ],
    [
      'sessionExpiryInterval on AUTH',
      { type: 'auth', reasonCode: 0x18, properties: { sessionExpiryInterval: 1 } },
    ],
  ])('rejects %s', (name, packet) => {
    const prop = name.split(' ')[0];
    expectEncodeError(bad(packet), 5, `properties.${prop}`);
  });

  it('rejects a will property that is not a will property', () => {
    const packet = bad({ ...connect, will: { ...will, properties: { subscriptionIdentifier: 1 } } });
    expectEncodeError(packet, 5, 'will.properties.subscriptionIdentifier');
  });

  it('rejects an unknown property', () => {
    expectEncodeError(bad({ ...publish, properties: { colour: 'red' } }), 5, 'properties.colour');
  });

  it.each([
    [
      'PUBLISH',
      { ...publish, properties: { messageExpiryInterval: 10 } },
      'properties.messageExpiryInterval',
    ],
    [
      'CONNECT',
      { ...connect, properties: { sessionExpiryInterval: 10 } },
      'properties.sessionExpiryInterval',
    ],
    [
      'CONNECT will',
      { ...connect, will: { ...will, properties: { willDelayInterval: 1 } } },
      'will.properties.willDelayInterval',
    ],
    ['PUBACK', { type: 'puback', packetId: 1, properties: { reasonString: 'a' } }, 'properties.reasonString'],
    [
      'SUBSCRIBE',
      { ...subscribe, properties: { userProperties: [['a', 'b']] } },
      'properties.userProperties',
    ],
    ['DISCONNECT', { type: 'disconnect', properties: { reasonString: 'a' } }, 'properties.reasonString'],
  ])('rejects any property on 3.1.1 %s', (_name, packet, field) => {
    expectEncodeError(bad(packet), 4, field);
  });

  it.each([
    ['topicAlias 0 (3.3.2.3.4)', { topicAlias: 0 }, 'properties.topicAlias'],
    ['topicAlias 65536', { topicAlias: 65536 }, 'properties.topicAlias'],
    [
      'subscriptionIdentifier 0 (3.3.2.3.8)',
      { subscriptionIdentifier: 0 },
      'properties.subscriptionIdentifier',
    ],
    [
      'subscriptionIdentifier past the VBI range',
      { subscriptionIdentifier: 268435456 },
      'properties.subscriptionIdentifier',
    ],
    ['messageExpiryInterval 2^32', { messageExpiryInterval: 2 ** 32 }, 'properties.messageExpiryInterval'],
    [
      'payloadFormatIndicator 1 (must be a boolean)',
      { payloadFormatIndicator: 1 },
      'properties.payloadFormatIndicator',
    ],
    ['a user property that is not a pair', { userProperties: [['a']] }, 'properties.userProperties[0]'],
    [
      'U+0000 in a user property value',
      {
        userProperties: [
          ['a', 'b'],
          ['c', '\u0000'],
        ],
      },
      'properties.userProperties[1][1]',
    ],
    ['a lone surrogate in contentType', { contentType: '\ud800' }, 'properties.contentType'],
  ])('rejects PUBLISH %s', (_name, properties, field) => {
    expectEncodeError(bad({ ...publish, properties }), 5, field);
  });

  it.each([
    ['receiveMaximum 0 (3.1.2.11.3)', { receiveMaximum: 0 }, 'properties.receiveMaximum'],
    ['maximumPacketSize 0 (3.1.2.11.4)', { maximumPacketSize: 0 }, 'properties.maximumPacketSize'],
  ])('rejects CONNECT %s', (_name, properties, field) => {
    expectEncodeError(bad({ ...connect, properties }), 5, field);
  });

  it('rejects binary data and strings over 65,535 bytes (1.5.6, 1.5.4)', () => {
    const big = Buffer.alloc(65536);
    expectEncodeError({ ...publish, properties: { correlationData: big } }, 5, 'properties.correlationData');
    expectEncodeError({ ...connect, username: 'u', password: big }, 5, 'password');
    expectEncodeError({ ...connect, will: { ...will, payload: big } }, 5, 'will.payload');
    const long = 'k'.repeat(65536);
    expectEncodeError(
      { ...publish, properties: { userProperties: [[long, 'v']] } },
      5,
      'properties.userProperties[0][0]',
    );
  });

  it('rejects CONNECT authentication data without an authentication method (3.1.2.11.10)', () => {
    const err = caught(() => encode({ ...connect, properties: { authenticationData: Buffer.from([1]) } }, 5));
    expect(err).toBeInstanceOf(EncodeError);
    expect(['properties.authenticationData', 'properties.authenticationMethod']).toContain(
      (err as EncodeError).field,
    );
  });

  it('rejects CONNACK maximumQoS 2 (3.2.2.3.4)', () => {
    const connack = { type: 'connack', sessionPresent: false, reasonCode: 0, properties: { maximumQoS: 2 } };
    expectEncodeError(bad(connack), 5, 'properties.maximumQoS');
  });
});

describe('CONNECT and CONNACK (3.1, 3.2)', () => {
  it('rejects protocolVersion in the packet that differs from the encoder version', () => {
    expectEncodeError({ ...connect, protocolVersion: 5 }, 4, 'protocolVersion');
  });

  it('rejects keepalive outside 0..65535', () => {
    expectEncodeError({ ...connect, keepalive: 65536 }, 5, 'keepalive');
  });

  it('rejects U+0000 in the client id and a lone surrogate in the user name', () => {
    expectEncodeError({ ...connect, clientId: 'a\u0000' }, 5, 'clientId');
    expectEncodeError({ ...connect, username: '\udfff' }, 5, 'username');
  });

  it('rejects a will topic with a wildcard and will QoS 3 (3.1.3.3, 3.1.2.6)', () => {
    expectEncodeError({ ...connect, will: { ...will, topic: 'a/#' } }, 5, 'will.topic');
    expectEncodeError(bad({ ...connect, will: { ...will, qos: 3 } }), 5, 'will.qos');
  });

  it('rejects a password without a user name in 3.1.1 (3.1.2.9)', () => {
    expectEncodeError({ ...connect, password: Buffer.from('p') }, 4, 'password');
  });

  it('rejects an empty client id with clean session 0 in 3.1.1 (3.1.3.1)', () => {
    expectEncodeError({ ...connect, clientId: '', clean: false }, 4, 'clientId');
  });

  it.each([
    [4, 6],
    [4, 0x80],
    [5, 0x01],
    [5, 0x8b],
  ] as const)('rejects CONNACK v%i reason code %i', (version, reasonCode) => {
    expectEncodeError({ type: 'connack', sessionPresent: false, reasonCode }, version, 'reasonCode');
  });

  it('rejects session present on a refused connection (3.2.2.1.1)', () => {
    expectEncodeError({ type: 'connack', sessionPresent: true, reasonCode: 5 }, 4, 'sessionPresent');
    expectEncodeError({ type: 'connack', sessionPresent: true, reasonCode: 0x87 }, 5, 'sessionPresent');
  });
});

describe('acknowledgements (3.4 - 3.7)', () => {
  it.each([
    ['puback', 0x92],
    ['pubrec', 0x92],
    ['pubrel', 0x10],
    ['pubcomp', 0x80],
    ['puback', 0x04],
  ] as const)('rejects %s with reason code %i', (type, reasonCode) => {
    expectEncodeError({ type, packetId: 1, reasonCode }, 5, 'reasonCode');
  });

  it('rejects a non-zero reason code in 3.1.1', () => {
    expectEncodeError({ type: 'puback', packetId: 1, reasonCode: 0x80 }, 4, 'reasonCode');
  });

  it.each([0, 65536])('rejects packetId %i', (packetId) => {
    for (const type of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
      expectEncodeError({ type, packetId }, 5, 'packetId');
    }
  });
});

describe('SUBSCRIBE and UNSUBSCRIBE (3.8, 3.10)', () => {
  it('rejects an empty subscriptions list (3.8.3)', () => {
    expectEncodeError({ ...subscribe, subscriptions: [] }, 4, 'subscriptions');
    expectEncodeError({ ...subscribe, subscriptions: [] }, 5, 'subscriptions');
  });

  it('rejects an empty topicFilters list (3.10.3)', () => {
    expectEncodeError({ type: 'unsubscribe', packetId: 1, topicFilters: [] }, 5, 'topicFilters');
  });

  it.each(['a/#/b', 'a#', 'a+', '', '$share/g', '$share//a', '$share/g+/a', 'a\u0000'])(
    'rejects the topic filter "%s"',
    (topicFilter) => {
      const subscriptions = [subscription, { topicFilter, qos: 0 as const }];
      expectEncodeError({ ...subscribe, subscriptions }, 5, 'subscriptions[1].topicFilter');
      expectEncodeError(
        { type: 'unsubscribe', packetId: 1, topicFilters: ['a', topicFilter] },
        5,
        'topicFilters[1]',
      );
    },
  );

  it('rejects noLocal on a shared subscription (3.8.3.1)', () => {
    const subscriptions = [subscription, { topicFilter: '$share/g/a', qos: 1 as const, noLocal: true }];
    expectEncodeError({ ...subscribe, subscriptions }, 5, 'subscriptions[1].noLocal');
  });

  it.each([
    ['noLocal', { noLocal: true }],
    ['retainAsPublished', { retainAsPublished: true }],
    ['retainHandling', { retainHandling: 1 as const }],
  ])('rejects the MQTT 5 option %s on 3.1.1', (option, extra) => {
    const subscriptions = [{ ...subscription, ...extra }];
    expectEncodeError({ ...subscribe, subscriptions }, 4, `subscriptions[0].${option}`);
  });

  it('rejects requested QoS 3 and retain handling 3', () => {
    expectEncodeError(
      bad({ ...subscribe, subscriptions: [{ topicFilter: 'a', qos: 3 }] }),
      5,
      'subscriptions[0].qos',
    );
    const rh3 = { topicFilter: 'a', qos: 0, retainHandling: 3 };
    expectEncodeError(bad({ ...subscribe, subscriptions: [rh3] }), 5, 'subscriptions[0].retainHandling');
  });

  it('rejects several subscription identifiers or 0 in SUBSCRIBE (3.8.2.1.2)', () => {
    const ids = bad({ ...subscribe, properties: { subscriptionIdentifier: [1, 2] } });
    expectEncodeError(ids, 5, 'properties.subscriptionIdentifier');
    expectEncodeError(
      { ...subscribe, properties: { subscriptionIdentifier: 0 } },
      5,
      'properties.subscriptionIdentifier',
    );
  });

  it('rejects packetId 0', () => {
    expectEncodeError({ ...subscribe, packetId: 0 }, 5, 'packetId');
    expectEncodeError({ type: 'unsubscribe', packetId: 0, topicFilters: ['a'] }, 5, 'packetId');
  });
});

describe('SUBACK and UNSUBACK (3.9, 3.11)', () => {
  it('rejects reason codes not valid for the packet', () => {
    expectEncodeError({ type: 'suback', packetId: 1, reasonCodes: [0, 0x11] }, 5, 'reasonCodes[1]');
    expectEncodeError({ type: 'suback', packetId: 1, reasonCodes: [0x8f] }, 4, 'reasonCodes[0]');
    expectEncodeError({ type: 'unsuback', packetId: 1, reasonCodes: [0x02] }, 5, 'reasonCodes[0]');
  });

  it('rejects an empty reason code list', () => {
    expectEncodeError({ type: 'suback', packetId: 1, reasonCodes: [] }, 5, 'reasonCodes');
    expectEncodeError({ type: 'unsuback', packetId: 1, reasonCodes: [] }, 5, 'reasonCodes');
  });

  it('rejects failure codes on a 3.1.1 UNSUBACK, which has none', () => {
    expectEncodeError({ type: 'unsuback', packetId: 1, reasonCodes: [0x80] }, 4, 'reasonCodes');
  });
});

describe('DISCONNECT and AUTH (3.14, 3.15)', () => {
  it('rejects reason codes not valid for the packet', () => {
    expectEncodeError({ type: 'disconnect', reasonCode: 0x18 }, 5, 'reasonCode');
    expectEncodeError({ type: 'auth', reasonCode: 0x04 }, 5, 'reasonCode');
    expectEncodeError({ type: 'disconnect', reasonCode: 0x80 }, 4, 'reasonCode');
  });

  it('rejects AUTH on 3.1.1', () => {
    expectEncodeError(
      { type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'm' } },
      4,
      'type',
    );
    expectEncodeError({ type: 'auth' }, 4, 'type');
  });

  it('rejects a property not allowed in DISCONNECT', () => {
    expectEncodeError(
      bad({ type: 'disconnect', reasonCode: 0, properties: { topicAlias: 1 } }),
      5,
      'properties.topicAlias',
    );
  });
});

describe('packet and version', () => {
  it('rejects an unknown packet type', () => {
    expectEncodeError(bad({ type: 'bogus' }), 5, 'type');
    expectEncodeError(bad({ type: 'reserved' }), 4, 'type');
  });

  it('rejects protocolVersion 3 (MQTT 3.1)', () => {
    const err = caught(() => encode(ping, 3 as Version));
    expect(err).toBeInstanceOf(EncodeError);
    expect((err as EncodeError).field).toBe('protocolVersion');
    const batchErr = caught(() => encodeBatch([ping], 3 as Version));
    expect(batchErr).toBeInstanceOf(EncodeError);
    expect((batchErr as EncodeError).field).toBe('protocolVersion');
  });
});

describe('maximumPacketSize', () => {
  // PUBLISH 'a/b' QoS 0 with 100 bytes of payload: 1 + 1 + 5 + 1 + 100 = 108 bytes in v5
  const big: Packet = { ...publish, payload: Buffer.alloc(100, 1) };

  it('rejects a packet larger than the maximum with reason code 0x95', () => {
    const err = expectEncodeError(big, 5, 'packet', { maximumPacketSize: 107 });
    expect(err.reasonCode).toBe(0x95);
  });

  it('accepts a packet of exactly the maximum, fixed header included', () => {
    expect(encode(big, 5, { maximumPacketSize: 108 }).byteLength).toBe(108);
    expect(encodeBatch([big, big], 5, { maximumPacketSize: 108 }).byteLength).toBe(216);
  });

  it('applies the maximum to each packet of a batch, not to the batch', () => {
    const err = caught(() => encodeBatch([ping, ping, big], 5, { maximumPacketSize: 50 }));
    expect(err).toBeInstanceOf(EncodeError);
    expect((err as EncodeError).field).toBe('packets[2].packet');
    expect((err as EncodeError).reasonCode).toBe(0x95);
  });
});

describe('encodeBatch', () => {
  it('names the index of the first invalid packet', () => {
    const err = caught(() =>
      encodeBatch([ping, ping, ping, { ...publish, topic: 'a/#' }, bad({ type: 'x' })], 5),
    );
    expect(err).toBeInstanceOf(EncodeError);
    expect((err as EncodeError).field).toBe('packets[3].topic');
  });
});
