/**
 * The `FileStore` log format, pure: records, reading a log back with
 * recovery from damage, and the live state a log replays to. No file
 * system here; `file.ts` does the I/O.
 *
 * Format (version 2), a sequence of records, big-endian:
 *
 *   sync FF 4D 51 4B | length u32 | crc32 u32 | type u8 | payload (length - 1 bytes)
 *
 * `length` counts the type byte and the payload. The CRC-32 covers the type,
 * the payload and then the four length bytes, in that order: every byte of a
 * record but the sync marker is checked, so any one changed byte (in the
 * marker too, which must match) makes exactly that record invalid. Types:
 *
 *   1 header          'MQKS' | version u8 (2) | client id (UTF-8)   always first
 *   2 put message     `encodeMessage(m)` from record.ts
 *   3 delete message  seq f64
 *   4 add QoS 2       packet id u16
 *   5 delete QoS 2    packet id u16
 *   6 put sub         `encodeSubscription(s)` (UTF-8 JSON)
 *   7 delete sub      topic filter (UTF-8)
 *   8 clear           empty: forget everything before it (read, never written today)
 *
 * Every record is a last-writer-wins change to one key (or to everything),
 * so replaying a record twice changes nothing: compaction relies on it.
 *
 * Version 1 (mqttkit 0.1) is the same without the sync marker, with a CRC
 * over the type and payload only: `length u32 | crc32 u32 | type u8 |
 * payload`. It is read by the same loop and rewritten as version 2 on load.
 *
 * Reading: records are replayed in order. Where the bytes at the expected
 * start of a record are not a whole, valid record (or one whose content
 * cannot be decoded), a damaged run begins; the reader finds where it ends,
 * skips it and carries on. The end of a damaged run, in this order:
 *
 *   1. (v2) where the record's own CRC says it ends: the CRC is extended over
 *      the bytes that follow, checked with the length each next sync marker
 *      (or the end of the file) would give. This finds the record whose
 *      length or sync marker is the damaged byte, and does not look inside
 *      its payload for records (a payload may hold anything).
 *   2. where its length says it ends, when a valid record (or the end of the
 *      file) is there: the damage is in the CRC, the type or the payload.
 *   3. the next valid record: the next sync marker that starts one (v1: the
 *      next offset), or the end of the file.
 *
 * A damaged run that reaches the end of the file is a torn tail (a write cut
 * short by a crash, or a damaged last record: they cannot be told apart):
 * `FileStore` cuts it off. One that a valid record follows is damage in the
 * middle: `FileStore` saves the log aside and rewrites it from what was read.
 *
 * The exact guarantee, for a log with one changed byte anywhere: the state
 * read is the replay of every record except the one holding that byte (the
 * header holding it loses no record). With more damage, records are found
 * again from the next valid sync marker: only a payload that itself holds a
 * whole, valid record of this format, in a damaged region, could be taken
 * for a record, and a CRC cannot tell that apart.
 */
import * as zlib from 'node:zlib';
import { decodeMessage, decodeSubscription, encodeMessage, encodeSubscription } from './record.js';
import type { PersistedSession, StoredMessage, StoredSubscription } from './types.js';

export const HEADER = 1;
export const PUT_MESSAGE = 2;
export const DELETE_MESSAGE = 3;
export const ADD_QOS2 = 4;
export const DELETE_QOS2 = 5;
export const PUT_SUBSCRIPTION = 6;
export const DELETE_SUBSCRIPTION = 7;
export const CLEAR = 8;

const MAGIC = Buffer.from('MQKS', 'latin1');
/** The version this code writes. */
export const VERSION = 2;
const SYNC = Buffer.from([0xff, 0x4d, 0x51, 0x4b]);
/** sync + length + crc + type */
export const RECORD_OVERHEAD = 13;
const QOS2_RECORD_BYTES = RECORD_OVERHEAD + 2;
/** Version 1: length + crc + type */
const V1_OVERHEAD = 9;

const crc32: (data: Uint8Array, value?: number) => number =
  typeof zlib.crc32 === 'function' ? (data, value = 0) => zlib.crc32(data, value) : tableCrc32;

let crcTable: Uint32Array | undefined;

