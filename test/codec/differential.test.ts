/**
 * Differential tests of the codec against mqtt-packet (the MQTT.js codec),
 * with random valid packets of every type for MQTT 3.1.1 and 5.0:
 *
 *   a. mqttkit encode -> mqtt-packet parse          == the packet
 *   b. mqtt-packet generate -> mqttkit decode -> mqttkit encode -> mqtt-packet parse
 *                                                   == the packet
 *   c. mqttkit encode -> mqttkit decode (any chunking) == the packet, and
 *      re-encoding gives the same bytes
 *
 * Where the two models cannot say the same thing, or mqtt-packet is wrong
 * per the spec, the generators are narrowed (see `Restrictions` in
 * arbitraries.ts) or the comparison is made on a common form (`canonical`
 * with `groupUserProperties`); each place says why.
 *
 * Runs: RUNS_PER_TYPE per packet type and property (split evenly between the
 * two versions; AUTH gets all of them in v5): 600 in `npm test`, 3,000 with
 * MQTTKIT_DEEP=1 (`npm run test:deep`). DIFF_RUNS_SCALE=10 multiplies them for
 * a longer local run. fast-check prints the seed and the shrunk
 * counterexample of a failure; pass it back with `{ seed, path }` to replay.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EncodeError,
  encode,
  encodeBatch,
  type Packet,
  PacketDecoder,
  type PacketType,
  type ProtocolVersion,
} from '../../src/codec/index.js';
import { DEEP } from '../helpers/deep.js';
import { type Canonical, canonical, MAX_STRINGS, packetArb, TYPE_VERSIONS } from './arbitraries.js';
import {
  fromMqttPacket,
  type MpPacket,
  mqttPacketGenerate,
  mqttPacketParse,
  toMqttPacket,
} from './mqtt-packet-map.js';

const SCALE = Number(process.env.DIFF_RUNS_SCALE ?? 1);
const RUNS_PER_TYPE = Math.max(1, Math.round((DEEP ? 3000 : 600) * SCALE));
const runsFor = (type: PacketType): number =>
  type === 'auth' ? RUNS_PER_TYPE : Math.ceil(RUNS_PER_TYPE / 2);

/** User properties compared name -> values: see CanonicalOptions.groupUserProperties. */
const GROUPED = { groupUserProperties: true };

const view = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => view(a).equals(view(b));

function decodeAll(bytes: Uint8Array, v: ProtocolVersion, cuts: number[] = []): Packet[] {
  const d = new PacketDecoder({ protocolVersion: v });
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Packet[] = [];
  let prev = 0;
  for (const at of [...points, bytes.length]) {
    out.push(...d.push(bytes.subarray(prev, at)));
    prev = at;
  }
  expect(d.buffered).toBe(0);
  return out;
}

function decodeOne(bytes: Uint8Array, v: ProtocolVersion, cuts: number[] = []): Packet {
  const out = decodeAll(bytes, v, cuts);
  expect(out).toHaveLength(1);
  return out[0];
}

function parseOne(bytes: Uint8Array, v: ProtocolVersion): MpPacket {
  const out = mqttPacketParse(bytes, v);
  expect(out).toHaveLength(1);
  return out[0];
}

/** mqtt-packet's parsed packet in the canonical form, checking what the canonical form drops. */
function canonicalMp(q: MpPacket, v: ProtocolVersion): Canonical {
  if (q.cmd === 'connect') {
    expect(q.protocolId).toBe('MQTT');
    expect(q.bridgeMode).toBeUndefined();
  }
  return canonical(fromMqttPacket(q, v), v, GROUPED);
}

