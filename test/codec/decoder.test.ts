/**
 * PacketDecoder behaviour beyond the fixtures: memory follows the bytes that
 * arrive, large bodies across chunks, and property checks found by the
 * differential and fuzz suites.
 */
import { describe, expect, it } from 'vitest';
import { DecodeError, encode, PacketDecoder, type PublishPacket } from '../../src/codec/index.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

function publish(payload: Buffer, properties?: PublishPacket['properties']): PublishPacket {
  return {
    type: 'publish',
    topic: 't/1',
    payload,
    qos: 1,
    packetId: 9,
    retain: false,
    dup: false,
    properties,
  };
}

describe('options', () => {
  it('refuses a bad protocol version, maximum packet size or chunk with InvalidArgumentError', () => {
    expect(() => new PacketDecoder({ protocolVersion: 3 as 4 })).toThrow(
      new InvalidArgumentError('protocolVersion', 'must be 4 or 5, got 3'),
    );
    expect(() => new PacketDecoder({ maximumPacketSize: 1 })).toThrow(InvalidArgumentError);
    expect(() => new PacketDecoder().push('text' as unknown as Uint8Array)).toThrow(InvalidArgumentError);
  });
});

describe('large packets', () => {
  it('does not allocate what a header merely announces', () => {
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    const before = process.memoryUsage().arrayBuffers;
    // PUBLISH announcing 268,435,455 bytes, followed by 10 of them
    decoder.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0, 1, 0x61, 0, 1, 2, 3, 4, 5, 6]));
    expect(decoder.buffered).toBe(5 + 10);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(16 * 1024 * 1024);
  });

  it('decodes a body over 64 KiB that arrives in many chunks', () => {
    const payload = Buffer.alloc(300_000);
    for (let i = 0; i < payload.length; i++) payload[i] = i % 251;
    const bytes = Buffer.from(encode(publish(payload), 5));
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    const out = [];
    for (let i = 0; i < bytes.length; i += 7_000) out.push(...decoder.push(bytes.subarray(i, i + 7_000)));
    expect(out).toHaveLength(1);
    expect(Buffer.compare((out[0] as PublishPacket).payload, payload)).toBe(0);
    expect(decoder.buffered).toBe(0);
  });

  it('decodes a body under 64 KiB that spans chunks, with the next packet in the same chunk', () => {
    const a = Buffer.from(encode(publish(Buffer.alloc(40_000, 1)), 5));
    const b = Buffer.from(encode({ type: 'pingresp' }, 5));
    const stream = Buffer.concat([a, b]);
    const decoder = new PacketDecoder({ protocolVersion: 5 });
    const first = decoder.push(stream.subarray(0, 20_000));
    const rest = decoder.push(stream.subarray(20_000));
    expect(first).toEqual([]);
    expect(rest.map((p) => p.type)).toEqual(['publish', 'pingresp']);
  });
});

describe('property values', () => {
  it('reads string properties that look like negative numbers as strings', () => {
    const bytes = encode(
      publish(Buffer.from('x'), { contentType: '-1', correlationData: Buffer.from('-1') }),
      5,
    );
    const [p] = new PacketDecoder().push(bytes) as PublishPacket[];
    expect(p.properties?.contentType).toBe('-1');
    expect(p.properties?.correlationData?.toString()).toBe('-1');
  });

  it('refuses a response topic with wildcards, both ways', () => {
    expect(() => encode(publish(Buffer.from('x'), { responseTopic: 'replies/#' }), 5)).toThrow(
      expect.objectContaining({ field: 'properties.responseTopic' }),
    );
    // PUBLISH QoS 0 't', property 0x08 'a/+'
    const bytes = Buffer.from([0x30, 0x0b, 0, 1, 0x74, 6, 0x08, 0, 3, 0x61, 0x2f, 0x2b, 0x78]);
    let error: unknown;
    try {
      new PacketDecoder().push(bytes);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DecodeError);
    expect(error).toMatchObject({
      reasonCode: 0x82,
      message: expect.stringMatching(/response topic 'a\/\+'/),
    });
  });

  it('treats properties: null as no properties', () => {
    const p = { ...publish(Buffer.from('x')), properties: null } as unknown as PublishPacket;
    expect([...encode(p, 5)]).toEqual([...encode(publish(Buffer.from('x')), 5)]);
  });
});
