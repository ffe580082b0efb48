/**
 * Bytes to packets, across any split of the input.
 *
 * How it works: the decoder reads the fixed header (type byte, then the
 * remaining length, a variable byte integer of at most 4 bytes) one byte at a
 * time, so a header may span chunks. As soon as the length is known the
 * packet's total size is checked against `maximumPacketSize`, so an
 * oversized packet is rejected before its body is buffered. When the whole
 * body sits in the current chunk it is decoded in place and payloads are
 * views of the chunk (no copy); otherwise the body is gathered from the
 * following chunks (copied into one buffer of its exact size, or for bodies
 * over 64 KiB kept as views and joined once complete, so memory grows with
 * the bytes received, never with what a header merely announces). Chunks
 * must not be modified after they are pushed: payloads are views of them.
 *
 *   state TYPE --byte--> LENGTH --last length byte--> decode in place
 *                                                  \-> BODY (fill) --full--> decode
 *
 * Any input that is not a valid packet throws {@link DecodeError} with the
 * reason code to disconnect with; the decoder then stays failed and throws
 * the same error on every later push.
 */
import { DecodeError, InvalidArgumentError } from '../core/errors.js';
import { readConnack, readConnect } from './connect.js';
import { readAuth, readDisconnect } from './control.js';
import { EMPTY_BUFFER, MALFORMED, PACKET_TOO_LARGE, Reader } from './primitives.js';
import { readAck, readPublish } from './publish.js';
import { readSuback, readSubscribe, readUnsuback, readUnsubscribe } from './subscribe.js';
import type { Packet, ProtocolVersion } from './types.js';

/** Options of {@link PacketDecoder}. */
export interface PacketDecoderOptions {
  /**
   * Protocol level of the connection. A decoded CONNECT switches the decoder
   * to the level it declares (useful on the broker side).
   * @default 5
   */
  protocolVersion?: ProtocolVersion;
  /**
   * Largest packet in bytes (fixed header included) that is accepted; a
   * larger one throws {@link DecodeError} 0x95 as soon as its header is read.
   * The default accepts anything MQTT can express; a `Session` passes its own
   * `maximumPacketSize` (16 MiB by default), and so should any client of a
   * peer it does not trust.
   * @default 268435460 (the largest packet MQTT can express)
   */
  maximumPacketSize?: number;
}

/** The largest packet MQTT can express: 1 + 4 + 268,435,455. */
export const MAX_PACKET_SIZE = 268_435_460;

/**
 * A body up to this size that spans chunks is copied into one buffer
 * allocated up front; a larger one is kept as views of the chunks until it
 * is complete, so a header announcing 256 MiB allocates nothing by itself.
 */
const LARGE_BODY = 64 * 1024;

const S_TYPE = 0;
const S_LENGTH = 1;
const S_BODY = 2;

const NAMES = [
  'RESERVED',
  'CONNECT',
  'CONNACK',
  'PUBLISH',
  'PUBACK',
  'PUBREC',
  'PUBREL',
  'PUBCOMP',
  'SUBSCRIBE',
  'SUBACK',
  'UNSUBSCRIBE',
  'UNSUBACK',
  'PINGREQ',
  'PINGRESP',
  'DISCONNECT',
  'AUTH',
];

/** Required fixed-header flags per type (-1: any, PUBLISH). */
const FLAGS = [0, 0, 0, -1, 0, 0, 2, 0, 2, 0, 2, 0, 0, 0, 0, 0];

/**
 * Bytes to packets, across any split of the input: push chunks as they arrive
 * and get back the packets they complete. Payloads and binary fields of the
 * decoded packets are views of the pushed chunks (no copy), so a chunk must not
 * be modified after it is pushed.
 *
 * Any input that is not a valid packet throws {@link DecodeError}, whose
 * `reasonCode` is the one to disconnect with; the decoder then stays failed
 * and throws the same error on every later push until {@link PacketDecoder.reset}.
 *
 * @throws InvalidArgumentError from the constructor when `protocolVersion` is not 4 or 5
 *   or `maximumPacketSize` is not an integer of at least 2.
 */
export class PacketDecoder {
  /** Protocol level packets are decoded for; updated by a decoded CONNECT. */
  protocolVersion: ProtocolVersion;
  /** Largest packet in bytes, fixed header included, that {@link PacketDecoder.push} accepts. */
  readonly maximumPacketSize: number;

  private readonly reader = new Reader();
  private state = S_TYPE;
  private first = 0;
  private length = 0;
  private lengthBytes = 0;
  private mult = 1;
  /** Body of a packet of at most LARGE_BODY bytes that spans chunks. */
  private body: Buffer | undefined = undefined;
  /** Pieces of a larger body: memory follows the bytes that arrived. */
  private readonly parts: Buffer[] = [];
  private filled = 0;
  private failure: DecodeError | undefined = undefined;

  constructor(options: PacketDecoderOptions = {}) {
    const v = options.protocolVersion ?? 5;
    if (v !== 4 && v !== 5)
      throw new InvalidArgumentError('protocolVersion', `must be 4 or 5, got ${String(v)}`);
    const max = options.maximumPacketSize ?? MAX_PACKET_SIZE;
    if (!Number.isInteger(max) || max < 2) {
      throw new InvalidArgumentError('maximumPacketSize', `must be an integer >= 2, got ${String(max)}`);
    }
    this.protocolVersion = v;
    this.maximumPacketSize = max;
  }

  /** Bytes held for a packet that is not complete yet. */
  get buffered(): number {
    return this.state === S_BODY
      ? this.filled + 1 + this.lengthBytes
      : this.state === S_LENGTH
        ? 1 + this.lengthBytes
        : 0;
  }

