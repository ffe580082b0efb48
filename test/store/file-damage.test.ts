/**
 * Damage in the middle of a log (a disk gone wrong, not a crash): `load`
 * skips the damaged records and keeps every other one, saves the log aside,
 * rewrites it without the damage, and reports what it skipped by the
 * 'damage' event and `stats()`. Also: a damaged header, and logs of format
 * version 1.
 *
 * The guarantee for one changed byte anywhere, checked exactly here: the
 * state loaded is the replay of every record but the one holding that byte.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { FileStore, type FileStoreDamage } from '../../src/store/file.js';
import { headerRecord, PUT_MESSAGE, record } from '../../src/store/file-log.js';
import { MemoryStore } from '../../src/store/memory.js';
import { encodeMessage } from '../../src/store/record.js';
import type { SessionStore } from '../../src/store/types.js';
import { message } from './contract.js';
import { plain, removeTempDirs, tempDir } from './file-helpers.js';

afterAll(removeTempDirs);

const ID = 'dev/7';
const HEADER_BYTES = headerRecord(ID).length;

type Op =
  | { op: 'put'; seq: number; stage: 0 | 1 | 2; payload: Uint8Array }
  | { op: 'delete'; seq: number }
  | { op: 'add2'; id: number }
  | { op: 'delete2'; id: number }
  | { op: 'sub'; filter: string; qos: 0 | 1 | 2 }
  | { op: 'unsub'; filter: string };

function apply(s: SessionStore, o: Op): void {
  switch (o.op) {
    case 'put':
      s.putMessage(
        ID,
        message(o.seq, { stage: o.stage, packetId: o.stage === 0 ? 0 : o.seq }, { payload: o.payload }),
      );
      return;
    case 'delete':
      s.deleteMessage(ID, o.seq);
      return;
    case 'add2':
      s.addIncomingQoS2(ID, o.id);
      return;
    case 'delete2':
      s.deleteIncomingQoS2(ID, o.id);
      return;
    case 'sub':
      s.putSubscription(ID, { topicFilter: o.filter, qos: o.qos });
      return;
    case 'unsub':
      s.deleteSubscription(ID, o.filter);
  }
}

const put = (seq: number, payload: Uint8Array = Buffer.alloc(40, seq)): Op => ({
  op: 'put',
  seq,
  stage: 1,
  payload,
});

/** What a store holds after `ops`, leaving out the ops at the indexes in `skip`. */
async function expected(ops: Op[], skip: number[] = []): Promise<unknown> {
  const m = new MemoryStore();
  ops.forEach((o, i) => {
    if (!skip.includes(i)) apply(m, o);
  });
  return plain(await m.load(ID));
}

interface Written {
  dir: string;
  file: string;
  bytes: Buffer;
  /** Where each op's record is in the log. */
  records: { offset: number; bytes: number }[];
}

let logs = 0;

/** Writes `ops` to a fresh log, one flush each, to learn where each record is. */
async function write(ops: Op[]): Promise<Written> {
  const dir = join(tempDir('damage'), String(logs++));
  const s = new FileStore(dir, { fsync: 'never' });
  const file = s.pathOf(ID);
  const records: Written['records'] = [];
  let end = HEADER_BYTES;
  for (const o of ops) {
    apply(s, o);
    await s.flush();
    const size = readFileSync(file).length;
    records.push({ offset: end, bytes: size - end });
    end = size;
  }
  await s.close();
  return { dir, file, bytes: readFileSync(file), records };
}

/** Loads the log in `dir` with a new store, collecting its 'damage' events. */
async function load(dir: string): Promise<{ state: unknown; events: FileStoreDamage[]; store: FileStore }> {
  const store = new FileStore(dir, { fsync: 'never' });
  const events: FileStoreDamage[] = [];
  store.on('damage', (e) => events.push(e));
  const state = plain(await store.load(ID));
  return { state, events, store };
}

function flip(bytes: Buffer, ...offsets: number[]): Buffer {
  const out = Buffer.from(bytes);
  for (const o of offsets) out[o] ^= 0x20;
  return out;
}

const middle = (r: { offset: number; bytes: number }): number => r.offset + (r.bytes >> 1);