/** CRC-32 (IEEE 802.3, as zlib, continuing from `value`) for Node versions without `zlib.crc32`; exported for its test. */
export function tableCrc32(data: Uint8Array, value = 0): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = (value ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// --- writing -----------------------------------------------------------------

/** One record of `type` with `payload`. */
export function record(type: number, payload: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(RECORD_OVERHEAD + payload.length);
  SYNC.copy(b, 0);
  b.writeUInt32BE(1 + payload.length, 4);
  b[12] = type;
  b.set(payload, RECORD_OVERHEAD);
  b.writeUInt32BE(crc32(b.subarray(4, 8), crc32(b.subarray(12))), 8);
  return b;
}

/** The first record of `clientId`'s log. */
export function headerRecord(clientId: string): Buffer {
  return record(HEADER, Buffer.concat([MAGIC, Buffer.of(VERSION), Buffer.from(clientId, 'utf8')]));
}

export function putMessageRecord(message: StoredMessage): Buffer {
  return record(PUT_MESSAGE, encodeMessage(message));
}

export function deleteMessageRecord(seq: number): Buffer {
  const p = Buffer.allocUnsafe(8);
  p.writeDoubleBE(seq, 0);
  return record(DELETE_MESSAGE, p);
}

export function addQoS2Record(packetId: number): Buffer {
  return u16Record(ADD_QOS2, packetId);
}

export function deleteQoS2Record(packetId: number): Buffer {
  return u16Record(DELETE_QOS2, packetId);
}

export function putSubscriptionRecord(s: StoredSubscription): Buffer {
  return record(PUT_SUBSCRIPTION, Buffer.from(encodeSubscription(s), 'utf8'));
}

export function deleteSubscriptionRecord(topicFilter: string): Buffer {
  return record(DELETE_SUBSCRIPTION, Buffer.from(topicFilter, 'utf8'));
}

function u16Record(type: number, value: number): Buffer {
  const p = Buffer.allocUnsafe(2);
  p.writeUInt16BE(value, 0);
  return record(type, p);
}

/** The live state in `m` as a log of `header` and one record per entry. */
export function snapshot(header: Buffer, m: Mirror): Buffer {
  const parts: Buffer[] = [header];
  for (const message of m.messagesInOrder()) parts.push(putMessageRecord(message));
  for (const id of m.incoming) parts.push(addQoS2Record(id));
  for (const { subscription } of m.subscriptions.values()) parts.push(putSubscriptionRecord(subscription));
  return Buffer.concat(parts);
}

// --- state -------------------------------------------------------------------

/** One client's live state, with the bytes each entry takes in a compacted log. */
export class Mirror {
  readonly messages = new Map<number, { message: StoredMessage; bytes: number }>();
  readonly incoming = new Set<number>();
  readonly subscriptions = new Map<string, { subscription: StoredSubscription; bytes: number }>();
  /** Bytes of the records a compacted log needs, without its header. */
  bytes = 0;

  putMessage(message: StoredMessage, bytes: number): void {
    const old = this.messages.get(message.seq);
    if (old !== undefined) this.bytes -= old.bytes;
    this.messages.set(message.seq, { message, bytes });
    this.bytes += bytes;
  }

  deleteMessage(seq: number): void {
    const old = this.messages.get(seq);
    if (old === undefined) return;
    this.bytes -= old.bytes;
    this.messages.delete(seq);
  }

  addIncoming(packetId: number): void {
    if (this.incoming.has(packetId)) return;
    this.incoming.add(packetId);
    this.bytes += QOS2_RECORD_BYTES;
  }

  deleteIncoming(packetId: number): void {
    if (this.incoming.delete(packetId)) this.bytes -= QOS2_RECORD_BYTES;
  }

  putSubscription(subscription: StoredSubscription, bytes: number): void {
    const old = this.subscriptions.get(subscription.topicFilter);
    if (old !== undefined) this.bytes -= old.bytes;
    this.subscriptions.set(subscription.topicFilter, { subscription, bytes });
    this.bytes += bytes;
  }

  deleteSubscription(topicFilter: string): void {
    const old = this.subscriptions.get(topicFilter);
    if (old === undefined) return;
    this.bytes -= old.bytes;
    this.subscriptions.delete(topicFilter);
  }

  /** The messages in `seq` order. */
  messagesInOrder(): StoredMessage[] {
    return [...this.messages.values()].map((e) => e.message).sort((a, b) => a.seq - b.seq);
  }

  /** The state as `SessionStore.load` returns it. */
  session(): PersistedSession {
    return {
      messages: this.messagesInOrder(),
      incomingQoS2: [...this.incoming],
      subscriptions: [...this.subscriptions.values()].map((e) => e.subscription),
    };
  }

  clear(): void {
    this.messages.clear();
    this.incoming.clear();
    this.subscriptions.clear();
    this.bytes = 0;
  }

  /** Replays one (non-header) record; throws, changing nothing, on one it cannot decode. */
  apply(type: number, payload: Buffer): void {
    const bytes = RECORD_OVERHEAD + payload.length;
    switch (type) {
      case PUT_MESSAGE:
        this.putMessage(decodeMessage(payload), bytes);
        return;
      case DELETE_MESSAGE:
        if (payload.length !== 8) throw new Error('bad delete message record');
        this.deleteMessage(payload.readDoubleBE(0));
        return;
      case ADD_QOS2:
        if (payload.length !== 2) throw new Error('bad QoS 2 record');
        this.addIncoming(payload.readUInt16BE(0));
        return;
      case DELETE_QOS2:
        if (payload.length !== 2) throw new Error('bad QoS 2 record');
        this.deleteIncoming(payload.readUInt16BE(0));
        return;
      case PUT_SUBSCRIPTION:
        this.putSubscription(decodeSubscription(payload.toString('utf8')), bytes);
        return;
      case DELETE_SUBSCRIPTION:
        this.deleteSubscription(payload.toString('utf8'));
        return;
      case CLEAR:
        if (payload.length !== 0) throw new Error('bad clear record');
        this.clear();
        return;
      default:
        throw new Error(`unknown record type ${type}`);
    }
  }

  /** Replays a record made by `record()` in this process. */
  replay(r: Buffer): void {
    this.apply(r[12], r.subarray(RECORD_OVERHEAD));
  }
}

// --- reading -----------------------------------------------------------------

/** A run of bytes in a log. */
export interface LogRange {
  /** Where it starts, from the start of the file. */
  offset: number;
  /** How long it is. */
  bytes: number;
}

/** What `readLog` found. */
export interface LogRead {
  /** The format version of the file; 0 when it holds no valid record. */
  version: number;
  /** The state the valid records replay to. */
  mirror: Mirror;
  /** Just past the last byte before the torn tail: the file's length once the tail is cut. */
  end: number;
  /** Damaged runs followed by a valid record, skipped, in file order. */
  skipped: LogRange[];
  /** The damaged run at the end of the file, when there is one. */
  torn: LogRange | undefined;
  /** The log does not start with a valid header naming the client. */
  headerDamaged: boolean;
}

/** A whole, valid header says the log is not this code's to read or change. */
export class LogRefusedError extends Error {
  constructor(
    /** What cannot be done with the file: 'read' (a later version) or 'use' (another client's). */
    readonly action: 'read' | 'use',
    message: string,
  ) {
    super(message);
  }
}

interface Framing {
  /** Bytes before the payload, type byte included. */
  readonly overhead: number;
  /** The size of the whole, valid record at `o`, or 0. */
  recordAt(buf: Buffer, o: number): number;
  /** Where the damaged run starting at `o` ends: the next valid record, or `buf.length`. */
  resync(buf: Buffer, o: number): number;
}

const lengthBytes = Buffer.alloc(4);

function v2RecordAt(buf: Buffer, o: number): number {
  if (buf.length - o < RECORD_OVERHEAD || buf.compare(SYNC, 0, 4, o, o + 4) !== 0) return 0;
  const length = buf.readUInt32BE(o + 4);
  if (length < 1 || length > buf.length - o - 12) return 0;
  const crc = crc32(buf.subarray(o + 4, o + 8), crc32(buf.subarray(o + 12, o + 12 + length)));
  return crc === buf.readUInt32BE(o + 8) ? 12 + length : 0;
}

/**
 * The end of the record at `o` that its CRC vouches for, with the length
 * that each next sync marker (or the end of the file) as its end would
 * give; -1 when none does.
 */
function v2CheckedEnd(buf: Buffer, o: number): number {
  if (buf.length - o < RECORD_OVERHEAD) return -1;
  const stored = buf.readUInt32BE(o + 8);
  let crc = 0;
  let from = o + 12;
  for (;;) {
    // a record has at least its type byte
    let next = buf.indexOf(SYNC, from + 1);
    if (next < 0) next = buf.length;
    crc = crc32(buf.subarray(from, next), crc);
    from = next;
    lengthBytes.writeUInt32BE(next - o - 12, 0);
    if (crc32(lengthBytes, crc) === stored) return next;
    if (next === buf.length) return -1;
  }
}

const V2: Framing = {
  overhead: RECORD_OVERHEAD,
  recordAt: v2RecordAt,
  resync(buf, o) {
    const checked = v2CheckedEnd(buf, o);
    if (checked > 0) return checked;
    if (buf.length - o >= 12) {
      const end = o + 12 + buf.readUInt32BE(o + 4);
      if (end > o + 12 && end <= buf.length && (end === buf.length || v2RecordAt(buf, end) > 0)) return end;
    }
    for (let p = buf.indexOf(SYNC, o + 1); p >= 0; p = buf.indexOf(SYNC, p + 1))
      if (v2RecordAt(buf, p) > 0) return p;
    return buf.length;
  },
};

function v1RecordAt(buf: Buffer, o: number): number {
  if (buf.length - o < V1_OVERHEAD) return 0;
  const length = buf.readUInt32BE(o);
  if (length < 1 || length > buf.length - o - 8) return 0;
  return crc32(buf.subarray(o + 8, o + 8 + length)) === buf.readUInt32BE(o + 4) ? 8 + length : 0;
}

const V1: Framing = {
  overhead: V1_OVERHEAD,
  recordAt: v1RecordAt,
  resync(buf, o) {
    if (buf.length - o >= 8) {
      const end = o + 8 + buf.readUInt32BE(o);
      if (end > o + 8 && end <= buf.length && (end === buf.length || v1RecordAt(buf, end) > 0)) return end;
    }
    for (let p = o + 1; p < buf.length; p++) if (v1RecordAt(buf, p) > 0) return p;
    return buf.length;
  },
};

/** Version 2 when the file starts with a sync marker or holds a valid v2 record; else version 1. */
function framingOf(buf: Buffer): Framing {
  if (buf.length >= 4 && buf.compare(SYNC, 0, 4, 0, 4) === 0) return V2;
  if (v1RecordAt(buf, 0) > 0) return V1;
  for (let p = buf.indexOf(SYNC); p >= 0; p = buf.indexOf(SYNC, p + 1)) if (v2RecordAt(buf, p) > 0) return V2;
  return V1;
}

/**
 * Reads the log `buf` of `clientId`, skipping damage (see the module
 * comment). Throws {@link LogRefusedError} when a whole, valid header names
 * another client or a later version: such a file must be left alone.
 */
export function readLog(buf: Buffer, clientId: string): LogRead {
  const f = framingOf(buf);
  const read: LogRead = {
    version: 0,
    mirror: new Mirror(),
    end: buf.length,
    skipped: [],
    torn: undefined,
    headerDamaged: buf.length > 0,
  };
  const skip = (offset: number, end: number): void => {
    const last = read.skipped[read.skipped.length - 1];
    if (last !== undefined && last.offset + last.bytes === offset) last.bytes += end - offset;
    else read.skipped.push({ offset, bytes: end - offset });
  };
  let o = 0;
  while (o < buf.length) {
    const size = f.recordAt(buf, o);
    if (size === 0) {
      const end = f.resync(buf, o);
      if (end === buf.length) {
        read.torn = { offset: o, bytes: end - o };
        read.end = o;
        break;
      }
      skip(o, end);
      o = end;
      continue;
    }
    read.version = f === V2 ? 2 : 1;
    const type = buf[o + f.overhead - 1];
    const payload = buf.subarray(o + f.overhead, o + size);
    if (o === 0 && type === HEADER) {
      if (payload.length < 5 || !payload.subarray(0, 4).equals(MAGIC)) skip(o, o + size);
      else {
        const version = payload[4];
        if (version !== read.version) throw new LogRefusedError('read', `unsupported log version ${version}`);
        const owner = payload.subarray(5);
        if (!owner.equals(Buffer.from(clientId, 'utf8')))
          throw new LogRefusedError('use', `it holds client id ${JSON.stringify(owner.toString())}`);
        read.headerDamaged = false;
      }
    } else {
      try {
        read.mirror.apply(type, payload);
      } catch {
        // whole and valid, yet not a record this code wrote: damage all the same
        skip(o, o + size);
      }
    }
    o += size;
  }
  // nothing valid at all (a first write torn, or garbage): a torn tail, not a header gone wrong
  if (read.version === 0) read.headerDamaged = false;
  return read;
}
