/**
 * A crash can leave a log with a torn or corrupt last record, or (a disk
 * gone wrong) damage anywhere: `load` keeps every intact record, cuts a torn
 * tail off, skips damage in the middle (saving the log aside), reports it by
 * the 'damage' event and `stats()`, and later appends land where they can be
 * read.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileStore, type FileStoreDamage } from '../../src/store/file.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { SessionStore } from '../../src/store/types.js';
import { message } from './contract.js';
import { plain, removeTempDirs, tempDir } from './file-helpers.js';

afterAll(removeTempDirs);

const ID = 'client/\u00e9';

function before(s: SessionStore): void {
  s.putMessage(ID, message(1, { stage: 1, packetId: 3 }));
  s.putMessage(ID, message(2, {}, { properties: { userProperties: [['k', 'v']] } }));
  s.addIncomingQoS2(ID, 9);
  s.putSubscription(ID, { topicFilter: 's/+', qos: 2 });
}

function last(s: SessionStore): void {
  s.putMessage(ID, message(3, { expiresAt: 1_900_000_000_000 }, { payload: Buffer.alloc(150, 0x61) }));
}

function later(s: SessionStore): void {
  s.putMessage(ID, message(4));
  s.deleteMessage(ID, 1);
}

describe('FileStore recovery', () => {
  const dir = tempDir('recovery');
  let file = '';
  let whole: Buffer;
  let goodEnd = 0;
  let expectBefore: unknown;
  let expectAfter: unknown;

  beforeAll(async () => {
    const s = new FileStore(dir, { fsync: 'never' });
    file = s.pathOf(ID);
    before(s);
    await s.flush();
    goodEnd = statSync(file).size;
    last(s);
    await s.close();
    whole = readFileSync(file);
    const model = new MemoryStore();
    before(model);
    expectBefore = plain(await model.load(ID));
    later(model);
    expectAfter = plain(await model.load(ID));
  });

  /** Loads `bytes` as the log: what came before the last record, then an append, and a restart. */
  async function check(bytes: Buffer): Promise<void> {
    writeFileSync(file, bytes);
    const a = new FileStore(dir, { fsync: 'never' });
    expect(plain(await a.load(ID))).toEqual(expectBefore);
    expect(statSync(file).size).toBe(goodEnd); // the damage is cut off
    later(a);
    await a.close();
    const b = new FileStore(dir, { fsync: 'never' });
    expect(plain(await b.load(ID))).toEqual(expectAfter);
    await b.close();
  }

  it('loads the whole log', async () => {
    const s = new FileStore(dir);
    writeFileSync(file, whole);
    expect((await s.load(ID)).messages.map((m) => m.seq)).toEqual([1, 2, 3]);
    await s.close();
  });

  it('keeps every earlier record when the log is cut at any byte of its last record', async () => {
    expect(whole.length - goodEnd).toBeGreaterThan(150);
    for (let cut = goodEnd; cut < whole.length; cut++) await check(whole.subarray(0, cut));
  });

  it('keeps every earlier record when any byte of the last record is corrupt', async () => {
    for (let at = goodEnd; at < whole.length; at++) {
      const bad = Buffer.from(whole);
      bad[at] ^= 0xff;
      await check(bad);
    }
  });

  it('counts and reports a torn tail, and does not save it aside', async () => {
    for (const cut of [goodEnd + 1, goodEnd + 20, whole.length - 1]) {
      writeFileSync(file, whole.subarray(0, cut));
      const s = new FileStore(dir, { fsync: 'never' });
      const events: FileStoreDamage[] = [];
      s.on('damage', (e) => events.push(e));
      expect(plain(await s.load(ID))).toEqual(expectBefore);
      const torn = { offset: goodEnd, bytes: cut - goodEnd };
      expect(events).toEqual([
        { clientId: ID, path: file, savedTo: undefined, skipped: [], torn, headerDamaged: false },
      ]);
      expect(s.stats()).toEqual({
        skippedRegions: 0,
        skippedBytes: 0,
        tornTails: 1,
        tornBytes: cut - goodEnd,
        savedFiles: 0,
      });
      await s.close();
      expect(readdirSync(dir)).toEqual([basename(file)]);
    }
  });

  it('keeps every earlier record when garbage follows them', async () => {
    await check(Buffer.concat([whole.subarray(0, goodEnd), randomBytes(1000)]));
    await check(Buffer.concat([whole.subarray(0, goodEnd), Buffer.alloc(4096)]));
  });

  it('appends where a never-loaded client left off, after the torn tail is cut', async () => {
    writeFileSync(file, whole.subarray(0, whole.length - 5));
    const a = new FileStore(dir);
    later(a); // no load first
    await a.close();
    const b = new FileStore(dir);
    expect(plain(await b.load(ID))).toEqual(expectAfter);
    await b.close();
  });

  it('loads a log of garbage from the start as empty, and then works', async () => {
    for (const garbage of [randomBytes(5000), Buffer.alloc(100), Buffer.from('x')]) {
      writeFileSync(file, garbage);
      const a = new FileStore(dir);
      expect(await a.load(ID)).toEqual({ messages: [], incomingQoS2: [], subscriptions: [] });
      before(a);
      await a.close();
      const b = new FileStore(dir);
      expect(plain(await b.load(ID))).toEqual(expectBefore);
      await b.close();
    }
  });
});