describe.each(TYPE_VERSIONS)('%s, MQTT %i', (type, v) => {
  const numRuns = runsFor(type);

  it(`a. mqttkit encode -> mqtt-packet parse (${numRuns} runs)`, () => {
    fc.assert(
      fc.property(packetArb(type, v, { mqttPacketParse: true }), (p) => {
        const bytes = encode(p, v);
        expect(canonicalMp(parseOne(bytes, v), v)).toEqual(canonical(p, v, GROUPED));
      }),
      { numRuns },
    );
  });

  it(`b. mqtt-packet generate -> mqttkit decode -> encode -> mqtt-packet parse (${numRuns} runs)`, () => {
    fc.assert(
      fc.property(packetArb(type, v, { mqttPacketParse: true, mqttPacketGenerate: true }), (p) => {
        const expected = canonical(p, v, GROUPED);
        const generated = mqttPacketGenerate(toMqttPacket(p, v), v);
        // mqtt-packet reads its own bytes back as p: the converters are right.
        expect(canonicalMp(parseOne(generated, v), v)).toEqual(expected);

        const decoded = decodeOne(generated, v);
        expect(canonical(decoded, v, GROUPED)).toEqual(expected);
        const reencoded = encode(decoded, v);
        expect(canonicalMp(parseOne(reencoded, v), v)).toEqual(expected);
      }),
      { numRuns },
    );
  });

  it(`c. mqttkit encode -> mqttkit decode, any chunking (${numRuns} runs)`, () => {
    fc.assert(
      fc.property(packetArb(type, v), fc.array(fc.nat(), { maxLength: 4 }), (p, cuts) => {
        const bytes = encode(p, v);
        const decoded = decodeOne(bytes, v, cuts);
        // Exactly the packet: user properties in wire order, no grouping.
        expect(canonical(decoded, v)).toEqual(canonical(p, v));
        // The decoder always says which level a CONNECT declared.
        if (decoded.type === 'connect') expect(decoded.protocolVersion).toBe(v);
        // The decoded packet is a fixed point: it encodes to the same bytes.
        expect(sameBytes(encode(decoded, v), bytes)).toBe(true);
        // encodeBatch is encode, back to back.
        expect(sameBytes(encodeBatch([p, decoded], v), Buffer.concat([bytes, bytes]))).toBe(true);
      }),
      { numRuns },
    );
  });
});

describe('string and binary length limits (1.5.4, 1.5.6: at most 65,535 bytes)', () => {
  const publish = (topic: string): Packet => ({
    type: 'publish',
    topic,
    payload: new Uint8Array(0),
    qos: 0,
    retain: false,
    dup: false,
  });

  it.each([4, 5] as const)('65,535-byte strings round-trip in MQTT %i', (v) => {
    for (const s of MAX_STRINGS) {
      const packets: Packet[] = [
        publish(s),
        { type: 'connect', clientId: s, clean: true, keepalive: 0, username: s },
        { type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: s, qos: 1 }] },
      ];
      for (const p of packets) {
        const decoded = decodeOne(encode(p, v), v);
        expect(canonical(decoded, v)).toEqual(canonical(p, v));
      }
    }
  });

  const tooLong = ['x'.repeat(65536), `${'\u20ac'.repeat(21845)}x`, `${'\u{1f600}'.repeat(16384)}`];

  it.each([4, 5] as const)('a topic name of 65,536+ bytes throws EncodeError in MQTT %i', (v) => {
    for (const s of tooLong) {
      expect(() => encode(publish(s), v)).toThrow(EncodeError);
    }
  });

  it.each([4, 5] as const)('other strings of 65,536+ bytes throw EncodeError in MQTT %i', (v) => {
    for (const s of tooLong) {
      expect(() => encode({ type: 'connect', clientId: s, clean: true, keepalive: 0 }, v)).toThrow(
        EncodeError,
      );
      expect(() =>
        encode({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: s, qos: 0 }] }, v),
      ).toThrow(EncodeError);
    }
    expect(() =>
      encode(
        { type: 'connect', clientId: 'c', clean: true, keepalive: 0, password: new Uint8Array(65536) },
        v,
      ),
    ).toThrow(EncodeError);
  });
});