describe('FileStore damage in the middle of a log', () => {
  const ops: Op[] = [
    put(1),
    put(2),
    put(3),
    { op: 'sub', filter: 'a/+', qos: 1 },
    put(4),
    { op: 'delete', seq: 1 },
    { op: 'add2', id: 7 },
    put(5),
  ];

  it('skips a record with a changed byte, keeps every other one, saves the log aside and reports it', async () => {
    const w = await write(ops);
    const damaged = flip(w.bytes, middle(w.records[2]));
    writeFileSync(w.file, damaged);
    const a = await load(w.dir);
    expect(a.state).toEqual(await expected(ops, [2])); // message 3 is gone, 4 and 5 (after it) are there
    expect(a.events).toHaveLength(1);
    const [e] = a.events;
    expect(e).toMatchObject({
      clientId: ID,
      path: w.file,
      skipped: [w.records[2]],
      torn: undefined,
      headerDamaged: false,
    });
    expect(e.savedTo).toMatch(/\.log\.damaged-\d{8}T\d{9}Z$/);
    expect(readFileSync(e.savedTo as string)).toEqual(damaged);
    expect(a.store.stats()).toEqual({
      skippedRegions: 1,
      skippedBytes: w.records[2].bytes,
      tornTails: 0,
      tornBytes: 0,
      savedFiles: 1,
    });
    // the log holds every intact record, without the damage: appends land after them
    apply(a.store, put(6));
    await a.store.close();
    const b = await load(w.dir);
    expect(b.state).toEqual(await expected([...ops, put(6)], [2]));
    expect(b.events).toEqual([]);
    await b.store.close();
    expect(readdirSync(w.dir).sort()).toEqual(
      [`${w.file.slice(w.dir.length + 1)}`, e.savedTo?.slice(w.dir.length + 1)].sort(),
    );
  });

  it('skips exactly the damaged records when there are several, adjacent ones in one run', async () => {
    const w = await write(ops);
    const [r1, r3, r4, r6] = [w.records[1], w.records[3], w.records[4], w.records[6]];
    writeFileSync(w.file, flip(w.bytes, middle(r1), r3.offset + 5, r4.offset + r4.bytes - 1, middle(r6)));
    const a = await load(w.dir);
    expect(a.state).toEqual(await expected(ops, [1, 3, 4, 6]));
    expect(a.events[0].skipped).toEqual([r1, { offset: r3.offset, bytes: r3.bytes + r4.bytes }, r6]);
    expect(a.store.stats()).toMatchObject({
      skippedRegions: 3,
      skippedBytes: r1.bytes + r3.bytes + r4.bytes + r6.bytes,
    });
    await a.store.close();
  });

  it('undoes what a skipped record did: a damaged delete brings its message back', async () => {
    const w = await write(ops);
    writeFileSync(w.file, flip(w.bytes, middle(w.records[5])));
    const a = await load(w.dir);
    expect(a.state).toEqual(await expected(ops, [5]));
    expect((a.state as { messages: { seq: number }[] }).messages.map((m) => m.seq)).toEqual([1, 2, 3, 4, 5]);
    await a.store.close();
  });

  it('skips only the damaged record, whichever of its bytes changed, and takes no record from its payload', async () => {
    // a payload that is itself a whole, valid record (message 99): never a record of the log
    const inner = record(PUT_MESSAGE, encodeMessage(message(99)));
    const withInner: Op[] = [put(1), put(2, inner), put(3, Buffer.concat([inner, inner])), put(4)];
    const w = await write(withInner);
    for (const k of [1, 2]) {
      const r = w.records[k];
      for (let at = r.offset; at < r.offset + r.bytes; at++) {
        writeFileSync(w.file, flip(w.bytes, at));
        const a = await load(w.dir);
        expect(a.state, `byte ${at - r.offset} of record ${k}`).toEqual(await expected(withInner, [k]));
        expect(a.events[0].skipped).toEqual([r]);
        await a.store.close();
      }
    }
  });

  it('keeps every record when a byte of the header changed', async () => {
    const w = await write(ops);
    for (let at = 0; at < HEADER_BYTES; at++) {
      writeFileSync(w.file, flip(w.bytes, at));
      const a = await load(w.dir);
      expect(a.state, `header byte ${at}`).toEqual(await expected(ops));
      expect(a.events).toEqual([
        expect.objectContaining({
          headerDamaged: true,
          skipped: [{ offset: 0, bytes: HEADER_BYTES }],
          torn: undefined,
        }),
      ]);
      await a.store.close();
      // rewritten with a good header
      const b = await load(w.dir);
      expect(b.events).toEqual([]);
      expect(b.state).toEqual(await expected(ops));
      await b.store.close();
    }
  });

  it('saves aside under another name when a damaged log is found again in the same millisecond', async () => {
    const w = await write(ops);
    const damaged = flip(w.bytes, middle(w.records[3]));
    const saved: string[] = [];
    vi.useFakeTimers({ toFake: ['Date'], now: Date.UTC(2030, 0, 2, 3, 4, 5, 6) });
    try {
      for (let i = 0; i < 3; i++) {
        writeFileSync(w.file, damaged);
        const a = await load(w.dir);
        saved.push(a.events[0].savedTo as string);
        await a.store.close();
      }
    } finally {
      vi.useRealTimers();
    }
    expect(saved).toEqual(['', '-1', '-2'].map((n) => `${w.file}.damaged-20300102T030405006Z${n}`));
    for (const f of saved) expect(readFileSync(f)).toEqual(damaged);
  });

  it('leaves the damage in the log, uncompacted, when it cannot be saved aside, and reports it again', async () => {
    const w = await write(ops);
    const damaged = flip(w.bytes, middle(w.records[4]));
    writeFileSync(w.file, damaged);
    vi.useFakeTimers({ toFake: ['Date'], now: Date.UTC(2030, 0, 2, 3, 4, 5, 6) });
    try {
      // every name it could save the log under is taken
      for (let i = 0; i < 100; i++)
        writeFileSync(`${w.file}.damaged-20300102T030405006Z${i === 0 ? '' : `-${i}`}`, '');
      // put and deleted: a log many times its live state, that compaction would shrink
      const churn = (round: number): Op[] =>
        Array.from({ length: 20 }, (_, i): Op[] => [
          put(100 * (round + 1) + i, Buffer.alloc(200)),
          { op: 'delete', seq: 100 * (round + 1) + i },
        ]).flat();
      for (const round of [0, 1]) {
        const s = new FileStore(w.dir, { fsync: 'never', compactAt: 1 });
        const events: FileStoreDamage[] = [];
        s.on('damage', (e) => events.push(e));
        const before = round === 0 ? ops : [...ops, ...churn(0)];
        expect(plain(await s.load(ID))).toEqual(await expected(before, [4]));
        expect(events).toEqual([expect.objectContaining({ savedTo: undefined, skipped: [w.records[4]] })]);
        expect(s.stats()).toMatchObject({ skippedRegions: 1, savedFiles: 0 });
        for (const o of churn(round)) apply(s, o);
        await s.close();
        expect(readFileSync(w.file).subarray(0, damaged.length)).toEqual(damaged);
      }
    } finally {
      vi.useRealTimers();
    }
  });

  it('reads a log written before it was loaded, when that log has damage', async () => {
    const w = await write(ops);
    writeFileSync(w.file, flip(w.bytes, middle(w.records[0])));
    const s = new FileStore(w.dir, { fsync: 'never' });
    let events = 0;
    s.on('damage', () => events++);
    apply(s, put(9)); // no load first: the log is read (and recovered) before this is appended
    await s.close();
    expect(events).toBe(1);
    const b = await load(w.dir);
    expect(b.state).toEqual(await expected([...ops, put(9)], [0]));
    await b.store.close();
  });
});

