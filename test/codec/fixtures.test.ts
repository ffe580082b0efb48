/**
 * Byte-exact encode and decode of the hand-written fixtures (fixtures.ts),
 * across every split of the input.
 */
import { describe, expect, it } from 'vitest';
import {
  EncodeError,
  encode,
  encodeBatch,
  PACKET_TYPES,
  type Packet,
  PacketDecoder,
  type ProtocolVersion,
} from '../../src/codec/index.js';
import { ascii, wire } from './fixture-bytes.js';
import { type Fixture, fixtures } from './fixtures.js';

function decodeChunks(chunks: Uint8Array[], version: ProtocolVersion): Packet[] {
  const decoder = new PacketDecoder({ protocolVersion: version });
  const out: Packet[] = [];
  for (const chunk of chunks) out.push(...decoder.push(chunk));
  expect(decoder.buffered).toBe(0);
  return out;
}

/** Reads the remaining length (a variable byte integer) after the first byte. */
function remainingLength(bytes: number[]): { value: number; headerLength: number } {
  let value = 0;
  let mult = 1;
  for (let i = 1; i <= 4; i++) {
    const b = bytes[i];
    value += (b & 0x7f) * mult;
    if ((b & 0x80) === 0) return { value, headerLength: i + 1 };
    mult *= 128;
  }
  throw new Error('remaining length longer than 4 bytes');
}

const versions: ProtocolVersion[] = [4, 5];

describe('fixture set', () => {
  it.each(versions)('covers every packet type that exists in version %i', (version) => {
    const types = new Set(fixtures.filter((f) => f.version === version).map((f) => f.packet.type));
    const expected = PACKET_TYPES.slice(1).filter((t) => version === 5 || t !== 'auth');
    expect([...types].sort()).toEqual([...expected].sort());
  });

  it('has unique names', () => {
    expect(new Set(fixtures.map((f) => f.name)).size).toBe(fixtures.length);
  });
});

describe.each(fixtures.map((f) => [f.name, f] as [string, Fixture]))('%s', (_name, f) => {
  const bytes = Buffer.from(f.bytes);

  it('is self-consistent: type nibble matches and remaining length counts the bytes after it', () => {
    expect(PACKET_TYPES[f.bytes[0] >> 4]).toBe(f.packet.type);
    const { value, headerLength } = remainingLength(f.bytes);
    expect(f.bytes.length - headerLength).toBe(value);
  });

  it('encodes to exactly the fixture bytes', () => {
    expect([...encode(f.packet, f.version)]).toEqual(f.bytes);
  });

  it('decodes from one chunk', () => {
    expect(decodeChunks([bytes], f.version)).toEqual([f.packet]);
  });

  it('decodes when split into two chunks at every byte boundary', () => {
    for (let i = 1; i < bytes.length; i++) {
      const got = decodeChunks([bytes.subarray(0, i), bytes.subarray(i)], f.version);
      expect(got, `split at ${i}`).toEqual([f.packet]);
    }
  });

  it('decodes when fed one byte at a time', () => {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i++) chunks.push(Uint8Array.of(f.bytes[i]));
    expect(decodeChunks(chunks, f.version)).toEqual([f.packet]);
  });
});

describe.each(versions)('all version %i fixtures as one stream', (version) => {
  const list = fixtures.filter((f) => f.version === version);
  const packets = list.map((f) => f.packet);
  const stream = Buffer.from(list.flatMap((f) => f.bytes));

  it('encodeBatch gives the concatenation of the fixture bytes', () => {
    expect([...encodeBatch(packets, version)]).toEqual([...stream]);
  });

  it('decodes from one chunk', () => {
    expect(decodeChunks([stream], version)).toEqual(packets);
  });

  it('decodes when split into two chunks at every byte boundary', () => {
    for (let i = 1; i < stream.length; i++) {
      const got = decodeChunks([stream.subarray(0, i), stream.subarray(i)], version);
      expect(got, `split at ${i}`).toEqual(packets);
    }
  });

  it('decodes from plain Uint8Array views of 7 bytes', () => {
    const chunks: Uint8Array[] = [];
    const u8 = new Uint8Array(stream); // not a Buffer; the chunks are views at non-zero offsets
    for (let i = 0; i < u8.length; i += 7) chunks.push(u8.subarray(i, i + 7));
    expect(decodeChunks(chunks, version)).toEqual(packets);
  });

  it('decodes when fed one byte at a time', () => {
    const chunks: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
    expect(decodeChunks(chunks, version)).toEqual(packets);
  });
});

/**
 * Other encodings the MQTT 5 spec allows a sender to use for the same
 * packet. The decoder must accept them; the encoder uses the shortest form
 * (checked by the fixtures above).
 */
