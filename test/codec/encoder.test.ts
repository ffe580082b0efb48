/**
 * The encoder's shortcuts must not change what it accepts: validated topics
 * are cached, small packets share a slab.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  EncodeError,
  encode,
  encodeBatch,
  encodePublishHead,
  PacketDecoder,
  type PublishPacket,
} from '../../src/codec/index.js';
import { packetArb } from './arbitraries.js';

function publish(topic: string, properties?: PublishPacket['properties']): PublishPacket {
  return { type: 'publish', topic, payload: Buffer.from('p'), qos: 0, retain: false, dup: false, properties };
}

function topicOf(bytes: Uint8Array, version: 4 | 5): string {
  return (new PacketDecoder({ protocolVersion: version }).push(bytes)[0] as PublishPacket).topic;
}

describe('topic cache', () => {
  it('still rejects an empty topic without an alias after one with an alias', () => {
    expect(() => encode(publish(''), 5)).toThrow(EncodeError);
    encode(publish('', { topicAlias: 3 }), 5);
    expect(() => encode(publish(''), 5)).toThrow(/empty/);
    expect(() => encode(publish(''), 4)).toThrow(/empty/);
  });

  it('rejects an invalid topic between two uses of a valid one', () => {
    expect(topicOf(encode(publish('a/b'), 4), 4)).toBe('a/b');
    expect(() => encode(publish('a/+'), 4)).toThrow(/wildcard/);
    expect(topicOf(encode(publish('a/b'), 4), 4)).toBe('a/b');
  });

  it('encodes every one of more distinct topics than it caches', () => {
    for (let i = 0; i < 10_000; i++) {
      const topic = i % 3 === 0 ? `caf\u00e9/${i}` : `t/${i}`;
      expect(topicOf(encode(publish(topic), 5), 5)).toBe(topic);
    }
  });

  it('keeps topics apart in one batch', () => {
    const bytes = encodeBatch([publish('x/1'), publish('\u{1f600}'), publish('x/1'), publish('y')], 4);
    const out = new PacketDecoder({ protocolVersion: 4 }).push(bytes) as PublishPacket[];
    expect(out.map((p) => p.topic)).toEqual(['x/1', '\u{1f600}', 'x/1', 'y']);
  });
});

describe('slab', () => {
  it('gives each packet its own bytes', () => {
    const a = encode(publish('a'), 4);
    const snapshot = [...a];
    for (let i = 0; i < 20_000; i++) encode(publish(`b/${i}`), 4); // several slabs later
    expect([...a]).toEqual(snapshot);
  });

  it('returns a Buffer of its own for packets over 4 KiB', () => {
    const big = encode({ ...publish('a'), payload: Buffer.alloc(10_000) }, 4);
    expect(big.byteOffset).toBe(0);
    expect(big.byteLength).toBe(big.buffer.byteLength);
  });
});

describe('encodePublishHead', () => {
  it.each([4, 5] as const)('head + payload is what encode writes, for any PUBLISH (v%s)', (v) => {
    fc.assert(
      fc.property(packetArb('publish', v), (p) => {
        const whole = Buffer.from(encode(p, v));
        const head = Buffer.from(encodePublishHead(p as PublishPacket, v));
        expect(Buffer.concat([head, (p as PublishPacket).payload])).toEqual(whole);
      }),
    );
  });

  it('a 64 KiB payload: the head holds none of it', () => {
    const p = { ...publish('big/t'), payload: Buffer.alloc(65_536, 1), qos: 1 as const, packetId: 9 };
    const head = encodePublishHead(p, 4);
    expect(head.byteLength).toBe(1 + 3 + 2 + 5 + 2);
    expect(encodePublishHead(p, 5).byteLength).toBe(1 + 3 + 2 + 5 + 2 + 1);
  });

  it('validates and limits the size as encode does', () => {
    const p = { ...publish('big/t'), payload: Buffer.alloc(5000) };
    expect(() => encodePublishHead(p, 5, { maximumPacketSize: 5000 })).toThrow(/maximum packet size is 5000/);
    expect(() => encodePublishHead({ ...p, topic: 'a/+' }, 5)).toThrow(EncodeError);
    expect(() => encodePublishHead({ type: 'puback', packetId: 1 } as never, 5)).toThrow(/must be 'publish'/);
  });
});