describe('FileStore logs of format version 1', () => {
  // written by mqttkit 0.1 (client id 'old-client'): messages 1 (stage 1, packet id 7, QoS 2) and 2
  // (expiry, user property), 3 put and deleted; QoS 2 ids 4 and 5 added, 4 deleted; subscriptions
  // 'a/+' and 'b' put, 'b' deleted
  const V1 = Buffer.from(
    'AAAAEAj7/swBTVFLUwFvbGQtY2xpZW50AAAAJyZFuvMCP/AAAAAAAAAAAAAAAAAAAAAHATQRAAN0LzEAAQBwYXlsb2FkIDEAAAAujunO6gJAAAAAAAAAAEJ7pg0zgAAAAAAAMhgAA3QvMgABByYAAWsAAXZwYXlsb2FkIDIAAAAnqO7exAJACAAAAAAAAAAAAAAAAAAAAAAAMhEAA3QvMwABAHBheWxvYWQgMwAAAAnF9qThA0AIAAAAAAAAAAAAA/8ltdcEAAQAAAADiCKFQQQABQAAAAP+59/gBQAEAAAAHjm1WRMGeyJ0b3BpY0ZpbHRlciI6ImEvKyIsInFvcyI6MX0AAAAc7B8R8wZ7InRvcGljRmlsdGVyIjoiYiIsInFvcyI6MH0AAAACrSSETAdi',
    'base64',
  );
  const OLD = 'old-client';

  function model(): MemoryStore {
    const m = new MemoryStore();
    m.putMessage(OLD, message(1, { stage: 1, packetId: 7 }, { qos: 2 }));
    m.putMessage(
      OLD,
      message(2, { expiresAt: 1_900_000_000_000 }, { properties: { userProperties: [['k', 'v']] } }),
    );
    m.addIncomingQoS2(OLD, 5);
    m.putSubscription(OLD, { topicFilter: 'a/+', qos: 1 });
    return m;
  }

  it('loads a version 1 log and rewrites it as version 2', async () => {
    const dir = tempDir('v1');
    mkdirSync(dir, { recursive: true });
    const file = new FileStore(dir).pathOf(OLD);
    writeFileSync(file, V1);
    const a = new FileStore(dir);
    let events = 0;
    a.on('damage', () => events++);
    const want = plain(await model().load(OLD));
    expect(plain(await a.load(OLD))).toEqual(want);
    expect((await a.load(OLD)).messages[1].packet.properties?.userProperties).toEqual([['k', 'v']]);
    expect(events).toBe(0);
    expect(readFileSync(file).subarray(0, 4)).toEqual(Buffer.from([0xff, 0x4d, 0x51, 0x4b]));
    a.putMessage(OLD, message(8));
    await a.close();
    const b = new FileStore(dir);
    const m = model();
    m.putMessage(OLD, message(8));
    expect(plain(await b.load(OLD))).toEqual(plain(await m.load(OLD)));
    await b.close();
    expect(readdirSync(dir)).toHaveLength(1);
  });

  it('gets past a damaged record of a version 1 log', async () => {
    const dir = tempDir('v1');
    mkdirSync(dir, { recursive: true });
    const file = new FileStore(dir).pathOf(OLD);
    // the record of message 3 (8 + 39 bytes, after the header, message 1 and message 2) has a changed byte
    const third = 24 + 47 + 54;
    expect(V1.readUInt32BE(third)).toBe(39);
    writeFileSync(file, flip(V1, third + 30));
    const a = new FileStore(dir);
    const events: FileStoreDamage[] = [];
    a.on('damage', (e) => events.push(e));
    // message 3 was put there and deleted later: the state is the same
    expect(plain(await a.load(OLD))).toEqual(plain(await model().load(OLD)));
    expect(events[0].skipped).toEqual([{ offset: third, bytes: 47 }]);
    expect(existsSync(events[0].savedTo as string)).toBe(true);
    await a.close();
  });
});

