/**
 * Malformed input from the network: every case must throw DecodeError with
 * the reason code MQTT 5 gives for it (0x81 Malformed Packet, 0x82 Protocol
 * Error, ...) and a message that names the problem, whether the bytes arrive
 * in one chunk or one byte at a time. Bytes are written from the specs.
 */
import { describe, expect, it } from 'vitest';
import { DecodeError, PacketDecoder, type PacketDecoderOptions } from '../../src/codec/index.js';
import { ascii, wire } from './fixture-bytes.js';

const MALFORMED = 0x81;
const PROTOCOL_ERROR = 0x82;

/** Pushes `chunks` in turn and returns the first error thrown. */
function firstError(chunks: Uint8Array[], options: PacketDecoderOptions): unknown {
  const decoder = new PacketDecoder(options);
  for (const chunk of chunks) {
    try {
      decoder.push(chunk);
    } catch (err) {
      return err;
    }
  }
  return undefined;
}

interface Expectation {
  /** Accepted reason codes: one where the spec names it, two where it does not say. */
  reason: number | number[];
  message: RegExp;
  version?: 4 | 5;
  maximumPacketSize?: number;
}

function expectDecodeError(bytes: number[], want: Expectation): DecodeError {
  const options = { protocolVersion: want.version ?? 5, maximumPacketSize: want.maximumPacketSize };
  const whole = firstError([Buffer.from(bytes)], options);
  const bytewise = firstError(
    bytes.map((b) => Uint8Array.of(b)),
    options,
  );
  for (const err of [whole, bytewise]) {
    expect(err).toBeInstanceOf(DecodeError);
    const e = err as DecodeError;
    expect(e.code).toBe('ERR_MQTT_DECODE');
    if (Array.isArray(want.reason)) expect(want.reason).toContain(e.reasonCode);
    else expect(e.reasonCode).toBe(want.reason);
    expect(e.message).toMatch(want.message);
  }
  return whole as DecodeError;
}

/** A v5 PUBLISH QoS 0 on topic 't' with the given property bytes and no payload. */
function publishWithProperties(props: number[]): number[] {
  return wire([0x30, 3 + 1 + props.length], [0x00, 0x01, ...ascii('t')], [props.length], props);
}

/** A v5 PUBLISH QoS 0 whose topic name is the given bytes (length prefix added), payload 'x'. */
function publishWithTopicBytes(topic: number[], version: 4 | 5 = 5): number[] {
  const props = version === 5 ? [0x00] : [];
  return wire([0x30, 2 + topic.length + props.length + 1], [0x00, topic.length], topic, props, ascii('x'));
}

/** A v5 CONNECT (clean start, keep alive 0, client id 'c') with the given property bytes. */
function connectWithProperties(props: number[]): number[] {
  return wire(
    [0x10, 10 + 1 + props.length + 3],
    [0x00, 0x04, ...ascii('MQTT'), 0x05, 0x02, 0x00, 0x00],
    [props.length],
    props,
    [0x00, 0x01, ...ascii('c')],
  );
}

/** A v5 SUBSCRIBE, packet id 1, no properties, with (filter, options) pairs. */
function subscribe(...subs: [string, number][]): number[] {
  const payload = subs.flatMap(([f, o]) => [0x00, f.length, ...ascii(f), o]);
  return wire([0x82, 2 + 1 + payload.length], [0x00, 0x01], [0x00], payload);
}