  /**
   * Feeds bytes and returns the packets they complete (possibly none).
   * Throws {@link DecodeError} on malformed input.
   */
  push(chunk: Uint8Array): Packet[] {
    if (this.failure !== undefined) throw this.failure;
    const buf = Buffer.isBuffer(chunk) ? chunk : toBuffer(chunk);
    const out: Packet[] = [];
    try {
      this.run(buf, out);
      // the packets hold their own views; the reader must not keep the chunk alive
      this.reader.buf = EMPTY_BUFFER;
    } catch (err) {
      this.body = undefined;
      this.parts.length = 0;
      this.failure =
        err instanceof DecodeError
          ? err
          : new DecodeError(`internal decoder error: ${(err as Error)?.message}`, MALFORMED);
      throw this.failure;
    }
    return out;
  }

  /** Forgets any partial packet and a previous failure (for a new connection). */
  reset(): void {
    this.state = S_TYPE;
    this.body = undefined;
    this.parts.length = 0;
    this.failure = undefined;
  }

  private run(buf: Buffer, out: Packet[]): void {
    const n = buf.length;
    let pos = 0;
    while (pos < n) {
      if (this.state === S_TYPE) {
        const first = buf[pos++];
        const type = first >> 4;
        const flags = FLAGS[type];
        if (type === 0) fail('packet type 0 is reserved');
        if (type === 15 && this.protocolVersion === 4) fail('AUTH (type 15) does not exist in MQTT 3.1.1');
        if (flags >= 0 && (first & 0x0f) !== flags) {
          fail(`${NAMES[type]} has fixed header flags 0x${(first & 0x0f).toString(16)}, must be 0x${flags}`);
        }
        this.first = first;
        this.length = 0;
        this.lengthBytes = 0;
        this.mult = 1;
        this.state = S_LENGTH;
      }
      if (this.state === S_LENGTH) {
        let done = false;
        while (pos < n) {
          const b = buf[pos++];
          this.length += (b & 0x7f) * this.mult;
          this.lengthBytes++;
          if ((b & 0x80) === 0) {
            if (b === 0 && this.lengthBytes > 1) fail('remaining length is not encoded in the fewest bytes');
            done = true;
            break;
          }
          if (this.lengthBytes === 4) fail('remaining length is longer than 4 bytes');
          this.mult *= 128;
        }
        if (!done) return;
        const len = this.length;
        const total = 1 + this.lengthBytes + len;
        if (total > this.maximumPacketSize) {
          throw new DecodeError(
            `${NAMES[this.first >> 4]} of ${total} bytes exceeds the maximum packet size of ${this.maximumPacketSize}`,
            PACKET_TOO_LARGE,
          );
        }
        this.checkLength(len);
        if (n - pos >= len) {
          this.state = S_TYPE;
          out.push(this.decode(buf, pos, pos + len));
          pos += len;
          continue;
        }
        this.state = S_BODY;
        this.filled = n - pos;
        if (len <= LARGE_BODY) {
          this.body = Buffer.allocUnsafe(len);
          buf.copy(this.body, 0, pos, n);
        } else {
          this.parts.push(buf.subarray(pos, n));
        }
        return;
      }
      // S_BODY: continue a packet body that spans chunks
      const take = Math.min(n - pos, this.length - this.filled);
      if (this.body !== undefined) buf.copy(this.body, this.filled, pos, pos + take);
      else this.parts.push(buf.subarray(pos, pos + take));
      this.filled += take;
      pos += take;
      if (this.filled < this.length) return;
      const body = this.body ?? Buffer.concat(this.parts, this.length);
      this.state = S_TYPE;
      this.body = undefined;
      this.parts.length = 0;
      out.push(this.decode(body, 0, body.length));
    }
  }

  /** Rejects impossible remaining lengths before any body is buffered. */
  private checkLength(len: number): void {
    const type = this.first >> 4;
    let ok = true;
    if (type === 12 || type === 13) ok = len === 0;
    else if (type >= 4 && type <= 7) ok = this.protocolVersion === 4 ? len === 2 : len >= 2;
    else if (type === 2) ok = this.protocolVersion === 4 ? len === 2 : len >= 2;
    else if (type === 14 && this.protocolVersion === 4) ok = len === 0;
    if (!ok) fail(`${NAMES[type]} cannot have a remaining length of ${len}`);
  }

  private decode(buf: Buffer, start: number, end: number): Packet {
    const first = this.first;
    const type = first >> 4;
    const v = this.protocolVersion;
    const r = this.reader;
    r.reset(buf, start, end, NAMES[type]);
    switch (type) {
      case 3:
        return readPublish(r, first & 0x0f, v);
      case 4:
        return readAck(r, 'puback', v);
      case 5:
        return readAck(r, 'pubrec', v);
      case 6:
        return readAck(r, 'pubrel', v);
      case 7:
        return readAck(r, 'pubcomp', v);
      case 1: {
        const p = readConnect(r);
        this.protocolVersion = p.protocolVersion as ProtocolVersion;
        return p;
      }
      case 2:
        return readConnack(r, v);
      case 8:
        return readSubscribe(r, v);
      case 9:
        return readSuback(r, v);
      case 10:
        return readUnsubscribe(r, v);
      case 11:
        return readUnsuback(r, v);
      case 12:
        return { type: 'pingreq' };
      case 13:
        return { type: 'pingresp' };
      case 14:
        return readDisconnect(r, v);
      default:
        return readAuth(r);
    }
  }
}

function fail(message: string): never {
  throw new DecodeError(message, MALFORMED);
}

function toBuffer(chunk: Uint8Array): Buffer {
  if (!(chunk instanceof Uint8Array))
    throw new InvalidArgumentError('chunk', 'PacketDecoder.push expects a Uint8Array or Buffer');
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}