describe('v5 alternative encodings that decode to the same packet', () => {
  const cases: [string, number[], Packet][] = [
    [
      'PUBACK with reason code Success and no property length (3.4.2.2.1)',
      wire([0x40, 0x03], [0x00, 0x01], [0x00]),
      { type: 'puback', packetId: 1, reasonCode: 0 },
    ],
    [
      'PUBACK with reason code Success and property length 0',
      wire([0x40, 0x04], [0x00, 0x01], [0x00], [0x00]),
      { type: 'puback', packetId: 1, reasonCode: 0 },
    ],
    [
      'PUBREL with reason code and property length 0',
      wire([0x62, 0x04], [0x00, 0x09], [0x92], [0x00]),
      { type: 'pubrel', packetId: 9, reasonCode: 0x92 },
    ],
    [
      'DISCONNECT with reason code 0 and no property length (3.14.2.2.1)',
      wire([0xe0, 0x01], [0x00]),
      { type: 'disconnect', reasonCode: 0 },
    ],
    [
      'DISCONNECT with reason code 0 and property length 0',
      wire([0xe0, 0x02], [0x00], [0x00]),
      { type: 'disconnect', reasonCode: 0 },
    ],
    [
      'user properties apart from each other keep their relative order (2.2.2.2)',
      wire(
        [0x30, 0x14], // PUBLISH QoS 0, remaining length 20
        [0x00, 0x01, ...ascii('t')], // topic
        [0x10], // property length 16
        [0x26, 0x00, 0x01, ...ascii('b'), 0x00, 0x01, ...ascii('1')], // user property b=1
        [0x01, 0x00], // payload format indicator 0
        [0x26, 0x00, 0x01, ...ascii('a'), 0x00, 0x01, ...ascii('2')], // user property a=2
      ),
      {
        type: 'publish',
        topic: 't',
        payload: Buffer.alloc(0),
        qos: 0,
        retain: false,
        dup: false,
        properties: {
          userProperties: [
            ['b', '1'],
            ['a', '2'],
          ],
          payloadFormatIndicator: false,
        },
      },
    ],
  ];

  it.each(cases)('%s', (_name, bytes, packet) => {
    expect(decodeChunks([Buffer.from(bytes)], 5)).toEqual([packet]);
    const oneByOne = bytes.map((b) => Uint8Array.of(b));
    expect(decodeChunks(oneByOne, 5)).toEqual([packet]);
  });
});

describe('v5 AUTH and its Authentication Method (3.15.2.1, 3.15.2.2.2)', () => {
  // Only the AUTH with reason code 0x00 and no properties may omit the reason
  // code and property length; every other AUTH must name its Authentication
  // Method ("It is a Protocol Error to omit the Authentication Method").
  it('refuses to encode a non-zero reason code without an authentication method', () => {
    expect(() => encode({ type: 'auth', reasonCode: 0x18 }, 5)).toThrow(
      expect.objectContaining({ field: 'properties.authenticationMethod' }),
    );
  });

  it('rejects an AUTH with a property section but no authentication method', () => {
    expect(() => decodeChunks([Buffer.from([0xf0, 0x02, 0x00, 0x00])], 5)).toThrow(
      expect.objectContaining({ reasonCode: 0x82, message: expect.stringMatching(/authentication method/) }),
    );
  });
});

describe('decoded binary fields', () => {
  it('are Buffers', () => {
    const f = fixtures.find(
      (x) => x.version === 5 && x.packet.type === 'connect' && x.packet.will?.properties,
    );
    const [p] = decodeChunks([Buffer.from(f!.bytes)], 5);
    if (p.type !== 'connect') throw new Error('expected CONNECT');
    expect(Buffer.isBuffer(p.password)).toBe(true);
    expect(Buffer.isBuffer(p.will?.payload)).toBe(true);
    expect(Buffer.isBuffer(p.properties?.authenticationData)).toBe(true);
    expect(Buffer.isBuffer(p.will?.properties?.correlationData)).toBe(true);
  });
});

describe('shared subscriptions in 3.1.1 sessions', () => {
  // 3.1.1 itself has no shared subscriptions, but mosquitto, HiveMQ, EMQX and
  // VerneMQ give '$share/{group}/{filter}' its MQTT 5 meaning on 3.1.1
  // connections too. mqttkit validates it the same way in both versions, so a
  // malformed share is caught before the broker rejects it.
  const filters = ['$share/g', '$share//a', '$share/g/'];

  it.each(filters)('rejects the malformed share "%s" in 3.1.1 as in 5', (topicFilter) => {
    const packet: Packet = { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter, qos: 0 }] };
    expect(() => encode(packet, 4)).toThrow(EncodeError);
    const bytes = wire(
      [0x82, 2 + 2 + topicFilter.length + 1],
      [0x00, 0x01],
      [0x00, topicFilter.length, ...ascii(topicFilter), 0x00],
    );
    expect(() => decodeChunks([Buffer.from(bytes)], 4)).toThrow(
      expect.objectContaining({ reasonCode: 0x8f }),
    );
  });
});
