/**
 * Binary records for durable stores, shared by `FileStore` and `RedisStore`.
 *
 * A stored message is its PUBLISH encoded as MQTT 5 (so every property
 * survives exactly as it would on the wire) behind a small header:
 *
 *   seq (f64) | expiresAt (f64) | packetId (u16) | stage (u8) | PUBLISH bytes
 *
 * Subscriptions are JSON (they hold only strings and numbers).
 */
import { PacketDecoder } from '../codec/decode.js';
import { encode } from '../codec/encode.js';
import type { PublishPacket } from '../codec/types.js';
import type { StoredMessage, StoredSubscription } from './types.js';

const HEADER = 8 + 8 + 2 + 1;

export function encodeMessage(m: StoredMessage): Buffer {
  const p = m.packet;
  // the packet id lives in the header; the PUBLISH carries a placeholder the codec accepts
  const body = encode({ ...p, dup: false, packetId: p.qos > 0 ? 1 : undefined }, 5);
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeDoubleBE(m.seq, 0);
  out.writeDoubleBE(m.expiresAt, 8);
  out.writeUInt16BE(m.packetId, 16);
  out.writeUInt8(m.stage, 18);
  out.set(body, HEADER);
  return out;
}

/** Decodes a record from `encodeMessage`; throws on anything else. */
export function decodeMessage(record: Uint8Array): StoredMessage {
  const b = Buffer.from(record.buffer, record.byteOffset, record.byteLength);
  if (b.length < HEADER + 2) throw new Error(`message record of ${b.length} bytes is too short`);
  const stage = b.readUInt8(18);
  if (stage > 2) throw new Error(`message record has stage ${stage}`);
  // copy: the record's memory may be reused by the reader
  const packets = new PacketDecoder({ protocolVersion: 5 }).push(Buffer.from(b.subarray(HEADER)));
  const p = packets[0];
  if (packets.length !== 1 || p.type !== 'publish')
    throw new Error('message record does not hold one PUBLISH');
  const packetId = b.readUInt16BE(16);
  const packet: PublishPacket = { ...p, dup: false, packetId: packetId === 0 ? undefined : packetId };
  return {
    seq: b.readDoubleBE(0),
    expiresAt: b.readDoubleBE(8),
    packetId,
    stage: stage as 0 | 1 | 2,
    packet,
  };
}

export function encodeSubscription(s: StoredSubscription): string {
  return JSON.stringify(s);
}

export function decodeSubscription(text: string): StoredSubscription {
  const s = JSON.parse(text) as StoredSubscription;
  if (typeof s?.topicFilter !== 'string') throw new Error('subscription record has no topicFilter');
  return s;
}