// --- properties ----------------------------------------------------------------

const seqArb = fc.integer({ min: 1, max: 5 });
const payloadArb = fc.oneof(
  fc.uint8Array({ maxLength: 48 }),
  // a payload holding a sync marker, or a whole valid record: never to be read as a record
  fc.constant(Buffer.from([1, 0xff, 0x4d, 0x51, 0x4b, 0, 0, 0, 9])),
  fc.constant(record(PUT_MESSAGE, encodeMessage(message(99)))),
);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('put' as const),
      seq: seqArb,
      stage: fc.constantFrom(0, 1, 2),
      payload: payloadArb,
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), seq: seqArb }) },
  fc.record({ op: fc.constant('add2' as const), id: fc.integer({ min: 1, max: 4 }) }),
  fc.record({ op: fc.constant('delete2' as const), id: fc.integer({ min: 1, max: 4 }) }),
  fc.record({
    op: fc.constant('sub' as const),
    filter: fc.constantFrom('a', 'b/+', 'c/#'),
    qos: fc.constantFrom(0, 1, 2),
  }),
  fc.record({ op: fc.constant('unsub' as const), filter: fc.constantFrom('a', 'b/+', 'c/#') }),
);
const opsArb = fc.array(opArb, { minLength: 1, maxLength: 12 });

