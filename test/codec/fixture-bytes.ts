/**
 * Helpers for writing wire fixtures by hand. The fixtures themselves
 * (fixtures-v4.ts, fixtures-v5.ts) are written from the MQTT 3.1.1 and 5.0
 * specifications, one byte group per line with what it is; these helpers
 * only spell out text so that the byte groups stay readable. Every length
 * prefix and remaining length is written out by hand.
 */
import type { Packet } from '../../src/codec/index.js';

export interface Fixture {
  name: string;
  version: 4 | 5;
  /** Exactly what the decoder returns for `bytes`, and what encodes to `bytes`. */
  packet: Packet;
  bytes: number[];
}

/** The characters of an ASCII string, one byte each (no length prefix). */
export function ascii(text: string): number[] {
  const out: number[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 0x7f) throw new Error(`ascii() got a non-ASCII character in ${JSON.stringify(text)}`);
    out.push(c);
  }
  return out;
}

/** Byte groups, one per line in a fixture, flattened into the packet bytes. */
export function wire(...groups: number[][]): number[] {
  return groups.flat();
}

/** `count` copies of `byte`. */
export function repeat(byte: number, count: number): number[] {
  return new Array<number>(count).fill(byte);
}
