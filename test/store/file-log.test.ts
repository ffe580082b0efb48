/**
 * The FileStore log format (`src/store/file-log.ts`) byte by byte. Every
 * record below was written by hand from the format the module header
 * describes, its CRC computed apart from this code (Python's `zlib.crc32`):
 *
 *   sync FF 4D 51 4B | length u32 | crc32 u32 | type u8 | payload
 *
 * `length` counts the type byte and the payload; the CRC covers the type,
 * the payload and then the four length bytes. These bytes are what logs on
 * disk hold: if one of these tests fails, existing state directories no
 * longer load.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { FileStore } from '../../src/store/file.js';
import {
  addQoS2Record,
  deleteMessageRecord,
  deleteQoS2Record,
  deleteSubscriptionRecord,
  headerRecord,
  LogRefusedError,
  Mirror,
  putMessageRecord,
  putSubscriptionRecord,
  readLog,
  record,
  snapshot,
  tableCrc32,
} from '../../src/store/file-log.js';
import type { StoredMessage } from '../../src/store/types.js';
import { message } from './contract.js';
import { plain, removeTempDirs, tempDir } from './file-helpers.js';

afterAll(removeTempDirs);

const ID = 'dev/7';

/** Hex with spaces between fields, as bytes. */
const bytes = (...hex: string[]): Buffer => Buffer.from(hex.join('').replace(/\s+/g, ''), 'hex');

//                 sync     length   crc32    type payload
// 1 header: 'MQKS', version 2, the client id 'dev/7'
const HEADER = 'ff4d514b 0000000b 8c3a582c 01 4d514b53 02 6465762f37';
// 2 put message: seq 1.0 (f64), expiresAt 0 (f64), packet id 7, stage 1, then the PUBLISH as MQTT 5
//   (QoS 1: 0x32, remaining length 10, topic 't/1', packet id placeholder 1, no properties, 'hi')
const PUT =
  'ff4d514b 00000020 744aba53 02 3ff0000000000000 0000000000000000 0007 01 320a 0003742f31 0001 00 6869';
// 3 delete message: seq 1.0
const DELETE = 'ff4d514b 00000009 241c5cf1 03 3ff0000000000000';
// 4 add QoS 2 and 5 delete QoS 2: packet id 0x1234
const ADD_QOS2 = 'ff4d514b 00000003 ea951701 04 1234';
const DELETE_QOS2 = 'ff4d514b 00000003 4ce21cb5 05 1234';
// 6 put subscription: '{"topicFilter":"a/#","qos":1}' in UTF-8
const PUT_SUB = 'ff4d514b 0000001e f3b41143 06 7b22746f70696346696c746572223a22612f23222c22716f73223a317d';
// 7 delete subscription: 'a/#'
const DELETE_SUB = 'ff4d514b 00000004 35d0b70f 07 612f23';
// 8 clear: no payload
const CLEAR = 'ff4d514b 00000001 81558c4a 08';

const HEADER_BYTES = 23;
const PUT_BYTES = 44;

/** The message PUT holds. */
const MESSAGE: StoredMessage = {
  seq: 1,
  expiresAt: 0,
  packetId: 7,
  stage: 1,
  packet: { type: 'publish', topic: 't/1', payload: Buffer.from('hi'), qos: 1, retain: false, dup: false },
};
const SUBSCRIPTION = { topicFilter: 'a/#', qos: 1 as const };

/** What a store holding `messages`, `incoming` and `subscriptions` loads, as plain data. */
const state = (
  messages: StoredMessage[] = [],
  incomingQoS2: number[] = [],
  subscriptions: { topicFilter: string; qos: 0 | 1 | 2 }[] = [],
): unknown => plain({ messages, incomingQoS2, subscriptions });

