/**
 * MQTT 3.1.1 wire fixtures, written by hand from the OASIS MQTT 3.1.1
 * specification (section numbers in the names). Remaining lengths are counted
 * by hand; fixtures.test.ts also checks each one against its byte count.
 */
import { ascii, type Fixture, repeat, wire } from './fixture-bytes.js';

export const v4Fixtures: Fixture[] = [
  // 3.1 CONNECT
  {
    name: 'v4 CONNECT minimal: clean session, client id "c1", keep alive 60 (3.1)',
    version: 4,
    packet: { type: 'connect', protocolVersion: 4, clientId: 'c1', clean: true, keepalive: 60 },
    bytes: wire(
      [0x10, 0x0e], // CONNECT, remaining length 14
      [0x00, 0x04, ...ascii('MQTT')], // protocol name
      [0x04], // protocol level 4 (3.1.1)
      [0x02], // connect flags: clean session
      [0x00, 0x3c], // keep alive 60 s
      [0x00, 0x02, ...ascii('c1')], // client identifier
    ),
  },
  {
    name: 'v4 CONNECT with will (QoS 1, retain), user name and password, clean session 0 (3.1.2.3)',
    version: 4,
    packet: {
      type: 'connect',
      protocolVersion: 4,
      clientId: 'dev',
      clean: false,
      keepalive: 300,
      will: { topic: 'st/dev', payload: Buffer.from('off'), qos: 1, retain: true },
      username: 'u',
      password: Buffer.from([0x70, 0x77]),
    },
    bytes: wire(
      [0x10, 0x23], // CONNECT, remaining length 35
      [0x00, 0x04, ...ascii('MQTT')], // protocol name
      [0x04], // protocol level 4
      [0xec], // flags: user name 0x80 | password 0x40 | will retain 0x20 | will QoS 1 0x08 | will 0x04
      [0x01, 0x2c], // keep alive 300 s
      [0x00, 0x03, ...ascii('dev')], // client identifier
      [0x00, 0x06, ...ascii('st/dev')], // will topic
      [0x00, 0x03, ...ascii('off')], // will message (two-byte length + bytes)
      [0x00, 0x01, ...ascii('u')], // user name
      [0x00, 0x02, 0x70, 0x77], // password (binary)
    ),
  },
  {
    name: 'v4 CONNECT with empty client id, user name only, keep alive 0 (3.1.3.1)',
    version: 4,
    packet: {
      type: 'connect',
      protocolVersion: 4,
      clientId: '',
      clean: true,
      keepalive: 0,
      username: 'user',
    },
    bytes: wire(
      [0x10, 0x12], // CONNECT, remaining length 18
      [0x00, 0x04, ...ascii('MQTT')], // protocol name
      [0x04], // protocol level 4
      [0x82], // flags: user name 0x80 | clean session 0x02
      [0x00, 0x00], // keep alive off
      [0x00, 0x00], // client identifier: zero bytes
      [0x00, 0x04, ...ascii('user')], // user name
    ),
  },
  {
    name: 'v4 CONNECT with will QoS 2 without retain and binary will message (3.1.2.6)',
    version: 4,
    packet: {
      type: 'connect',
      protocolVersion: 4,
      clientId: 'w',
      clean: true,
      keepalive: 10,
      will: { topic: 'x', payload: Buffer.from([0x00, 0xff]), qos: 2, retain: false },
    },
    bytes: wire(
      [0x10, 0x14], // CONNECT, remaining length 20
      [0x00, 0x04, ...ascii('MQTT')], // protocol name
      [0x04], // protocol level 4
      [0x16], // flags: will QoS 2 0x10 | will 0x04 | clean session 0x02
      [0x00, 0x0a], // keep alive 10 s
      [0x00, 0x01, ...ascii('w')], // client identifier
      [0x00, 0x01, ...ascii('x')], // will topic
      [0x00, 0x02, 0x00, 0xff], // will message: two bytes 00 ff
    ),
  },

  // 3.2 CONNACK: remaining length 2, acknowledge flags, return code 0..5
  {
    name: 'v4 CONNACK accepted with session present (3.2.2.2)',
    version: 4,
    packet: { type: 'connack', sessionPresent: true, reasonCode: 0 },
    bytes: wire(
      [0x20, 0x02], // CONNACK, remaining length 2
      [0x01], // acknowledge flags: session present
      [0x00], // return code 0: connection accepted
    ),
  },
  {
    name: 'v4 CONNACK accepted, no session (3.2.2.3)',
    version: 4,
    packet: { type: 'connack', sessionPresent: false, reasonCode: 0 },
    bytes: wire(
      [0x20, 0x02], // CONNACK, remaining length 2
      [0x00], // acknowledge flags: none
      [0x00], // return code 0: connection accepted
    ),
  },
  {
    name: 'v4 CONNACK return code 1: unacceptable protocol version',
    version: 4,
    packet: { type: 'connack', sessionPresent: false, reasonCode: 1 },
    bytes: wire([0x20, 0x02], [0x00], [0x01]), // CONNACK, length 2, flags 0, return code 1
  },
  {
    name: 'v4 CONNACK return code 2: identifier rejected',
    version: 4,
    packet: { type: 'connack', sessionPresent: false, reasonCode: 2 },
    bytes: wire([0x20, 0x02], [0x00], [0x02]), // CONNACK, length 2, flags 0, return code 2
  },
  {
    name: 'v4 CONNACK return code 3: server unavailable',
    version: 4,
    packet: { type: 'connack', sessionPresent: false, reasonCode: 3 },
    bytes: wire([0x20, 0x02], [0x00], [0x03]), // CONNACK, length 2, flags 0, return code 3
  },
  {
    name: 'v4 CONNACK return code 4: bad user name or password',
    version: 4,
    packet: { type: 'connack', sessionPresent: false, reasonCode: 4 },
    bytes: wire([0x20, 0x02], [0x00], [0x04]), // CONNACK, length 2, flags 0, return code 4
  },
  {
    name: 'v4 CONNACK return code 5: not authorized',
    version: 4,
    packet: { type: 'connack', sessionPresent: false, reasonCode: 5 },
    bytes: wire([0x20, 0x02], [0x00], [0x05]), // CONNACK, length 2, flags 0, return code 5
  },

  // 3.3 PUBLISH: 0011 DUP QoS RETAIN, topic, [packet id], payload
  {
    name: 'v4 PUBLISH QoS 0 (3.3)',
    version: 4,
    packet: { type: 'publish', topic: 'a/b', payload: Buffer.from('hi'), qos: 0, retain: false, dup: false },
    bytes: wire(
      [0x30, 0x07], // PUBLISH QoS 0, remaining length 7
      [0x00, 0x03, ...ascii('a/b')], // topic name
      [...ascii('hi')], // payload
    ),
  },
  {
    name: 'v4 PUBLISH QoS 1 with retain',
    version: 4,
    packet: {
      type: 'publish',
      topic: 'a/b',
      payload: Buffer.from([1, 2, 3]),
      qos: 1,
      retain: true,
      dup: false,
      packetId: 10,
    },
    bytes: wire(
      [0x33], // PUBLISH, QoS 1 (0x02) | RETAIN (0x01)
      [0x0a], // remaining length 10
      [0x00, 0x03, ...ascii('a/b')], // topic name
      [0x00, 0x0a], // packet identifier 10
      [0x01, 0x02, 0x03], // payload
    ),
  },
  {
    name: 'v4 PUBLISH QoS 2 with DUP, packet id 65535',
    version: 4,
    packet: {
      type: 'publish',
      topic: 't',
      payload: Buffer.from('x'),
      qos: 2,
      retain: false,
      dup: true,
      packetId: 65535,
    },
    bytes: wire(
      [0x3c], // PUBLISH, DUP (0x08) | QoS 2 (0x04)
      [0x06], // remaining length 6
      [0x00, 0x01, ...ascii('t')], // topic name
      [0xff, 0xff], // packet identifier 65535
      [...ascii('x')], // payload
    ),
  },
  {
    name: 'v4 PUBLISH QoS 0 retained with empty payload (3.3.1.3)',
    version: 4,
    packet: { type: 'publish', topic: 'a/b', payload: Buffer.alloc(0), qos: 0, retain: true, dup: false },
    bytes: wire(
      [0x31, 0x05], // PUBLISH RETAIN, remaining length 5
      [0x00, 0x03, ...ascii('a/b')], // topic name; zero-length payload
    ),
  },
  {
    name: 'v4 PUBLISH QoS 1 with non-ASCII UTF-8 topic "ü/€/😀" (1.5.3)',
    version: 4,
    packet: {
      type: 'publish',
      topic: '\u00fc/\u20ac/\u{1f600}',
      payload: Buffer.alloc(0),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 1,
    },
    bytes: wire(
      [0x32, 0x0f], // PUBLISH QoS 1, remaining length 15
      [0x00, 0x0b], // topic length 11 bytes
      [0xc3, 0xbc], // U+00FC ü (2 bytes)
      [0x2f], // '/'
      [0xe2, 0x82, 0xac], // U+20AC € (3 bytes)
      [0x2f], // '/'
      [0xf0, 0x9f, 0x98, 0x80], // U+1F600 (4 bytes; a surrogate pair in UTF-16)
      [0x00, 0x01], // packet identifier 1
    ),
  },
  {
    name: 'v4 PUBLISH with a two-byte remaining length (205) (2.2.3)',
    version: 4,
    packet: {
      type: 'publish',
      topic: 'a/b',
      payload: Buffer.from(repeat(0xa5, 200)),
      qos: 0,
      retain: false,
      dup: false,
    },
    bytes: wire(
      [0x30], // PUBLISH QoS 0
      [0xcd, 0x01], // remaining length 205 = 0x4d + 1 * 128: 0xcd (0x4d | continuation), 0x01
      [0x00, 0x03, ...ascii('a/b')], // topic name
      repeat(0xa5, 200), // payload: 200 bytes
    ),
  },

  // 3.4 - 3.7 acknowledgements: remaining length 2, packet identifier
  {
    name: 'v4 PUBACK (3.4)',
    version: 4,
    packet: { type: 'puback', packetId: 10, reasonCode: 0 },
    bytes: wire([0x40, 0x02], [0x00, 0x0a]), // PUBACK, length 2; packet identifier 10
  },
  {
    name: 'v4 PUBREC (3.5)',
    version: 4,
    packet: { type: 'pubrec', packetId: 11, reasonCode: 0 },
    bytes: wire([0x50, 0x02], [0x00, 0x0b]), // PUBREC, length 2; packet identifier 11
  },
  {
    name: 'v4 PUBREL: fixed header flags 0010 (3.6.1)',
    version: 4,
    packet: { type: 'pubrel', packetId: 11, reasonCode: 0 },
    bytes: wire([0x62, 0x02], [0x00, 0x0b]), // PUBREL with flags 0x2, length 2; packet identifier 11
  },
  {
    name: 'v4 PUBCOMP (3.7)',
    version: 4,
    packet: { type: 'pubcomp', packetId: 258, reasonCode: 0 },
    bytes: wire([0x70, 0x02], [0x01, 0x02]), // PUBCOMP, length 2; packet identifier 0x0102 = 258
  },

  // 3.8 SUBSCRIBE: flags 0010, packet id, (filter, requested QoS)+
  {
    name: 'v4 SUBSCRIBE with three filters at QoS 0, 1, 2 (3.8)',
    version: 4,
    packet: {
      type: 'subscribe',
      packetId: 1,
      subscriptions: [
        { topicFilter: 'a/+', qos: 0 },
        { topicFilter: 'b/#', qos: 1 },
        { topicFilter: '#', qos: 2 },
      ],
    },
    bytes: wire(
      [0x82, 0x12], // SUBSCRIBE with flags 0x2, remaining length 18
      [0x00, 0x01], // packet identifier 1
      [0x00, 0x03, ...ascii('a/+'), 0x00], // filter 'a/+', requested QoS 0
      [0x00, 0x03, ...ascii('b/#'), 0x01], // filter 'b/#', requested QoS 1
      [0x00, 0x01, ...ascii('#'), 0x02], // filter '#', requested QoS 2
    ),
  },

  // 3.9 SUBACK: packet id, return codes 0x00, 0x01, 0x02, 0x80
  {
    name: 'v4 SUBACK with every return code (3.9.3)',
    version: 4,
    packet: { type: 'suback', packetId: 1, reasonCodes: [0x00, 0x01, 0x02, 0x80] },
    bytes: wire(
      [0x90, 0x06], // SUBACK, remaining length 6
      [0x00, 0x01], // packet identifier 1
      [0x00, 0x01, 0x02, 0x80], // granted QoS 0, 1, 2 and Failure
    ),
  },

  // 3.10 UNSUBSCRIBE: flags 0010, packet id, filter+
  {
    name: 'v4 UNSUBSCRIBE with two filters (3.10)',
    version: 4,
    packet: { type: 'unsubscribe', packetId: 2, topicFilters: ['a/+', 'b/#'] },
    bytes: wire(
      [0xa2, 0x0c], // UNSUBSCRIBE with flags 0x2, remaining length 12
      [0x00, 0x02], // packet identifier 2
      [0x00, 0x03, ...ascii('a/+')], // filter 'a/+'
      [0x00, 0x03, ...ascii('b/#')], // filter 'b/#'
    ),
  },

  // 3.11 UNSUBACK: remaining length 2, packet id only
  {
    name: 'v4 UNSUBACK has no return codes (3.11)',
    version: 4,
    packet: { type: 'unsuback', packetId: 2 },
    bytes: wire([0xb0, 0x02], [0x00, 0x02]), // UNSUBACK, length 2; packet identifier 2
  },

  // 3.12 - 3.14: fixed header only
  {
    name: 'v4 PINGREQ (3.12)',
    version: 4,
    packet: { type: 'pingreq' },
    bytes: wire([0xc0, 0x00]), // PINGREQ, remaining length 0
  },
  {
    name: 'v4 PINGRESP (3.13)',
    version: 4,
    packet: { type: 'pingresp' },
    bytes: wire([0xd0, 0x00]), // PINGRESP, remaining length 0
  },
  {
    name: 'v4 DISCONNECT (3.14)',
    version: 4,
    packet: { type: 'disconnect' },
    bytes: wire([0xe0, 0x00]), // DISCONNECT, remaining length 0
  },
];
