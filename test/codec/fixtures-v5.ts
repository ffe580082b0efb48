/**
 * MQTT 5.0 wire fixtures, written by hand from the OASIS MQTT 5.0
 * specification (section numbers in the names). Property identifiers are
 * from table 2-4; remaining lengths and property lengths are counted by hand.
 */
import { ascii, type Fixture, repeat, wire } from './fixture-bytes.js';

export const v5Fixtures: Fixture[] = [
  // 3.1 CONNECT
  {
    name: 'v5 CONNECT minimal: empty property section (3.1.2.11)',
    version: 5,
    packet: { type: 'connect', protocolVersion: 5, clientId: 'c1', clean: true, keepalive: 60 },
    bytes: wire(
      [0x10, 0x0f], // CONNECT, remaining length 15
      [0x00, 0x04, ...ascii('MQTT')], // protocol name
      [0x05], // protocol version 5
      [0x02], // connect flags: clean start
      [0x00, 0x3c], // keep alive 60 s
      [0x00], // property length 0
      [0x00, 0x02, ...ascii('c1')], // client identifier
    ),
  },
  {
    name: 'v5 CONNECT with properties, will with will properties, user name and password (3.1)',
    version: 5,
    packet: {
      type: 'connect',
      protocolVersion: 5,
      clientId: 'cli',
      clean: true,
      keepalive: 30,
      properties: {
        sessionExpiryInterval: 3600,
        receiveMaximum: 20,
        maximumPacketSize: 65536,
        topicAliasMaximum: 10,
        requestResponseInformation: true,
        requestProblemInformation: false,
        userProperties: [['k', 'v']],
        authenticationMethod: 'tok',
        authenticationData: Buffer.from([0x01, 0x02]),
      },
      will: {
        topic: 'w/t',
        payload: Buffer.from('bye'),
        qos: 2,
        retain: false,
        properties: {
          willDelayInterval: 5,
          payloadFormatIndicator: true,
          messageExpiryInterval: 60,
          contentType: 'text',
          responseTopic: 'r/1',
          correlationData: Buffer.from([0xde, 0xad]),
          userProperties: [
            ['a', 'b'],
            ['a', 'c'],
          ],
        },
      },
      username: 'user',
      password: Buffer.from('s3c'),
    },
    bytes: wire(
      [0x10, 0x78], // CONNECT, remaining length 120
      [0x00, 0x04, ...ascii('MQTT')], // protocol name
      [0x05], // protocol version 5
      [0xd6], // flags: user name 0x80 | password 0x40 | will QoS 2 0x10 | will 0x04 | clean start 0x02
      [0x00, 0x1e], // keep alive 30 s
      [0x26], // property length 38
      [0x11, 0x00, 0x00, 0x0e, 0x10], // session expiry interval 3600
      [0x21, 0x00, 0x14], // receive maximum 20
      [0x27, 0x00, 0x01, 0x00, 0x00], // maximum packet size 65536
      [0x22, 0x00, 0x0a], // topic alias maximum 10
      [0x19, 0x01], // request response information 1
      [0x17, 0x00], // request problem information 0
      [0x26, 0x00, 0x01, ...ascii('k'), 0x00, 0x01, ...ascii('v')], // user property k=v
      [0x15, 0x00, 0x03, ...ascii('tok')], // authentication method 'tok'
      [0x16, 0x00, 0x02, 0x01, 0x02], // authentication data 01 02
      [0x00, 0x03, ...ascii('cli')], // client identifier
      [0x2c], // will property length 44
      [0x18, 0x00, 0x00, 0x00, 0x05], // will delay interval 5
      [0x01, 0x01], // payload format indicator 1 (UTF-8)
      [0x02, 0x00, 0x00, 0x00, 0x3c], // message expiry interval 60
      [0x03, 0x00, 0x04, ...ascii('text')], // content type 'text'
      [0x08, 0x00, 0x03, ...ascii('r/1')], // response topic 'r/1'
      [0x09, 0x00, 0x02, 0xde, 0xad], // correlation data de ad
      [0x26, 0x00, 0x01, ...ascii('a'), 0x00, 0x01, ...ascii('b')], // user property a=b
      [0x26, 0x00, 0x01, ...ascii('a'), 0x00, 0x01, ...ascii('c')], // user property a=c (same name again)
      [0x00, 0x03, ...ascii('w/t')], // will topic
      [0x00, 0x03, ...ascii('bye')], // will payload
      [0x00, 0x04, ...ascii('user')], // user name
      [0x00, 0x03, ...ascii('s3c')], // password
    ),
  },
  {
    name: 'v5 CONNECT with password but no user name, empty client id, retained QoS 0 will (3.1.2.9)',
    version: 5,
    packet: {
      type: 'connect',
      protocolVersion: 5,
      clientId: '',
      clean: true,
      keepalive: 0,
      will: { topic: 'a', payload: Buffer.alloc(0), qos: 0, retain: true },
      password: Buffer.from('pw'),
    },
    bytes: wire(
      [0x10, 0x17], // CONNECT, remaining length 23
      [0x00, 0x04, ...ascii('MQTT')], // protocol name
      [0x05], // protocol version 5
      [0x66], // flags: password 0x40 | will retain 0x20 | will 0x04 | clean start 0x02
      [0x00, 0x00], // keep alive off
      [0x00], // property length 0
      [0x00, 0x00], // client identifier: zero bytes
      [0x00], // will property length 0
      [0x00, 0x01, ...ascii('a')], // will topic
      [0x00, 0x00], // will payload: zero bytes
      [0x00, 0x02, ...ascii('pw')], // password
    ),
  },

  // 3.2 CONNACK
  {
    name: 'v5 CONNACK success with many properties (3.2.2.3)',
    version: 5,
    packet: {
      type: 'connack',
      sessionPresent: false,
      reasonCode: 0,
      properties: {
        sessionExpiryInterval: 120,
        receiveMaximum: 100,
        maximumQoS: 1,
        retainAvailable: false,
        maximumPacketSize: 4096,
        assignedClientIdentifier: 'gen1',
        topicAliasMaximum: 16,
        reasonString: 'ok',
        userProperties: [['x', 'y']],
        wildcardSubscriptionAvailable: true,
        subscriptionIdentifiersAvailable: false,
        sharedSubscriptionAvailable: true,
        serverKeepAlive: 30,
        responseInformation: 'res',
        serverReference: 'srv',
        authenticationMethod: 'tok',
        authenticationData: Buffer.from([0xff]),
      },
    },
    bytes: wire(
      [0x20, 0x49], // CONNACK, remaining length 73
      [0x00], // acknowledge flags: no session present
      [0x00], // reason code 0x00 Success
      [0x46], // property length 70
      [0x11, 0x00, 0x00, 0x00, 0x78], // session expiry interval 120
      [0x21, 0x00, 0x64], // receive maximum 100
      [0x24, 0x01], // maximum QoS 1
      [0x25, 0x00], // retain available 0
      [0x27, 0x00, 0x00, 0x10, 0x00], // maximum packet size 4096
      [0x12, 0x00, 0x04, ...ascii('gen1')], // assigned client identifier 'gen1'
      [0x22, 0x00, 0x10], // topic alias maximum 16
      [0x1f, 0x00, 0x02, ...ascii('ok')], // reason string 'ok'
      [0x26, 0x00, 0x01, ...ascii('x'), 0x00, 0x01, ...ascii('y')], // user property x=y
      [0x28, 0x01], // wildcard subscription available 1
      [0x29, 0x00], // subscription identifiers available 0
      [0x2a, 0x01], // shared subscription available 1
      [0x13, 0x00, 0x1e], // server keep alive 30
      [0x1a, 0x00, 0x03, ...ascii('res')], // response information 'res'
      [0x1c, 0x00, 0x03, ...ascii('srv')], // server reference 'srv'
      [0x15, 0x00, 0x03, ...ascii('tok')], // authentication method 'tok'
      [0x16, 0x00, 0x01, 0xff], // authentication data ff
    ),
  },
  {
    name: 'v5 CONNACK session present, no properties',
    version: 5,
    packet: { type: 'connack', sessionPresent: true, reasonCode: 0 },
    bytes: wire(
      [0x20, 0x03], // CONNACK, remaining length 3
      [0x01], // acknowledge flags: session present
      [0x00], // reason code Success
      [0x00], // property length 0
    ),
  },
  {
    name: 'v5 CONNACK refused 0x87 Not authorized with reason string (3.2.2.2)',
    version: 5,
    packet: {
      type: 'connack',
      sessionPresent: false,
      reasonCode: 0x87,
      properties: { reasonString: 'denied' },
    },
    bytes: wire(
      [0x20, 0x0c], // CONNACK, remaining length 12
      [0x00], // acknowledge flags: none
      [0x87], // reason code 0x87 Not authorized
      [0x09], // property length 9
      [0x1f, 0x00, 0x06, ...ascii('denied')], // reason string 'denied'
    ),
  },

  // 3.3 PUBLISH: topic, [packet id], properties, payload
  {
    name: 'v5 PUBLISH QoS 0 without properties (3.3.2.3.1)',
    version: 5,
    packet: { type: 'publish', topic: 'a/b', payload: Buffer.from('hi'), qos: 0, retain: false, dup: false },
    bytes: wire(
      [0x30, 0x08], // PUBLISH QoS 0, remaining length 8
      [0x00, 0x03, ...ascii('a/b')], // topic name
      [0x00], // property length 0
      [...ascii('hi')], // payload
    ),
  },
  {
    name: 'v5 PUBLISH QoS 1 with message properties and correlation data (3.3.2.3)',
    version: 5,
    packet: {
      type: 'publish',
      topic: 'a/b',
      payload: Buffer.from('{}'),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 0x1234,
      properties: {
        payloadFormatIndicator: true,
        messageExpiryInterval: 10,
        contentType: 'text/plain',
        responseTopic: 'reply',
        correlationData: Buffer.from([0x01, 0x02, 0x03]),
      },
    },
    bytes: wire(
      [0x32, 0x2c], // PUBLISH QoS 1, remaining length 44
      [0x00, 0x03, ...ascii('a/b')], // topic name
      [0x12, 0x34], // packet identifier 0x1234
      [0x22], // property length 34
      [0x01, 0x01], // payload format indicator 1
      [0x02, 0x00, 0x00, 0x00, 0x0a], // message expiry interval 10
      [0x03, 0x00, 0x0a, ...ascii('text/plain')], // content type 'text/plain'
      [0x08, 0x00, 0x05, ...ascii('reply')], // response topic 'reply'
      [0x09, 0x00, 0x03, 0x01, 0x02, 0x03], // correlation data 01 02 03
      [...ascii('{}')], // payload
    ),
  },
  {
    name: 'v5 PUBLISH QoS 2 with DUP and RETAIN, empty payload',
    version: 5,
    packet: {
      type: 'publish',
      topic: 't',
      payload: Buffer.alloc(0),
      qos: 2,
      retain: true,
      dup: true,
      packetId: 7,
    },
    bytes: wire(
      [0x3d], // PUBLISH, DUP 0x08 | QoS 2 0x04 | RETAIN 0x01
      [0x06], // remaining length 6
      [0x00, 0x01, ...ascii('t')], // topic name
      [0x00, 0x07], // packet identifier 7
      [0x00], // property length 0; zero-length payload
    ),
  },
  {
    name: 'v5 PUBLISH with topic alias and empty topic name (3.3.2.3.4)',
    version: 5,
    packet: {
      type: 'publish',
      topic: '',
      payload: Buffer.from('x'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 5 },
    },
    bytes: wire(
      [0x30, 0x07], // PUBLISH QoS 0, remaining length 7
      [0x00, 0x00], // topic name: zero length
      [0x03], // property length 3
      [0x23, 0x00, 0x05], // topic alias 5
      [...ascii('x')], // payload
    ),
  },
  {
    name: 'v5 PUBLISH setting a topic alias together with a topic name',
    version: 5,
    packet: {
      type: 'publish',
      topic: 'a/b',
      payload: Buffer.alloc(0),
      qos: 0,
      retain: false,
      dup: false,
      properties: { topicAlias: 5 },
    },
    bytes: wire(
      [0x30, 0x09], // PUBLISH QoS 0, remaining length 9
      [0x00, 0x03, ...ascii('a/b')], // topic name
      [0x03], // property length 3
      [0x23, 0x00, 0x05], // topic alias 5
    ),
  },
  {
    name: 'v5 PUBLISH with user properties in order, a repeated name, UTF-8 and empty values (3.3.2.3.7)',
    version: 5,
    packet: {
      type: 'publish',
      topic: 'u',
      payload: Buffer.alloc(0),
      qos: 0,
      retain: false,
      dup: false,
      properties: {
        userProperties: [
          ['k', '1'],
          ['j', '2'],
          ['k', '\u00e9'],
          ['e', ''],
        ],
      },
    },
    bytes: wire(
      [0x30, 0x20], // PUBLISH QoS 0, remaining length 32
      [0x00, 0x01, ...ascii('u')], // topic name
      [0x1c], // property length 28
      [0x26, 0x00, 0x01, ...ascii('k'), 0x00, 0x01, ...ascii('1')], // user property k=1
      [0x26, 0x00, 0x01, ...ascii('j'), 0x00, 0x01, ...ascii('2')], // user property j=2
      [0x26, 0x00, 0x01, ...ascii('k'), 0x00, 0x02, 0xc3, 0xa9], // user property k=é (U+00E9, 2 bytes)
      [0x26, 0x00, 0x01, ...ascii('e'), 0x00, 0x00], // user property e='' (empty value)
    ),
  },
  {
    name: 'v5 PUBLISH with one subscription identifier (two-byte VBI 128) decodes as a number (3.3.2.3.8)',
    version: 5,
    packet: {
      type: 'publish',
      topic: 'a',
      payload: Buffer.from('p'),
      qos: 0,
      retain: false,
      dup: false,
      properties: { subscriptionIdentifier: 128 },
    },
    bytes: wire(
      [0x30, 0x08], // PUBLISH QoS 0, remaining length 8
      [0x00, 0x01, ...ascii('a')], // topic name
      [0x03], // property length 3
      [0x0b, 0x80, 0x01], // subscription identifier 128 (VBI 0x80 0x01)
      [...ascii('p')], // payload
    ),
  },
  {
    name: 'v5 PUBLISH with several subscription identifiers decodes as an array in order',
    version: 5,
    packet: {
      type: 'publish',
      topic: 'a',
      payload: Buffer.alloc(0),
      qos: 1,
      retain: false,
      dup: false,
      packetId: 2,
      properties: { subscriptionIdentifier: [1, 268435455, 150] },
    },
    bytes: wire(
      [0x32, 0x10], // PUBLISH QoS 1, remaining length 16
      [0x00, 0x01, ...ascii('a')], // topic name
      [0x00, 0x02], // packet identifier 2
      [0x0a], // property length 10
      [0x0b, 0x01], // subscription identifier 1
      [0x0b, 0xff, 0xff, 0xff, 0x7f], // subscription identifier 268,435,455 (largest VBI)
      [0x0b, 0x96, 0x01], // subscription identifier 150 = 0x16 + 1 * 128
    ),
  },
  {
    name: 'v5 PUBLISH with a 39-character ASCII topic',
    version: 5,
    packet: {
      type: 'publish',
      topic: 'sensors/building-1/floor-2/room-42/temp',
      payload: Buffer.from('21.5'),
      qos: 0,
      retain: false,
      dup: false,
    },
    bytes: wire(
      [0x30, 0x2e], // PUBLISH QoS 0, remaining length 46
      [0x00, 0x27, ...ascii('sensors/building-1/floor-2/room-42/temp')], // topic name, 39 bytes
      [0x00], // property length 0
      [...ascii('21.5')], // payload
    ),
  },
  {
    name: 'v5 PUBLISH with a two-byte property length (133) and remaining length (138) (1.5.5)',
    version: 5,
    packet: {
      type: 'publish',
      topic: 'c',
      payload: Buffer.alloc(0),
      qos: 0,
      retain: false,
      dup: false,
      properties: { correlationData: Buffer.from(repeat(0x5a, 130)) },
    },
    bytes: wire(
      [0x30], // PUBLISH QoS 0
      [0x8a, 0x01], // remaining length 138 = 0x0a + 1 * 128
      [0x00, 0x01, ...ascii('c')], // topic name
      [0x85, 0x01], // property length 133 = 0x05 + 1 * 128
      [0x09, 0x00, 0x82], // correlation data, 130 bytes:
      repeat(0x5a, 130),
    ),
  },

  // 3.4 - 3.7 acknowledgements: packet id, [reason code, [properties]]
  {
    name: 'v5 PUBACK short form: remaining length 2 means Success, no properties (3.4.2.1)',
    version: 5,
    packet: { type: 'puback', packetId: 1, reasonCode: 0 },
    bytes: wire([0x40, 0x02], [0x00, 0x01]), // PUBACK, length 2; packet identifier 1
  },
  {
    name: 'v5 PUBACK with reason code only (remaining length 3) (3.4.2.2.1)',
    version: 5,
    packet: { type: 'puback', packetId: 2, reasonCode: 0x10 },
    bytes: wire(
      [0x40, 0x03], // PUBACK, remaining length 3
      [0x00, 0x02], // packet identifier 2
      [0x10], // reason code 0x10 No matching subscribers
    ),
  },
  {
    name: 'v5 PUBACK with reason code and reason string',
    version: 5,
    packet: { type: 'puback', packetId: 3, reasonCode: 0x80, properties: { reasonString: 'nope' } },
    bytes: wire(
      [0x40, 0x0b], // PUBACK, remaining length 11
      [0x00, 0x03], // packet identifier 3
      [0x80], // reason code 0x80 Unspecified error
      [0x07], // property length 7
      [0x1f, 0x00, 0x04, ...ascii('nope')], // reason string 'nope'
    ),
  },
  {
    name: 'v5 PUBACK Success with a user property keeps the reason code byte',
    version: 5,
    packet: { type: 'puback', packetId: 4, reasonCode: 0, properties: { userProperties: [['a', 'b']] } },
    bytes: wire(
      [0x40, 0x0b], // PUBACK, remaining length 11
      [0x00, 0x04], // packet identifier 4
      [0x00], // reason code Success
      [0x07], // property length 7
      [0x26, 0x00, 0x01, ...ascii('a'), 0x00, 0x01, ...ascii('b')], // user property a=b
    ),
  },
  {
    name: 'v5 PUBREC short form (3.5)',
    version: 5,
    packet: { type: 'pubrec', packetId: 5, reasonCode: 0 },
    bytes: wire([0x50, 0x02], [0x00, 0x05]), // PUBREC, length 2; packet identifier 5
  },
  {
    name: 'v5 PUBREC 0x91 Packet Identifier in use with reason string',
    version: 5,
    packet: { type: 'pubrec', packetId: 6, reasonCode: 0x91, properties: { reasonString: 'dup' } },
    bytes: wire(
      [0x50, 0x0a], // PUBREC, remaining length 10
      [0x00, 0x06], // packet identifier 6
      [0x91], // reason code 0x91 Packet Identifier in use
      [0x06], // property length 6
      [0x1f, 0x00, 0x03, ...ascii('dup')], // reason string 'dup'
    ),
  },
  {
    name: 'v5 PUBREL short form (3.6)',
    version: 5,
    packet: { type: 'pubrel', packetId: 5, reasonCode: 0 },
    bytes: wire([0x62, 0x02], [0x00, 0x05]), // PUBREL with flags 0x2, length 2; packet identifier 5
  },
  {
    name: 'v5 PUBREL with reason code 0x92 only',
    version: 5,
    packet: { type: 'pubrel', packetId: 7, reasonCode: 0x92 },
    bytes: wire(
      [0x62, 0x03], // PUBREL, remaining length 3
      [0x00, 0x07], // packet identifier 7
      [0x92], // reason code 0x92 Packet Identifier not found
    ),
  },
  {
    name: 'v5 PUBCOMP short form (3.7)',
    version: 5,
    packet: { type: 'pubcomp', packetId: 5, reasonCode: 0 },
    bytes: wire([0x70, 0x02], [0x00, 0x05]), // PUBCOMP, length 2; packet identifier 5
  },
  {
    name: 'v5 PUBCOMP 0x92 with reason string',
    version: 5,
    packet: { type: 'pubcomp', packetId: 7, reasonCode: 0x92, properties: { reasonString: 'gone' } },
    bytes: wire(
      [0x70, 0x0b], // PUBCOMP, remaining length 11
      [0x00, 0x07], // packet identifier 7
      [0x92], // reason code 0x92 Packet Identifier not found
      [0x07], // property length 7
      [0x1f, 0x00, 0x04, ...ascii('gone')], // reason string 'gone'
    ),
  },

  // 3.8 SUBSCRIBE: packet id, properties, (filter, options)+
  {
    name: 'v5 SUBSCRIBE with subscription identifier, user property, options and a $share filter (3.8)',
    version: 5,
    packet: {
      type: 'subscribe',
      packetId: 10,
      properties: { subscriptionIdentifier: 42, userProperties: [['k', 'v']] },
      subscriptions: [
        { topicFilter: 'a/+', qos: 1, noLocal: true, retainAsPublished: false, retainHandling: 0 },
        { topicFilter: 'b/#', qos: 2, noLocal: false, retainAsPublished: true, retainHandling: 1 },
        { topicFilter: '$share/g/c', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 2 },
        { topicFilter: '+', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    },
    bytes: wire(
      [0x82, 0x29], // SUBSCRIBE with flags 0x2, remaining length 41
      [0x00, 0x0a], // packet identifier 10
      [0x09], // property length 9
      [0x0b, 0x2a], // subscription identifier 42
      [0x26, 0x00, 0x01, ...ascii('k'), 0x00, 0x01, ...ascii('v')], // user property k=v
      [0x00, 0x03, ...ascii('a/+')], // filter 'a/+'
      [0x05], // options: QoS 1 | no local 0x04
      [0x00, 0x03, ...ascii('b/#')], // filter 'b/#'
      [0x1a], // options: QoS 2 | retain as published 0x08 | retain handling 1 (0x10)
      [0x00, 0x0a, ...ascii('$share/g/c')], // shared subscription filter
      [0x20], // options: QoS 0 | retain handling 2 (0x20)
      [0x00, 0x01, ...ascii('+')], // filter '+'
      [0x00], // options: all zero
    ),
  },
  {
    name: 'v5 SUBSCRIBE with one filter, no properties',
    version: 5,
    packet: {
      type: 'subscribe',
      packetId: 1,
      subscriptions: [
        { topicFilter: '#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 },
      ],
    },
    bytes: wire(
      [0x82, 0x07], // SUBSCRIBE, remaining length 7
      [0x00, 0x01], // packet identifier 1
      [0x00], // property length 0
      [0x00, 0x01, ...ascii('#'), 0x00], // filter '#', options 0
    ),
  },

  // 3.9 SUBACK: packet id, properties, reason codes
  {
    name: 'v5 SUBACK with reason string and mixed reason codes (3.9)',
    version: 5,
    packet: {
      type: 'suback',
      packetId: 10,
      reasonCodes: [0x01, 0x02, 0x00, 0x9e],
      properties: { reasonString: 'ok' },
    },
    bytes: wire(
      [0x90, 0x0c], // SUBACK, remaining length 12
      [0x00, 0x0a], // packet identifier 10
      [0x05], // property length 5
      [0x1f, 0x00, 0x02, ...ascii('ok')], // reason string 'ok'
      [0x01, 0x02, 0x00, 0x9e], // granted QoS 1, 2, 0; 0x9E Shared Subscriptions not supported
    ),
  },
  {
    name: 'v5 SUBACK without properties',
    version: 5,
    packet: { type: 'suback', packetId: 1, reasonCodes: [0x02] },
    bytes: wire(
      [0x90, 0x04], // SUBACK, remaining length 4
      [0x00, 0x01], // packet identifier 1
      [0x00], // property length 0
      [0x02], // granted QoS 2
    ),
  },

  // 3.10 UNSUBSCRIBE: packet id, properties, filter+
  {
    name: 'v5 UNSUBSCRIBE with user property and a $share filter (3.10)',
    version: 5,
    packet: {
      type: 'unsubscribe',
      packetId: 11,
      properties: { userProperties: [['k', 'v']] },
      topicFilters: ['a/+', '$share/g/c'],
    },
    bytes: wire(
      [0xa2, 0x1b], // UNSUBSCRIBE with flags 0x2, remaining length 27
      [0x00, 0x0b], // packet identifier 11
      [0x07], // property length 7
      [0x26, 0x00, 0x01, ...ascii('k'), 0x00, 0x01, ...ascii('v')], // user property k=v
      [0x00, 0x03, ...ascii('a/+')], // filter 'a/+'
      [0x00, 0x0a, ...ascii('$share/g/c')], // filter '$share/g/c'
    ),
  },
  {
    name: 'v5 UNSUBSCRIBE with one filter, no properties',
    version: 5,
    packet: { type: 'unsubscribe', packetId: 1, topicFilters: ['#'] },
    bytes: wire(
      [0xa2, 0x06], // UNSUBSCRIBE, remaining length 6
      [0x00, 0x01], // packet identifier 1
      [0x00], // property length 0
      [0x00, 0x01, ...ascii('#')], // filter '#'
    ),
  },

  // 3.11 UNSUBACK: packet id, properties, reason codes
  {
    name: 'v5 UNSUBACK with reason codes (3.11.3)',
    version: 5,
    packet: { type: 'unsuback', packetId: 11, reasonCodes: [0x00, 0x11] },
    bytes: wire(
      [0xb0, 0x05], // UNSUBACK, remaining length 5
      [0x00, 0x0b], // packet identifier 11
      [0x00], // property length 0
      [0x00, 0x11], // Success; 0x11 No subscription existed
    ),
  },
  {
    name: 'v5 UNSUBACK with reason string and failure codes',
    version: 5,
    packet: {
      type: 'unsuback',
      packetId: 12,
      reasonCodes: [0x00, 0x87, 0x8f],
      properties: { reasonString: 'x' },
    },
    bytes: wire(
      [0xb0, 0x0a], // UNSUBACK, remaining length 10
      [0x00, 0x0c], // packet identifier 12
      [0x04], // property length 4
      [0x1f, 0x00, 0x01, ...ascii('x')], // reason string 'x'
      [0x00, 0x87, 0x8f], // Success; 0x87 Not authorized; 0x8F Topic Filter invalid
    ),
  },

  // 3.12, 3.13
  {
    name: 'v5 PINGREQ (3.12)',
    version: 5,
    packet: { type: 'pingreq' },
    bytes: wire([0xc0, 0x00]), // PINGREQ, remaining length 0
  },
  {
    name: 'v5 PINGRESP (3.13)',
    version: 5,
    packet: { type: 'pingresp' },
    bytes: wire([0xd0, 0x00]), // PINGRESP, remaining length 0
  },

  // 3.14 DISCONNECT: [reason code, [properties]]
  {
    name: 'v5 DISCONNECT with remaining length 0 is Normal disconnection (3.14.2.1)',
    version: 5,
    packet: { type: 'disconnect', reasonCode: 0 },
    bytes: wire([0xe0, 0x00]), // DISCONNECT, remaining length 0
  },
  {
    name: 'v5 DISCONNECT with reason code only: 0x04 Disconnect with Will Message',
    version: 5,
    packet: { type: 'disconnect', reasonCode: 0x04 },
    bytes: wire(
      [0xe0, 0x01], // DISCONNECT, remaining length 1
      [0x04], // reason code 0x04; property length absent (0)
    ),
  },
  {
    name: 'v5 DISCONNECT 0x9C Use another server with properties (3.14.2.2)',
    version: 5,
    packet: {
      type: 'disconnect',
      reasonCode: 0x9c,
      properties: {
        sessionExpiryInterval: 0,
        reasonString: 'bye',
        serverReference: 'host2',
        userProperties: [['a', 'b']],
      },
    },
    bytes: wire(
      [0xe0, 0x1c], // DISCONNECT, remaining length 28
      [0x9c], // reason code 0x9C Use another server
      [0x1a], // property length 26
      [0x11, 0x00, 0x00, 0x00, 0x00], // session expiry interval 0
      [0x1f, 0x00, 0x03, ...ascii('bye')], // reason string 'bye'
      [0x1c, 0x00, 0x05, ...ascii('host2')], // server reference 'host2'
      [0x26, 0x00, 0x01, ...ascii('a'), 0x00, 0x01, ...ascii('b')], // user property a=b
    ),
  },
  {
    name: 'v5 DISCONNECT Normal disconnection with a reason string keeps the reason code byte',
    version: 5,
    packet: { type: 'disconnect', reasonCode: 0, properties: { reasonString: 'x' } },
    bytes: wire(
      [0xe0, 0x06], // DISCONNECT, remaining length 6
      [0x00], // reason code Normal disconnection
      [0x04], // property length 4
      [0x1f, 0x00, 0x01, ...ascii('x')], // reason string 'x'
    ),
  },

  // 3.15 AUTH: [reason code, properties]
  {
    name: 'v5 AUTH with remaining length 0 is Success (3.15.2.1)',
    version: 5,
    packet: { type: 'auth', reasonCode: 0 },
    bytes: wire([0xf0, 0x00]), // AUTH, remaining length 0
  },
  {
    name: 'v5 AUTH 0x18 Continue authentication with method, data, reason string, user property (3.15.2.2)',
    version: 5,
    packet: {
      type: 'auth',
      reasonCode: 0x18,
      properties: {
        authenticationMethod: 'tok',
        authenticationData: Buffer.from([0x01, 0x02]),
        reasonString: 'c',
        userProperties: [['k', 'v']],
      },
    },
    bytes: wire(
      [0xf0, 0x18], // AUTH, remaining length 24
      [0x18], // reason code 0x18 Continue authentication
      [0x16], // property length 22
      [0x15, 0x00, 0x03, ...ascii('tok')], // authentication method 'tok'
      [0x16, 0x00, 0x02, 0x01, 0x02], // authentication data 01 02
      [0x1f, 0x00, 0x01, ...ascii('c')], // reason string 'c'
      [0x26, 0x00, 0x01, ...ascii('k'), 0x00, 0x01, ...ascii('v')], // user property k=v
    ),
  },
  {
    name: 'v5 AUTH 0x19 Re-authenticate with authentication method',
    version: 5,
    packet: { type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'tok' } },
    bytes: wire(
      [0xf0, 0x08], // AUTH, remaining length 8
      [0x19], // reason code 0x19 Re-authenticate
      [0x06], // property length 6
      [0x15, 0x00, 0x03, ...ascii('tok')], // authentication method 'tok'
    ),
  },
];
