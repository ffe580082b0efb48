/**
 * Packet to bytes. `encode` measures the packet (validating every field),
 * allocates one buffer of the exact size and writes it; `encodeBatch` does
 * the same for many packets into one buffer, for one socket write per turn
 * of the event loop. An invalid packet throws {@link EncodeError} naming the
 * field before anything is allocated.
 */
import { EncodeError } from '../core/errors.js';
import { measureConnack, measureConnect, writeConnack, writeConnect } from './connect.js';
import { measureReasonPacket, writeReasonPacket } from './control.js';
import { MAX_VBI, PACKET_TOO_LARGE, sizes, vbiLength, Writer } from './primitives.js';
import {
  measureAck,
  measurePublish,
  publishHeader,
  resetTopicQueue,
  writeAck,
  writePublish,
  writePublishHead,
} from './publish.js';
import {
  measureSuback,
  measureSubscribe,
  measureUnsuback,
  measureUnsubscribe,
  writeSuback,
  writeSubscribe,
  writeUnsuback,
  writeUnsubscribe,
} from './subscribe.js';
import type { Packet, ProtocolVersion, PublishPacket } from './types.js';

/** Options of {@link encode}, {@link encodeBatch}, {@link encodedSize} and {@link encodePublishHead}. */
export interface EncodeOptions {
  /**
   * Largest packet, in bytes, the receiver accepts (its Maximum Packet Size).
   * A larger packet throws {@link EncodeError} with reason code 0x95.
   * @default 268435460 (the largest packet MQTT can express)
   */
  maximumPacketSize?: number;
}

const writer = new Writer();
const remainingLengths: number[] = [];

/** First byte of the fixed header: packet type and flags. */
const HEADER: Record<Packet['type'], number> = {
  connect: 0x10,
  connack: 0x20,
  publish: 0x30,
  puback: 0x40,
  pubrec: 0x50,
  pubrel: 0x62,
  pubcomp: 0x70,
  subscribe: 0x82,
  suback: 0x90,
  unsubscribe: 0xa2,
  unsuback: 0xb0,
  pingreq: 0xc0,
  pingresp: 0xd0,
  disconnect: 0xe0,
  auth: 0xf0,
};

/** Validates `packet` and returns its remaining length. */
function measure(p: Packet, v: ProtocolVersion): number {
  if (typeof p !== 'object' || p === null) throw new EncodeError('packet', 'must be an object');
  switch (p.type) {
    case 'publish':
      return measurePublish(p, v);
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return measureAck(p, v);
    case 'connect':
      return measureConnect(p, v);
    case 'connack':
      return measureConnack(p, v);
    case 'subscribe':
      return measureSubscribe(p, v);
    case 'suback':
      return measureSuback(p, v);
    case 'unsubscribe':
      return measureUnsubscribe(p, v);
    case 'unsuback':
      return measureUnsuback(p, v);
    case 'pingreq':
    case 'pingresp':
      return 0;
    case 'disconnect':
    case 'auth':
      return measureReasonPacket(p, v);
    default:
      throw new EncodeError('type', `'${String((p as { type: unknown }).type)}' is not an MQTT packet type`);
  }
}

function write(w: Writer, p: Packet, v: ProtocolVersion, rem: number): void {
  w.u8(p.type === 'publish' ? publishHeader(p) : HEADER[p.type]);
  w.vbi(rem);
  switch (p.type) {
    case 'publish':
      writePublish(w, p, v);
      break;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      writeAck(w, p, v, rem);
      break;
    case 'connect':
      writeConnect(w, p, v);
      break;
    case 'connack':
      writeConnack(w, p, v);
      break;
    case 'subscribe':
      writeSubscribe(w, p, v);
      break;
    case 'suback':
      writeSuback(w, p, v);
      break;
    case 'unsubscribe':
      writeUnsubscribe(w, p, v);
      break;
    case 'unsuback':
      writeUnsuback(w, p, v);
      break;
    case 'disconnect':
    case 'auth':
      writeReasonPacket(w, p, v, rem);
      break;
  }
}

function checkVersion(v: unknown): void {
  if (v !== 4 && v !== 5)
    throw new EncodeError('protocolVersion', `must be 4 (3.1.1) or 5, got ${String(v)}`);
}

function packetLength(rem: number, max: number | undefined): number {
  if (rem > MAX_VBI)
    throw new EncodeError('packet', `remaining length ${rem} exceeds ${MAX_VBI}`, PACKET_TOO_LARGE);
  const total = 1 + vbiLength(rem) + rem;
  if (max !== undefined && total > max) {
    throw new EncodeError('packet', `is ${total} bytes; the maximum packet size is ${max}`, PACKET_TOO_LARGE);
  }
  return total;
}

