/**
 * The bench payload: a 16-byte header, then zeros up to `--size`.
 *
 *   0   4  magic "mqkb" (messages without it are not bench messages and are ignored)
 *   4   4  sequence number, uint32 LE (wraps)
 *   8   8  send time, float64 LE, ms since the epoch with sub-ms precision
 *
 * The send time is `performance.timeOrigin + performance.now()`: monotonic
 * within a process, and on one machine separate processes agree closely
 * enough for end-to-end latency (`bench sub --no-publish` against a
 * `bench pub` elsewhere).
 */

export const HEADER_SIZE = 16;
const MAGIC = 0x626b716d; // "mqkb" read as uint32 LE

const origin = performance.timeOrigin;

/** Now, in ms since the epoch with sub-ms precision: the clock of every bench timestamp. */
export function now(): number {
  return origin + performance.now();
}

/** Writes the header into `buf` (at least HEADER_SIZE bytes). */
export function writeHeader(buf: Buffer, seq: number, sentAt: number): void {
  buf.writeUInt32LE(MAGIC, 0);
  buf.writeUInt32LE(seq >>> 0, 4);
  buf.writeDoubleLE(sentAt, 8);
}

/** A zeroed payload of `size` bytes with the magic in place. */
export function makePayload(size: number): Buffer {
  const buf = Buffer.alloc(size);
  buf.writeUInt32LE(MAGIC, 0);
  return buf;
}

/** The send time of a bench payload, or NaN when `payload` is not one. */
export function sentAt(payload: Uint8Array): number {
  if (payload.byteLength < HEADER_SIZE) return Number.NaN;
  const buf = payload as Buffer;
  if (typeof buf.readDoubleLE !== 'function')
    return sentAt(Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength));
  if (buf.readUInt32LE(0) !== MAGIC) return Number.NaN;
  return buf.readDoubleLE(8);
}