/** The indexes of the records overlapping the byte ranges in `ranges`. */
function hit(records: Written['records'], ranges: { offset: number; bytes: number }[]): number[] {
  return records.flatMap((r, i) =>
    ranges.some((d) => r.offset < d.offset + d.bytes && d.offset < r.offset + r.bytes) ? [i] : [],
  );
}

describe('FileStore recovery properties', () => {
  it('one changed byte anywhere: load returns the replay of every record but the one holding it', async () => {
    await fc.assert(
      fc.asyncProperty(opsArb, fc.nat(), fc.integer({ min: 1, max: 255 }), async (ops, at, mask) => {
        const w = await write(ops);
        const offset = at % w.bytes.length;
        const damaged = Buffer.from(w.bytes);
        damaged[offset] ^= mask;
        writeFileSync(w.file, damaged);
        const k = w.records.findIndex((r) => offset >= r.offset && offset < r.offset + r.bytes);
        const a = await load(w.dir); // never throws
        expect(a.state).toEqual(await expected(ops, k < 0 ? [] : [k]));
        expect(a.events).toHaveLength(1);
        const [e] = a.events;
        if (k < 0)
          expect(e).toMatchObject({ headerDamaged: true, skipped: [{ offset: 0, bytes: HEADER_BYTES }] });
        else if (k === ops.length - 1)
          expect(e).toMatchObject({ torn: w.records[k], skipped: [], savedTo: undefined });
        else {
          expect(e).toMatchObject({ torn: undefined, skipped: [w.records[k]], headerDamaged: false });
          expect(readFileSync(e.savedTo as string)).toEqual(damaged);
        }
        // later changes land where the next load reads them, and the damage is not reported again
        const more: Op[] = [put(9), { op: 'delete', seq: 1 }];
        for (const o of more) apply(a.store, o);
        await a.store.close();
        const b = await load(w.dir);
        expect(b.state).toEqual(await expected([...ops, ...more], k < 0 ? [] : [k]));
        expect(b.events).toEqual([]);
        await b.store.close();
      }),
      { numRuns: 150 },
    );
  });

  it('a run of random bytes anywhere: load never throws or invents, and skips just what it reports', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.oneof(
            opArb.filter((o) => o.op !== 'put'),
            fc.record({
              op: fc.constant('put' as const),
              seq: seqArb,
              stage: fc.constantFrom(0, 1, 2),
              payload: fc.uint8Array({ maxLength: 48 }),
            }),
          ),
          { minLength: 1, maxLength: 12 },
        ),
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 64 }),
        async (ops, at, garbage) => {
          const w = await write(ops);
          const offset = at % w.bytes.length;
          const damaged = Buffer.from(w.bytes);
          damaged.set(garbage.subarray(0, damaged.length - offset), offset);
          writeFileSync(w.file, damaged);
          const a = await load(w.dir);
          const ranges = a.events.flatMap((e) => [
            ...e.skipped,
            ...(e.torn === undefined ? [] : [e.torn]),
            ...(e.headerDamaged ? [{ offset: 0, bytes: HEADER_BYTES }] : []),
          ]);
          // every changed byte is in a range reported, and what those ranges held is all that is missing
          for (let i = 0; i < damaged.length; i++)
            if (damaged[i] !== w.bytes[i])
              expect(ranges.some((r) => i >= r.offset && i < r.offset + r.bytes)).toBe(true);
          expect(a.state).toEqual(await expected(ops, hit(w.records, ranges)));
          await a.store.close();
        },
      ),
      { numRuns: 150 },
    );
  });
});
