/**
 * Wire primitives shared by every packet: integers, variable byte integers,
 * UTF-8 strings and binary data (spec 1.5), read by {@link Reader} and
 * written by {@link Writer}.
 *
 * Encoding is two passes over a packet: `measure*` computes sizes and
 * validates, `write*` fills a buffer allocated once at the exact size. Sizes
 * that are costly to compute twice (string byte lengths, property section
 * lengths) are pushed on {@link sizes} in the measure pass and taken off in
 * the same order in the write pass, so nothing is allocated per field.
 */
import { DecodeError, EncodeError } from '../core/errors.js';

/**
 * Node's Buffer has native string codecs without the argument checks of
 * `write`/`toString`; they are not in the typings, so they are named here.
 */
export interface NodeBuffer extends Buffer {
  latin1Write(s: string, offset: number, length: number): number;
  utf8Write(s: string, offset: number, length: number): number;
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
}

/** Largest value a variable byte integer holds (4 bytes). */
export const MAX_VBI = 268_435_455;

/** 0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet too large. */
export const MALFORMED = 0x81;
export const PROTOCOL_ERROR = 0x82;
export const PACKET_TOO_LARGE = 0x95;

export function vbiLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}

/** FIFO of sizes computed by a measure pass and consumed by the write pass. */
class SizeQueue {
  private values: number[] = [];
  private head = 0;
  private tail = 0;

  reset(): void {
    this.head = 0;
    this.tail = 0;
  }

  push(n: number): void {
    this.values[this.tail++] = n;
  }

  /** Reserves a slot to be filled by {@link set} once its value is known. */
  reserve(): number {
    return this.tail++;
  }

  set(slot: number, n: number): void {
    this.values[slot] = n;
  }

  shift(): number {
    return this.values[this.head++];
  }
}

export const sizes = new SizeQueue();

/**
 * Byte length of `s` in UTF-8, validated as MQTT requires of a UTF-8 string
 * (1.5.4): well-formed (no lone surrogates), no U+0000, at most 65,535 bytes.
 */
export function utf8Length(s: string, field: string): number {
  if (typeof s !== 'string') throw new EncodeError(field, `expected a string, got ${typeof s}`);
  const n = s.length;
  let bytes = n;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if (c === 0) throw new EncodeError(field, 'contains U+0000, which MQTT forbids in strings');
    } else if (c < 0x800) {
      bytes += 1;
    } else if (c < 0xd800 || c > 0xdfff) {
      bytes += 2;
    } else {
      const d = c <= 0xdbff && i + 1 < n ? s.charCodeAt(i + 1) : 0;
      if (d < 0xdc00 || d > 0xdfff) {
        throw new EncodeError(field, `contains a lone surrogate at index ${i}; not well-formed UTF-16`);
      }
      bytes += 2; // the pair counts 2 already: 4 bytes in all
      i++;
    }
  }
  if (bytes > 0xffff)
    throw new EncodeError(field, `is ${bytes} bytes in UTF-8; MQTT strings hold at most 65535`);
  return bytes;
}

export function binaryLength(b: Uint8Array, field: string): number {
  if (!(b instanceof Uint8Array)) throw new EncodeError(field, 'expected a Uint8Array or Buffer');
  if (b.byteLength > 0xffff)
    throw new EncodeError(field, `is ${b.byteLength} bytes; binary data holds at most 65535`);
  return b.byteLength;
}

export function checkU16(n: number, field: string, min = 0): number {
  if (!Number.isInteger(n) || n < min || n > 0xffff) {
    throw new EncodeError(field, `must be an integer from ${min} to 65535, got ${String(n)}`);
  }
  return n;
}

export function checkU32(n: number, field: string, min = 0): number {
  if (!Number.isInteger(n) || n < min || n > 0xffffffff) {
    throw new EncodeError(field, `must be an integer from ${min} to 4294967295, got ${String(n)}`);
  }
  return n;
}

export function checkVbi(n: number, field: string, min = 0): number {
  if (!Number.isInteger(n) || n < min || n > MAX_VBI) {
    throw new EncodeError(field, `must be an integer from ${min} to ${MAX_VBI}, got ${String(n)}`);
  }
  return n;
}

/** Writes into a buffer sized by the measure pass. One instance is reused. */
export class Writer {
  buf: Buffer = Buffer.alloc(0);
  pos = 0;

  u8(n: number): void {
    this.buf[this.pos++] = n;
  }

  u16(n: number): void {
    const b = this.buf;
    b[this.pos++] = n >>> 8;
    b[this.pos++] = n & 0xff;
  }

  u32(n: number): void {
    const b = this.buf;
    b[this.pos++] = n >>> 24;
    b[this.pos++] = (n >>> 16) & 0xff;
    b[this.pos++] = (n >>> 8) & 0xff;
    b[this.pos++] = n & 0xff;
  }