/**
 * Small packets are carved out of a shared slab, as Node's Buffer pool does,
 * but returned as plain `Uint8Array` views, which are much cheaper to create
 * than Buffers. Packets over {@link SLAB_MAX} bytes get their own buffer.
 */
const SLAB_SIZE = 64 * 1024;
const SLAB_MAX = 4 * 1024;
let slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
let slabUsed = 0;

/** Points the writer at `total` free bytes and returns the start offset. */
function reserve(w: Writer, total: number): number {
  if (total > SLAB_MAX) {
    w.buf = Buffer.allocUnsafe(total);
    w.pos = 0;
    return 0;
  }
  if (slabUsed + total > SLAB_SIZE) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  w.buf = slab;
  w.pos = slabUsed;
  // back to back, so that the packets of one turn form one run of bytes
  slabUsed += total;
  return w.pos;
}

function output(w: Writer, start: number, total: number): Uint8Array {
  const buf = w.buf;
  return buf === slab ? new Uint8Array(buf.buffer, buf.byteOffset + start, total) : buf;
}

/**
 * Encodes one packet into new memory of exactly its size. The result is a
 * `Uint8Array` (a Buffer for packets over 4 KiB); wrap it with
 * `Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)` if you need
 * Buffer methods.
 */
export function encode(
  packet: Packet,
  protocolVersion: ProtocolVersion = 5,
  options?: EncodeOptions,
): Uint8Array {
  checkVersion(protocolVersion);
  sizes.reset();
  resetTopicQueue();
  const rem = measure(packet, protocolVersion);
  const total = packetLength(rem, options?.maximumPacketSize);
  const w = writer;
  const start = reserve(w, total);
  write(w, packet, protocolVersion, rem);
  return output(w, start, total);
}

/**
 * Encodes a PUBLISH without its payload: the fixed header (whose remaining
 * length counts the payload), the topic, the packet id and the properties.
 * Send `packet.payload` right after it, as its own chunk (one `writev`), and
 * the payload is never copied: what large messages want. Validates and
 * limits the size as {@link encode} does.
 *
 * ```ts
 * socket.cork();
 * socket.write(encodePublishHead(packet, 5));
 * socket.write(packet.payload);
 * socket.uncork();
 * ```
 */
export function encodePublishHead(
  packet: PublishPacket,
  protocolVersion: ProtocolVersion = 5,
  options?: EncodeOptions,
): Uint8Array {
  checkVersion(protocolVersion);
  if (packet?.type !== 'publish') throw new EncodeError('type', "must be 'publish'");
  sizes.reset();
  resetTopicQueue();
  const rem = measurePublish(packet, protocolVersion);
  const head = packetLength(rem, options?.maximumPacketSize) - packet.payload.byteLength;
  const w = writer;
  const start = reserve(w, head);
  w.u8(publishHeader(packet));
  w.vbi(rem);
  writePublishHead(w, packet, protocolVersion);
  return output(w, start, head);
}

/**
 * Validates `packet` as {@link encode} does and returns the size it would
 * encode to, without writing it.
 */
export function encodedSize(
  packet: Packet,
  protocolVersion: ProtocolVersion = 5,
  options?: EncodeOptions,
): number {
  checkVersion(protocolVersion);
  sizes.reset();
  resetTopicQueue();
  return packetLength(measure(packet, protocolVersion), options?.maximumPacketSize);
}

/**
 * Encodes packets back to back into one buffer sized up front. Every packet
 * is validated first; an invalid one throws with its index in `field`
 * (`packets[3].topic`) and nothing is encoded.
 */
export function encodeBatch(
  packets: readonly Packet[],
  protocolVersion: ProtocolVersion = 5,
  options?: EncodeOptions,
): Uint8Array {
  checkVersion(protocolVersion);
  sizes.reset();
  resetTopicQueue();
  const max = options?.maximumPacketSize;
  let total = 0;
  for (let i = 0; i < packets.length; i++) {
    try {
      const rem = measure(packets[i], protocolVersion);
      total += packetLength(rem, max);
      remainingLengths[i] = rem;
    } catch (err) {
      if (err instanceof EncodeError)
        throw new EncodeError(`packets[${i}].${err.field}`, err.reason, err.reasonCode);
      throw err;
    }
  }
  const w = writer;
  const start = reserve(w, total);
  for (let i = 0; i < packets.length; i++) write(w, packets[i], protocolVersion, remainingLengths[i]);
  return output(w, start, total);
}