describe('log records, byte by byte', () => {
  it('encodes each record kind to the bytes of the format', () => {
    expect(headerRecord(ID)).toEqual(bytes(HEADER));
    expect(putMessageRecord(MESSAGE)).toEqual(bytes(PUT));
    expect(deleteMessageRecord(1)).toEqual(bytes(DELETE));
    expect(addQoS2Record(0x1234)).toEqual(bytes(ADD_QOS2));
    expect(deleteQoS2Record(0x1234)).toEqual(bytes(DELETE_QOS2));
    expect(putSubscriptionRecord(SUBSCRIPTION)).toEqual(bytes(PUT_SUB));
    expect(deleteSubscriptionRecord('a/#')).toEqual(bytes(DELETE_SUB));
    expect(record(8, Buffer.alloc(0))).toEqual(bytes(CLEAR));
    expect(bytes(HEADER)).toHaveLength(HEADER_BYTES);
    expect(bytes(PUT)).toHaveLength(PUT_BYTES);
  });

  it('is what FileStore writes to disk', async () => {
    const store = new FileStore(tempDir('log-bytes'), { fsync: 'never' });
    store.putMessage(ID, MESSAGE);
    store.addIncomingQoS2(ID, 0x1234);
    store.putSubscription(ID, SUBSCRIPTION);
    await store.flush();
    store.deleteMessage(ID, 1);
    store.deleteIncomingQoS2(ID, 0x1234);
    store.deleteSubscription(ID, 'a/#');
    await store.flush();
    await store.close();
    expect(readFileSync(store.pathOf(ID))).toEqual(
      bytes(HEADER, PUT, ADD_QOS2, PUT_SUB, DELETE, DELETE_QOS2, DELETE_SUB),
    );
  });

  it('decodes each record kind', () => {
    const read = readLog(bytes(HEADER, PUT, ADD_QOS2, PUT_SUB), ID);
    expect(read).toMatchObject({
      version: 2,
      end: HEADER_BYTES + PUT_BYTES + 15 + 42,
      skipped: [],
      torn: undefined,
      headerDamaged: false,
    });
    expect(plain(read.mirror.session())).toEqual(state([MESSAGE], [0x1234], [SUBSCRIPTION]));

    const deleted = readLog(bytes(HEADER, PUT, ADD_QOS2, PUT_SUB, DELETE, DELETE_QOS2, DELETE_SUB), ID);
    expect(plain(deleted.mirror.session())).toEqual(state());
    // clear forgets everything before it, not what follows
    const cleared = readLog(bytes(HEADER, PUT, PUT_SUB, CLEAR, ADD_QOS2), ID);
    expect(plain(cleared.mirror.session())).toEqual(state([], [0x1234]));
    expect(cleared.skipped).toEqual([]);
  });

  it('reads a log of format version 1 (no sync marker, CRC over type and payload)', () => {
    //              length   crc32    type payload
    const v1Header = '0000000b 93651601 01 4d514b53 01 6465762f37';
    const v1Put =
      '00000020 4b97a915 02 3ff0000000000000 0000000000000000 0007 01 320a 0003742f31 0001 00 6869';
    const read = readLog(bytes(v1Header, v1Put), ID);
    expect(read).toMatchObject({
      version: 1,
      end: 19 + 40,
      skipped: [],
      torn: undefined,
      headerDamaged: false,
    });
    expect(plain(read.mirror.session())).toEqual(state([MESSAGE]));
  });

  it('refuses a whole header of another client or a later version', () => {
    const other = 'ff4d514b 0000000b 0e6acffd 01 4d514b53 02 6465762f38'; // client 'dev/8'
    const later = 'ff4d514b 0000000b 63f83312 01 4d514b53 03 6465762f37'; // version 3
    const refusal = (log: Buffer): unknown => {
      try {
        readLog(log, ID);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    const use = refusal(bytes(other, PUT));
    expect(use).toBeInstanceOf(LogRefusedError);
    expect(use).toMatchObject({ action: 'use', message: 'it holds client id "dev/8"' });
    expect(refusal(bytes(later, PUT))).toMatchObject({
      action: 'read',
      message: 'unsupported log version 3',
    });
  });
});

describe('damaged logs', () => {
  const log = bytes(HEADER, PUT, ADD_QOS2);
  const addAt = HEADER_BYTES + PUT_BYTES;

  it('a torn tail (the last record cut short) is reported, to be cut off: every record before it is kept', () => {
    for (const cut of [1, 3, 14]) {
      const read = readLog(log.subarray(0, log.length - cut), ID);
      expect(read.torn).toEqual({ offset: addAt, bytes: 15 - cut });
      expect(read.end).toBe(addAt);
      expect(read.skipped).toEqual([]);
      expect(plain(read.mirror.session())).toEqual(state([MESSAGE]));
    }
  });

  it('a record whose CRC does not match is skipped, and the records after it are read', () => {
    const bad = Buffer.from(log);
    bad[HEADER_BYTES + 8] ^= 0x01; // the first CRC byte of PUT
    const read = readLog(bad, ID);
    expect(read.skipped).toEqual([{ offset: HEADER_BYTES, bytes: PUT_BYTES }]);
    expect(read.torn).toBeUndefined();
    expect(read.end).toBe(log.length);
    expect(plain(read.mirror.session())).toEqual(state([], [0x1234]));
  });

  it('a changed payload byte fails the CRC just as well', () => {
    const bad = Buffer.from(log);
    bad[HEADER_BYTES + PUT_BYTES - 1] ^= 0x01; // the last byte of 'hi'
    const read = readLog(bad, ID);
    expect(read.skipped).toEqual([{ offset: HEADER_BYTES, bytes: PUT_BYTES }]);
    expect(plain(read.mirror.session())).toEqual(state([], [0x1234]));
  });

  it('a bad CRC in the last record makes it a torn tail', () => {
    const bad = Buffer.from(log);
    bad[addAt + 8] ^= 0x01;
    const read = readLog(bad, ID);
    expect(read.torn).toEqual({ offset: addAt, bytes: 15 });
    expect(read.skipped).toEqual([]);
    expect(plain(read.mirror.session())).toEqual(state([MESSAGE]));
  });

  it('a damaged header is skipped and reported; the records after it are read', () => {
    const bad = Buffer.from(log);
    bad[HEADER_BYTES - 1] ^= 0x01; // the client id's last byte
    const read = readLog(bad, ID);
    expect(read.headerDamaged).toBe(true);
    expect(read.skipped).toEqual([{ offset: 0, bytes: HEADER_BYTES }]);
    expect(plain(read.mirror.session())).toEqual(state([MESSAGE], [0x1234]));
  });

  it('a whole, valid record of an unknown type is skipped as damage', () => {
    const unknown = 'ff4d514b 00000002 b1613a49 09 78'; // type 9, payload 'x'
    const read = readLog(bytes(HEADER, unknown, ADD_QOS2), ID);
    expect(read.skipped).toEqual([{ offset: HEADER_BYTES, bytes: 14 }]);
    expect(plain(read.mirror.session())).toEqual(state([], [0x1234]));
  });
});

describe('round trip', () => {
  const filters = fc.constantFrom('a/#', 'a/b', '+/x', 'c');
  const mutation = fc.oneof(
    fc
      .record({
        seq: fc.integer({ min: 1, max: 8 }),
        stage: fc.constantFrom(0 as const, 1 as const, 2 as const),
        expiresAt: fc.constantFrom(0, 1_900_000_000_000),
        payload: fc.uint8Array({ maxLength: 40 }),
        qos: fc.constantFrom(0 as const, 1 as const, 2 as const),
      })
      .map((m) =>
        putMessageRecord(
          message(
            m.seq,
            { stage: m.stage, packetId: m.stage === 0 ? 0 : m.seq, expiresAt: m.expiresAt },
            { payload: Buffer.from(m.payload), qos: m.qos },
          ),
        ),
      ),
    fc.integer({ min: 1, max: 8 }).map(deleteMessageRecord),
    fc.integer({ min: 1, max: 65535 }).map(addQoS2Record),
    fc.integer({ min: 1, max: 65535 }).map(deleteQoS2Record),
    fc
      .record({ topicFilter: filters, qos: fc.constantFrom(0 as const, 1 as const, 2 as const) })
      .map(putSubscriptionRecord),
    filters.map(deleteSubscriptionRecord),
  );

  it('a log reads back to the state its records replay to, and its snapshot reads back the same', () => {
    fc.assert(
      fc.property(fc.array(mutation, { maxLength: 30 }), (records) => {
        const replayed = new Mirror();
        for (const r of records) replayed.replay(r);
        const log = Buffer.concat([headerRecord(ID), ...records]);
        const read = readLog(log, ID);
        expect(read).toMatchObject({ version: 2, end: log.length, skipped: [], torn: undefined });
        expect(plain(read.mirror.session())).toEqual(plain(replayed.session()));

        const compacted = snapshot(headerRecord(ID), read.mirror);
        expect(compacted.length).toBe(headerRecord(ID).length + read.mirror.bytes);
        const again = readLog(compacted, ID);
        expect(plain(again.mirror.session())).toEqual(plain(replayed.session()));
      }),
    );
  });
});

describe('CRC-32', () => {
  it('the table fallback (Node without zlib.crc32) matches zlib, continuing from a value too', () => {
    const check = Buffer.from('123456789');
    expect(tableCrc32(check)).toBe(0xcbf43926);
    expect(tableCrc32(check.subarray(3), tableCrc32(check.subarray(0, 3)))).toBe(0xcbf43926);
    // the header record's own CRC: type and payload, then the length
    const header = bytes(HEADER);
    expect(tableCrc32(header.subarray(4, 8), tableCrc32(header.subarray(12)))).toBe(header.readUInt32BE(8));
  });
});