  vbi(n: number): void {
    const b = this.buf;
    while (n > 0x7f) {
      b[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    b[this.pos++] = n;
  }

  /** A UTF-8 string of `len` bytes (from {@link utf8Length}), with its length prefix. */
  utf8(s: string, len: number): void {
    const b = this.buf;
    let p = this.pos;
    b[p++] = len >>> 8;
    b[p++] = len & 0xff;
    if (len === s.length) {
      if (len < 32) {
        for (let i = 0; i < len; i++) b[p + i] = s.charCodeAt(i);
      } else {
        (b as NodeBuffer).latin1Write(s, p, len);
      }
    } else {
      (b as NodeBuffer).utf8Write(s, p, len);
    }
    this.pos = p + len;
  }

  /** Binary data with its two-byte length prefix. */
  binary(d: Uint8Array): void {
    this.u16(d.byteLength);
    this.bytes(d);
  }

  /** Raw bytes, no prefix. */
  bytes(d: Uint8Array): void {
    const n = d.byteLength;
    if (n < 16) {
      const b = this.buf;
      const p = this.pos;
      for (let i = 0; i < n; i++) b[p + i] = d[i];
    } else {
      this.buf.set(d, this.pos);
    }
    this.pos += n;
  }
}

/** A shared empty buffer (never written to). */
export const EMPTY_BUFFER: Buffer = Buffer.alloc(0);

/**
 * Reads the body of one packet from `buf[pos..end)`. Every read is bounds
 * checked against `end` and throws {@link DecodeError} (0x81) past it.
 */
export class Reader {
  buf: Buffer = EMPTY_BUFFER;
  pos = 0;
  end = 0;
  /** Packet name for error messages, e.g. `PUBLISH`. */
  packet = '';

  reset(buf: Buffer, pos: number, end: number, packet: string): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.packet = packet;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  fail(what: string, reasonCode = MALFORMED): never {
    throw new DecodeError(`${this.packet}: ${what}`, reasonCode);
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.end) this.fail(`packet ends inside ${what}`);
  }

  u8(what: string): number {
    if (this.pos >= this.end) this.fail(`packet ends inside ${what}`);
    return this.buf[this.pos++];
  }

  u16(what: string): number {
    this.need(2, what);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 2;
    return (b[p] << 8) | b[p + 1];
  }

  u32(what: string): number {
    this.need(4, what);
    const b = this.buf;
    const p = this.pos;
    this.pos = p + 4;
    return b[p] * 0x1000000 + ((b[p + 1] << 16) | (b[p + 2] << 8) | b[p + 3]);
  }

  vbi(what: string): number {
    const b = this.buf;
    let value = 0;
    let mult = 1;
    for (let i = 0; i < 4; i++) {
      if (this.pos >= this.end) this.fail(`packet ends inside ${what}`);
      const byte = b[this.pos++];
      value += (byte & 0x7f) * mult;
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) this.fail(`${what} is not encoded in the fewest bytes`);
        return value;
      }
      mult *= 128;
    }
    return this.fail(`${what} is longer than 4 bytes`);
  }

  /** A length-prefixed UTF-8 string, validated (well-formed, no U+0000). */
  utf8(what: string): string {
    const len = this.u16(what);
    this.need(len, what);
    const p = this.pos;
    this.pos = p + len;
    return decodeUtf8(this, this.buf, p, p + len, what);
  }

  /** Length-prefixed binary data as a zero-copy view. */
  binary(what: string): Buffer {
    const len = this.u16(what);
    this.need(len, what);
    const p = this.pos;
    this.pos = p + len;
    return this.buf.subarray(p, p + len);
  }
}

/**
 * Decodes `buf[start..end)` as MQTT UTF-8: ASCII takes a fast path; anything
 * else is checked to be well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing past U+10FFFF) before Node decodes it.
 */
export function decodeUtf8(r: Reader, buf: Buffer, start: number, end: number, what: string): string {
  let flags = 0;
  for (let i = start; i < end; i++) flags |= BYTE_CLASS[buf[i]];
  if ((flags & SLOW) === 0) return (buf as NodeBuffer).latin1Slice(start, end);
  checkUtf8(r, buf, start, end, what);
  return (buf as NodeBuffer).utf8Slice(start, end);
}

/**
 * Byte classes for one-pass scans of strings on the wire: {@link WILDCARD}
 * for `+` and `#`, {@link SLOW} for U+0000 and every non-ASCII byte (which
 * need the full UTF-8 check). A table lookup ORed over the bytes is about
 * twice as fast as comparisons per byte.
 */
export const WILDCARD = 1;
export const SLOW = 2;
export const BYTE_CLASS = new Uint8Array(256);
BYTE_CLASS[0x2b] = WILDCARD;
BYTE_CLASS[0x23] = WILDCARD;
BYTE_CLASS[0] = SLOW;
BYTE_CLASS.fill(SLOW, 0x80);

function checkUtf8(r: Reader, b: Buffer, i: number, end: number, what: string): void {
  while (i < end) {
    const c = b[i];
    if (c < 0x80) {
      if (c === 0) r.fail(`${what} contains U+0000`);
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let cp: number;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      min = 0x80;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      min = 0x800;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      min = 0x10000;
      cp = c & 0x07;
    } else {
      r.fail(`${what} is not well-formed UTF-8 (byte 0x${c.toString(16)})`);
    }
    if (i + need >= end) r.fail(`${what} is not well-formed UTF-8 (truncated sequence)`);
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if ((d & 0xc0) !== 0x80) r.fail(`${what} is not well-formed UTF-8 (bad continuation byte)`);
      cp = (cp << 6) | (d & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
      r.fail(`${what} is not well-formed UTF-8 (overlong form, surrogate or code point past U+10FFFF)`);
    }
    i += need + 1;
  }
}