describe('fixed header (2.1)', () => {
  it.each([4, 5] as const)('rejects the reserved packet type 0 (v%i)', (version) => {
    expectDecodeError([0x00, 0x00], { version, reason: MALFORMED, message: /reserved|type 0/i });
  });

  it('rejects SUBSCRIBE with flags 0000 (3.8.1: must be 0010)', () => {
    expectDecodeError(wire([0x80, 0x07], [0x00, 0x01], [0x00], [0x00, 0x01, 0x23, 0x00]), {
      reason: MALFORMED,
      message: /SUBSCRIBE.*flag/i,
    });
  });

  it('rejects PUBREL with flags 0000 (3.6.1: must be 0010)', () => {
    expectDecodeError([0x60, 0x02, 0x00, 0x01], { version: 4, reason: MALFORMED, message: /PUBREL.*flag/i });
  });

  // 2.1.3 table 2-2: flags are 0010 for PUBREL, SUBSCRIBE and UNSUBSCRIBE, 0000 for the rest.
  const fixedFlags: [string, number, number][] = [
    ['CONNECT', 1, 0],
    ['CONNACK', 2, 0],
    ['PUBACK', 4, 0],
    ['PUBREC', 5, 0],
    ['PUBREL', 6, 2],
    ['PUBCOMP', 7, 0],
    ['SUBSCRIBE', 8, 2],
    ['SUBACK', 9, 0],
    ['UNSUBSCRIBE', 10, 2],
    ['UNSUBACK', 11, 0],
    ['PINGREQ', 12, 0],
    ['PINGRESP', 13, 0],
    ['DISCONNECT', 14, 0],
    ['AUTH', 15, 0],
  ];
  it.each(fixedFlags)('rejects %s with any other flags from the first byte alone', (name, type, flags) => {
    for (const wrong of [0x1, 0x2, 0x4, 0x8, 0xf]) {
      if (wrong === flags) continue;
      const first = (type << 4) | wrong;
      const err = firstError([Uint8Array.of(first)], { protocolVersion: 5 });
      expect(err, `first byte 0x${first.toString(16)}`).toBeInstanceOf(DecodeError);
      expect((err as DecodeError).reasonCode).toBe(MALFORMED);
      expect((err as DecodeError).message).toContain(name);
    }
  });

  it('rejects a remaining length of 5 bytes as soon as the fifth byte arrives (1.5.5, 2.1.4)', () => {
    const err = expectDecodeError([0x30, 0xff, 0xff, 0xff, 0xff, 0x01], {
      reason: MALFORMED,
      message: /remaining length/i,
    });
    expect(err.message).toMatch(/4 bytes|four bytes|too long|longer/i);
  });

  it('rejects a remaining length not encoded in the fewest bytes (1.5.5)', () => {
    // 0x80 0x00 encodes 0 in two bytes
    const err = expectDecodeError([0xc0, 0x80, 0x00], { reason: MALFORMED, message: /remaining length/i });
    expect(err.message).toMatch(/fewest|minimum|minimal|non-minimal|shortest/i);
    // 0x82 0x00 encodes 2 in two bytes
    expectDecodeError([0x40, 0x82, 0x00, 0x00, 0x01], {
      version: 4,
      reason: MALFORMED,
      message: /remaining length/i,
    });
  });

  it('rejects a packet over maximumPacketSize with 0x95 as soon as its header is read', () => {
    // PUBLISH of 1 + 4 + 268,435,455 bytes: only the fixed header is pushed
    const decoder = new PacketDecoder({ protocolVersion: 5, maximumPacketSize: 1024 });
    let err: unknown;
    try {
      decoder.push(Uint8Array.of(0x30, 0xff, 0xff, 0xff, 0x7f));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(DecodeError);
    expect((err as DecodeError).reasonCode).toBe(0x95);
    expect((err as DecodeError).message).toMatch(/maximum packet size/i);
  });

  it('counts the fixed header in the maximum packet size (3.1.2.11.4)', () => {
    // PUBLISH 't' QoS 0 with a 4-byte payload: 2 + 3 + 1 + 4 = 10 bytes in all
    const ten = wire([0x30, 0x08], [0x00, 0x01, ...ascii('t')], [0x00], ascii('abcd'));
    expect(new PacketDecoder({ maximumPacketSize: 10 }).push(Buffer.from(ten))).toHaveLength(1);
    expectDecodeError(ten.slice(0, 2), {
      maximumPacketSize: 9,
      reason: 0x95,
      message: /maximum packet size/i,
    });
  });

  it.each([
    ['PINGREQ', 0xc0, 0x01],
    ['PINGRESP', 0xd0, 0x02],
  ] as const)(
    'rejects %s with a non-zero remaining length from the fixed header alone (3.12.1)',
    (_n, first, len) => {
      // only the two header bytes are pushed, whole and byte by byte
      expectDecodeError([first, len], { reason: MALFORMED, message: /remaining length|length/i });
    },
  );

  it.each([
    ['v4 DISCONNECT', [0xe0, 0x01, 0x00], 4],
    ['v4 PUBACK', [0x40, 0x03, 0x00, 0x01, 0x00], 4],
    ['v4 CONNACK', [0x20, 0x03, 0x00, 0x00, 0x00], 4],
    ['v5 PUBACK shorter than a packet identifier', [0x40, 0x01, 0x00], 5],
  ] as const)('rejects %s with a remaining length the packet cannot have', (_n, bytes, version) => {
    expectDecodeError([...bytes], {
      version,
      reason: MALFORMED,
      message: /length|past the end|trailing|extra/i,
    });
  });

  it('rejects AUTH in MQTT 3.1.1, where type 15 is reserved', () => {
    expectDecodeError([0xf0, 0x00], { version: 4, reason: MALFORMED, message: /AUTH|15|reserved/ });
    expect(firstError([Uint8Array.of(0xf0)], { protocolVersion: 4 })).toBeInstanceOf(DecodeError);
  });
});

describe('PUBLISH (3.3)', () => {
  it.each([4, 5] as const)('rejects QoS 3 (3.3.1.2) (v%i)', (version) => {
    const body = version === 5 ? [0x00] : [];
    expectDecodeError(wire([0x36, 5 + body.length], [0x00, 0x01, ...ascii('t')], [0x00, 0x01], body), {
      version,
      reason: MALFORMED,
      message: /QoS/,
    });
  });

  it('rejects DUP set on a QoS 0 message (3.3.1.1)', () => {
    expectDecodeError(wire([0x38, 0x04], [0x00, 0x01, ...ascii('t')], [0x00]), {
      reason: [MALFORMED, PROTOCOL_ERROR],
      message: /DUP/,
    });
  });

  it.each(['a/+', 'a/#', '#', '+'])('rejects the wildcard topic name %s with 0x90 (3.3.2.1)', (topic) => {
    expectDecodeError(publishWithTopicBytes(ascii(topic)), { reason: 0x90, message: /wildcard/i });
    expectDecodeError(publishWithTopicBytes(ascii(topic), 4), {
      version: 4,
      reason: 0x90,
      message: /wildcard/i,
    });
  });

  it('rejects packet identifier 0 for QoS 1 (2.2.1)', () => {
    expectDecodeError(wire([0x32, 0x06], [0x00, 0x01, ...ascii('t')], [0x00, 0x00], [0x00]), {
      reason: PROTOCOL_ERROR,
      message: /packet identifier/i,
    });
  });

  it('rejects an empty topic name without a topic alias (3.3.2.1)', () => {
    expectDecodeError(publishWithTopicBytes([]), { reason: PROTOCOL_ERROR, message: /topic/i });
  });

  it('rejects a topic name running past the end of the packet', () => {
    expectDecodeError(wire([0x30, 0x03], [0x00, 0x05, ...ascii('a')]), {
      reason: MALFORMED,
      message: /topic/i,
    });
  });
});

describe('UTF-8 encoded strings (1.5.4)', () => {
  it('rejects U+0000 in a topic name, a client id and a user property', () => {
    expectDecodeError(publishWithTopicBytes([0x61, 0x00, 0x62]), {
      reason: MALFORMED,
      message: /U\+0000|null/i,
    });
    expectDecodeError(
      wire(
        [0x10, 0x0f],
        [0x00, 0x04, ...ascii('MQTT'), 0x04, 0x02, 0x00, 0x00],
        [0x00, 0x03, 0x61, 0x00, 0x62], // client id 'a\0b'
      ),
      { version: 4, reason: MALFORMED, message: /U\+0000|null/i },
    );
    expectDecodeError(publishWithProperties([0x26, 0x00, 0x01, 0x00, 0x00, 0x01, 0x61]), {
      reason: MALFORMED,
      message: /U\+0000|null/i,
    });
  });

  it.each([
    ['overlong two-byte "/" (C0 AF)', [0xc0, 0xaf]],
    ['overlong three-byte "/" (E0 80 AF)', [0xe0, 0x80, 0xaf]],
    ['overlong four-byte (F0 80 80 AF)', [0xf0, 0x80, 0x80, 0xaf]],
    ['overlong U+0000 (C0 80)', [0xc0, 0x80]],
    ['surrogate U+D800 encoded (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['surrogate U+DFFF encoded (ED BF BF)', [0xed, 0xbf, 0xbf]],
    ['truncated two-byte sequence at the end (61 C3)', [0x61, 0xc3]],
    ['truncated three-byte sequence at the end (E2 82)', [0xe2, 0x82]],
    ['bad continuation byte (C3 28)', [0xc3, 0x28]],
    ['lone continuation byte (80)', [0x80]],
    ['code point past U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
    ['byte F5', [0xf5, 0x80, 0x80, 0x80]],
    ['byte FF', [0xff]],
  ])('rejects ill-formed UTF-8: %s', (_name, topic) => {
    expectDecodeError(publishWithTopicBytes(topic), { reason: MALFORMED, message: /UTF-8/i });
  });

  it('rejects ill-formed UTF-8 in a user property and in a SUBSCRIBE filter', () => {
    expectDecodeError(publishWithProperties([0x26, 0x00, 0x01, 0x61, 0x00, 0x02, 0xed, 0xa0]), {
      reason: MALFORMED,
      message: /UTF-8/i,
    });
    expectDecodeError(wire([0x82, 0x07], [0x00, 0x01], [0x00], [0x00, 0x01, 0xc0, 0x00]), {
      reason: MALFORMED,
      message: /UTF-8/i,
    });
  });
});

describe('properties (2.2.2)', () => {
  it.each([0x00, 0x04, 0x0a, 0x14, 0x2b, 0x7f])('rejects the unknown property identifier %i', (id) => {
    expectDecodeError(publishWithProperties([id, 0x00]), { reason: MALFORMED, message: /propert/i });
  });

  it.each([
    ['session expiry interval in PUBLISH', 'PUBLISH', publishWithProperties([0x11, 0x00, 0x00, 0x00, 0x01])],
    ['topic alias in CONNECT', 'CONNECT', connectWithProperties([0x23, 0x00, 0x01])],
    ['reason string in CONNECT', 'CONNECT', connectWithProperties([0x1f, 0x00, 0x01, 0x61])],
    [
      'content type in PUBACK',
      'PUBACK',
      wire([0x40, 0x08], [0x00, 0x01, 0x00, 0x04], [0x03, 0x00, 0x01, 0x61]),
    ],
    [
      'subscription identifier in UNSUBSCRIBE',
      'UNSUBSCRIBE',
      wire([0xa2, 0x08], [0x00, 0x01, 0x02, 0x0b, 0x01], [0x00, 0x01, 0x61]),
    ],
    ['server reference in AUTH', 'AUTH', wire([0xf0, 0x06], [0x18, 0x04], [0x1c, 0x00, 0x01, 0x61])],
  ])('rejects a property not allowed in the packet: %s', (_name, _packet, bytes) => {
    expectDecodeError(bytes, { reason: MALFORMED, message: /propert/i });
  });

  it('rejects a will property not allowed in will properties (3.1.3.2)', () => {
    // CONNECT with will; will properties carry a subscription identifier
    const bytes = wire(
      [0x10, 0x16],
      [0x00, 0x04, ...ascii('MQTT'), 0x05, 0x06, 0x00, 0x00], // flags: will | clean start
      [0x00], // property length 0
      [0x00, 0x01, ...ascii('c')], // client id
      [0x02, 0x0b, 0x01], // will properties: subscription identifier 1
      [0x00, 0x01, ...ascii('w')], // will topic
      [0x00, 0x00], // will payload
    );
    expectDecodeError(bytes, { reason: MALFORMED, message: /propert/i });
  });

  it.each([
    ['message expiry interval in PUBLISH', publishWithProperties([0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2])],
    ['topic alias in PUBLISH', publishWithProperties([0x23, 0x00, 0x01, 0x23, 0x00, 0x02])],
    ['session expiry interval in CONNECT', connectWithProperties([0x11, 0, 0, 0, 1, 0x11, 0, 0, 0, 1])],
    [
      'reason string in PUBACK',
      wire([0x40, 0x0c], [0x00, 0x01, 0x00, 0x08], [0x1f, 0x00, 0x01, 0x61, 0x1f, 0x00, 0x01, 0x62]),
    ],
    [
      'subscription identifier in SUBSCRIBE',
      wire([0x82, 0x0b], [0x00, 0x01, 0x04, 0x0b, 0x01, 0x0b, 0x02], [0x00, 0x01, 0x61, 0x00]),
    ],
  ])('rejects a property that may appear once given twice: %s', (_name, bytes) => {
    expectDecodeError(bytes, { reason: PROTOCOL_ERROR, message: /more than once|twice|duplicate|repeated/i });
  });

  it('rejects receive maximum 0 (3.1.2.11.3, 3.2.2.3.3)', () => {
    expectDecodeError(connectWithProperties([0x21, 0x00, 0x00]), {
      reason: PROTOCOL_ERROR,
      message: /receive ?maximum/i,
    });
    expectDecodeError(wire([0x20, 0x06], [0x00, 0x00], [0x03, 0x21, 0x00, 0x00]), {
      reason: PROTOCOL_ERROR,
      message: /receive ?maximum/i,
    });
  });

  it('rejects topic alias 0 with 0x94 Topic Alias invalid (3.3.2.3.4)', () => {
    expectDecodeError(publishWithProperties([0x23, 0x00, 0x00]), { reason: 0x94, message: /topic ?alias/i });
  });

  it('rejects subscription identifier 0 (3.3.2.3.8, 3.8.2.1.2)', () => {
    expectDecodeError(publishWithProperties([0x0b, 0x00]), {
      reason: PROTOCOL_ERROR,
      message: /subscription ?identifier/i,
    });
  });

  it('rejects maximum packet size 0 (3.1.2.11.4)', () => {
    expectDecodeError(connectWithProperties([0x27, 0x00, 0x00, 0x00, 0x00]), {
      reason: PROTOCOL_ERROR,
      message: /maximum ?packet ?size/i,
    });
  });

  it.each([
    ['payload format indicator 2', publishWithProperties([0x01, 0x02])],
    ['request problem information 2', connectWithProperties([0x17, 0x02])],
    ['maximum QoS 2', wire([0x20, 0x05], [0x00, 0x00], [0x02, 0x24, 0x02])],
  ])('rejects a byte property outside 0..1: %s', (_name, bytes) => {
    expectDecodeError(bytes, {
      reason: PROTOCOL_ERROR,
      message: /propert|must be 0 or 1|format|problem|QoS/i,
    });
  });

  it('rejects a property length running past the end of the packet', () => {
    // PUBACK, packet id 1, reason code 0, property length 5 with nothing after it
    expectDecodeError([0x40, 0x04, 0x00, 0x01, 0x00, 0x05], {
      reason: MALFORMED,
      message: /property length|propert/i,
    });
  });

  it('rejects a property value running past the property length', () => {
    // property length 2, but the four byte message expiry interval needs 5
    expectDecodeError(
      wire([0x30, 0x09], [0x00, 0x01, ...ascii('t')], [0x02], [0x02, 0x00, 0x00, 0x00, 0x01]),
      {
        reason: MALFORMED,
        message: /message ?expiry|propert|ends inside|past the end/i,
      },
    );
  });

  it('rejects a property length not encoded in the fewest bytes (1.5.5)', () => {
    expectDecodeError(wire([0x30, 0x05], [0x00, 0x01, ...ascii('t')], [0x80, 0x00]), {
      reason: MALFORMED,
      message: /fewest|minimum|minimal|property length/i,
    });
  });

  it('rejects authentication data without an authentication method (3.1.2.11.10)', () => {
    expectDecodeError(connectWithProperties([0x16, 0x00, 0x01, 0xaa]), {
      reason: PROTOCOL_ERROR,
      message: /authentication/i,
    });
  });
});

describe('CONNECT and CONNACK (3.1, 3.2)', () => {
  it('rejects the reserved connect flag (3.1.2.3)', () => {
    expectDecodeError(
      wire([0x10, 0x0d], [0x00, 0x04, ...ascii('MQTT'), 0x04, 0x03, 0x00, 0x00], [0x00, 0x01, 0x63]),
      {
        version: 4,
        reason: MALFORMED,
        message: /reserved/i,
      },
    );
  });

  it('rejects will QoS 3 (3.1.2.6)', () => {
    const bytes = wire(
      [0x10, 0x12],
      [0x00, 0x04, ...ascii('MQTT'), 0x04, 0x1e, 0x00, 0x00], // flags: will QoS 3 | will | clean
      [0x00, 0x01, ...ascii('c')],
      [0x00, 0x01, ...ascii('w')],
      [0x00, 0x00],
    );
    expectDecodeError(bytes, { version: 4, reason: MALFORMED, message: /QoS/ });
  });

  it('rejects will QoS without the will flag (3.1.2.6)', () => {
    expectDecodeError(
      wire([0x10, 0x0d], [0x00, 0x04, ...ascii('MQTT'), 0x04, 0x0a, 0x00, 0x00], [0x00, 0x01, 0x63]),
      {
        version: 4,
        reason: [MALFORMED, PROTOCOL_ERROR],
        message: /will/i,
      },
    );
  });

  it('rejects an unsupported protocol version with 0x84 (3.1.2.2)', () => {
    expectDecodeError(
      wire([0x10, 0x0d], [0x00, 0x04, ...ascii('MQTT'), 0x06, 0x02, 0x00, 0x00], [0x00, 0x01, 0x63]),
      {
        reason: 0x84,
        message: /protocol|level|version/i,
      },
    );
  });

  it('rejects reserved CONNACK acknowledge flags (3.2.2.1)', () => {
    expectDecodeError([0x20, 0x02, 0x02, 0x00], { version: 4, reason: MALFORMED, message: /flag/i });
  });

  it('rejects trailing bytes after the CONNECT payload', () => {
    expectDecodeError(
      wire(
        [0x10, 0x0f],
        [0x00, 0x04, ...ascii('MQTT'), 0x04, 0x02, 0x00, 0x3c],
        [0x00, 0x02, ...ascii('c1')],
        [0x00],
      ),
      { version: 4, reason: MALFORMED, message: /past the end|trailing|extra|unexpected/i },
    );
  });
});

describe('SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK (3.8 - 3.11)', () => {
  it.each([4, 5] as const)('rejects SUBSCRIBE without any topic filter (3.8.3) (v%i)', (version) => {
    const bytes = version === 5 ? [0x82, 0x03, 0x00, 0x01, 0x00] : [0x82, 0x02, 0x00, 0x01];
    expectDecodeError(bytes, {
      version,
      reason: PROTOCOL_ERROR,
      message: /topic filter|filter|payload|empty/i,
    });
  });

  it.each([4, 5] as const)('rejects UNSUBSCRIBE without any topic filter (3.10.3) (v%i)', (version) => {
    const bytes = version === 5 ? [0xa2, 0x03, 0x00, 0x01, 0x00] : [0xa2, 0x02, 0x00, 0x01];
    expectDecodeError(bytes, {
      version,
      reason: PROTOCOL_ERROR,
      message: /topic filter|filter|payload|empty/i,
    });
  });

  it.each([
    'a/#/b',
    'a#',
    'a+',
    'a/b+',
    '',
    '$share//a',
    '$share/g',
    '$share/g/',
    '$share/g+/a',
    '$share/g/a/#/b',
  ])('rejects the invalid topic filter "%s" with 0x8F (4.7.1, 4.8.2)', (filter) => {
    expectDecodeError(subscribe([filter, 0x00]), { reason: 0x8f, message: /topic filter|filter/i });
    const unsub = wire(
      [0xa2, 2 + 1 + 2 + filter.length],
      [0x00, 0x01],
      [0x00],
      [0x00, filter.length, ...ascii(filter)],
    );
    expectDecodeError(unsub, { reason: 0x8f, message: /topic filter|filter/i });
  });

  it('rejects retain handling 3 (3.8.3.1)', () => {
    expectDecodeError(subscribe(['a', 0x30]), { reason: PROTOCOL_ERROR, message: /retain handling/i });
  });

  it('rejects requested QoS 3 (3.8.3.1)', () => {
    expectDecodeError(subscribe(['a', 0x03]), { reason: MALFORMED, message: /QoS/ });
  });

  it('rejects reserved subscription option bits (3.8.3.1)', () => {
    expectDecodeError(subscribe(['a', 0x40]), { reason: MALFORMED, message: /reserved/i });
    expectDecodeError(subscribe(['a', 0x80]), { reason: MALFORMED, message: /reserved/i });
    // in 3.1.1 everything above the QoS bits is reserved (3.8.3.1 of 3.1.1)
    expectDecodeError(wire([0x82, 0x06], [0x00, 0x01], [0x00, 0x01, ...ascii('a'), 0x04]), {
      version: 4,
      reason: MALFORMED,
      message: /reserved/i,
    });
  });

  it('rejects no local on a shared subscription (3.8.3.1)', () => {
    expectDecodeError(subscribe(['$share/g/a', 0x04]), {
      reason: PROTOCOL_ERROR,
      message: /no ?local|shared/i,
    });
  });

  it.each([
    ['SUBSCRIBE', [0x82, 0x07, 0x00, 0x00, 0x00, 0x00, 0x01, 0x61, 0x00]],
    ['SUBACK', [0x90, 0x04, 0x00, 0x00, 0x00, 0x00]],
    ['UNSUBSCRIBE', [0xa2, 0x06, 0x00, 0x00, 0x00, 0x00, 0x01, 0x61]],
    ['UNSUBACK', [0xb0, 0x04, 0x00, 0x00, 0x00, 0x00]],
    ['PUBACK', [0x40, 0x02, 0x00, 0x00]],
    ['PUBREC', [0x50, 0x02, 0x00, 0x00]],
    ['PUBREL', [0x62, 0x02, 0x00, 0x00]],
    ['PUBCOMP', [0x70, 0x02, 0x00, 0x00]],
  ])('rejects packet identifier 0 in %s (2.2.1)', (_name, bytes) => {
    expectDecodeError(bytes, { reason: PROTOCOL_ERROR, message: /packet identifier/i });
  });

  it('rejects SUBACK and v5 UNSUBACK without reason codes', () => {
    expectDecodeError([0x90, 0x03, 0x00, 0x01, 0x00], {
      reason: PROTOCOL_ERROR,
      message: /reason code|return code/i,
    });
    expectDecodeError([0x90, 0x02, 0x00, 0x01], {
      version: 4,
      reason: PROTOCOL_ERROR,
      message: /reason code|return code/i,
    });
    expectDecodeError([0xb0, 0x03, 0x00, 0x01, 0x00], {
      reason: PROTOCOL_ERROR,
      message: /reason code|return code/i,
    });
  });
});

describe('reason codes not valid for the packet type (2.4)', () => {
  // The spec lists the codes each packet may carry; it does not say whether
  // another code is a Malformed Packet or a Protocol Error, so either is accepted.
  const invalid: [string, number[], 4 | 5][] = [
    ['v5 PUBACK 0x92 (PUBREL/PUBCOMP only)', [0x40, 0x03, 0x00, 0x01, 0x92], 5],
    ['v5 PUBREC 0x04', [0x50, 0x03, 0x00, 0x01, 0x04], 5],
    ['v5 PUBREL 0x10 (PUBACK/PUBREC only)', [0x62, 0x03, 0x00, 0x01, 0x10], 5],
    ['v5 PUBCOMP 0x80', [0x70, 0x03, 0x00, 0x01, 0x80], 5],
    ['v5 CONNACK 0x01', [0x20, 0x03, 0x00, 0x01, 0x00], 5],
    ['v5 CONNACK 0x8B (DISCONNECT only)', [0x20, 0x03, 0x00, 0x8b, 0x00], 5],
    ['v4 CONNACK return code 6', [0x20, 0x02, 0x00, 0x06], 4],
    ['v5 SUBACK 0x03', [0x90, 0x04, 0x00, 0x01, 0x00, 0x03], 5],
    ['v5 SUBACK 0x11 (UNSUBACK only)', [0x90, 0x04, 0x00, 0x01, 0x00, 0x11], 5],
    ['v4 SUBACK 0x8F (MQTT 5 only)', [0x90, 0x03, 0x00, 0x01, 0x8f], 4],
    ['v5 UNSUBACK 0x01', [0xb0, 0x04, 0x00, 0x01, 0x00, 0x01], 5],
    ['v5 DISCONNECT 0x18 (AUTH only)', [0xe0, 0x01, 0x18], 5],
    ['v5 DISCONNECT 0x01', [0xe0, 0x01, 0x01], 5],
    ['v5 AUTH 0x04', [0xf0, 0x02, 0x04, 0x00], 5],
    ['v5 AUTH 0x80', [0xf0, 0x02, 0x80, 0x00], 5],
  ];
  it.each(invalid)('rejects %s', (_name, bytes, version) => {
    expectDecodeError(bytes, {
      version,
      reason: [MALFORMED, PROTOCOL_ERROR],
      message: /reason code|return code|0x/i,
    });
  });
});

describe('bytes past the end of a packet', () => {
  it.each([
    ['v5 CONNACK', [0x20, 0x04, 0x00, 0x00, 0x00, 0x00], 5],
    ['v5 PUBACK with properties', [0x40, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00], 5],
    ['v4 UNSUBACK', [0xb0, 0x03, 0x00, 0x01, 0x00], 4],
    ['v5 DISCONNECT', [0xe0, 0x03, 0x00, 0x00, 0x00], 5],
    ['v5 AUTH', [0xf0, 0x03, 0x18, 0x00, 0x00], 5],
  ] as const)('rejects %s with a trailing byte', (_name, bytes, version) => {
    expectDecodeError([...bytes], {
      version,
      reason: MALFORMED,
      message: /past the end|trailing|extra|unexpected|remaining length/i,
    });
  });
});

describe('decoder state after an error', () => {
  const bad = [0x00, 0x00];
  const ping = Uint8Array.of(0xc0, 0x00);

  it('stays failed: every later push throws again, even with valid bytes', () => {
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    let first: unknown;
    try {
      decoder.push(Buffer.from(bad));
    } catch (err) {
      first = err;
    }
    expect(first).toBeInstanceOf(DecodeError);
    for (let i = 0; i < 2; i++) {
      let again: unknown;
      try {
        decoder.push(ping);
      } catch (err) {
        again = err;
      }
      expect(again).toBeInstanceOf(DecodeError);
      expect((again as DecodeError).reasonCode).toBe((first as DecodeError).reasonCode);
      expect((again as DecodeError).message).toBe((first as DecodeError).message);
    }
  });

  it('a chunk with a valid packet followed by a bad one throws, and the decoder stays failed', () => {
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    expect(() => decoder.push(Uint8Array.of(0xc0, 0x00, 0x00, 0x00))).toThrow(DecodeError);
    expect(() => decoder.push(ping)).toThrow(DecodeError);
  });

  it('recovers after reset()', () => {
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    expect(() => decoder.push(Buffer.from(bad))).toThrow(DecodeError);
    decoder.reset();
    expect(decoder.push(ping)).toEqual([{ type: 'pingreq' }]);
  });

  it('recovers after reset() from an error in the middle of a split packet', () => {
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    // PUBLISH QoS 0 with topic 'a+': the body arrives in two chunks
    decoder.push(Uint8Array.of(0x30, 0x06, 0x00, 0x02));
    expect(() => decoder.push(Uint8Array.of(0x61, 0x2b, 0x00, 0x78))).toThrow(DecodeError);
    decoder.reset();
    expect(decoder.buffered).toBe(0);
    expect(decoder.push(ping)).toEqual([{ type: 'pingreq' }]);
  });

  it('reset() drops a partial packet', () => {
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    expect(decoder.push(Uint8Array.of(0x30, 0x05, 0x00))).toEqual([]);
    decoder.reset();
    expect(decoder.push(ping)).toEqual([{ type: 'pingreq' }]);
  });

  it('recovers after reset() from an oversized packet header', () => {
    const decoder = new PacketDecoder({ protocolVersion: 5, maximumPacketSize: 16 });
    expect(() => decoder.push(Uint8Array.of(0x30, 0x7f))).toThrow(DecodeError);
    decoder.reset();
    expect(decoder.push(ping)).toEqual([{ type: 'pingreq' }]);
  });
});
