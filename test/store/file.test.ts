import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ClosedError, InvalidArgumentError } from '../../src/core/errors.js';
import { FileStore, FileStoreError, type FileStoreOptions } from '../../src/store/file.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { SessionStore } from '../../src/store/types.js';
import { message, storeContract } from './contract.js';
import { plain, removeTempDirs, tempDir } from './file-helpers.js';

afterAll(removeTempDirs);

// each make() is a restart over the same directory
const contractDir = tempDir('contract');
storeContract('FileStore', () => new FileStore(contractDir));
const alwaysDir = tempDir('contract-always');
storeContract('FileStore fsync always', () => new FileStore(alwaysDir, { fsync: 'always' }));
const neverDir = tempDir('contract-never');
storeContract('FileStore fsync never', () => new FileStore(neverDir, { fsync: 'never' }));
// compaction after every round
const compactDir = tempDir('contract-compact');
storeContract('FileStore compacting', () => new FileStore(compactDir, { compactAt: 1 }));

function counter(): { options: FileStoreOptions; log: () => number; all: () => number } {
  let log = 0;
  let all = 0;
  return {
    options: {
      onSync: (kind) => {
        all++;
        if (kind === 'log') log++;
      },
    },
    log: () => log,
    all: () => all,
  };
}

/** Some of everything for `id`, the same on any store. */
function fill(s: SessionStore, id: string): void {
  s.putMessage(id, message(1, { stage: 1, packetId: 10 }, { qos: 2 }));
  s.putMessage(id, message(2, { expiresAt: 1_900_000_000_000 }, { qos: 0, retain: true }));
  s.putMessage(id, message(3));
  s.deleteMessage(id, 2);
  s.putMessage(id, message(1, { stage: 2, packetId: 10 }, { qos: 2 }));
  s.addIncomingQoS2(id, 1);
  s.addIncomingQoS2(id, 2);
  s.deleteIncomingQoS2(id, 1);
  s.putSubscription(id, { topicFilter: 'a/#', qos: 1, retainHandling: 2, userProperties: [['k', 'v']] });
  s.putSubscription(id, { topicFilter: 'b', qos: 0 });
  s.deleteSubscription(id, 'b');
}

describe('FileStore durability', () => {
  it('keeps everything across a new instance', async () => {
    const dir = tempDir();
    const a = new FileStore(dir);
    const model = new MemoryStore();
    for (const id of ['x', 'y']) {
      fill(a, id);
      fill(model, id);
    }
    await a.flush();
    await a.close();
    const b = new FileStore(dir);
    for (const id of ['x', 'y']) expect(plain(await b.load(id))).toEqual(plain(await model.load(id)));
    // the reloaded messages carry their properties
    const [m1] = (await b.load('x')).messages;
    expect(m1.packet).toMatchObject({ qos: 2, packetId: 10, topic: 't/1' });
    await b.close();
  });

  it('creates the directory, names files safely and writes the id in a header', async () => {
    const dir = join(tempDir(), 'a', 'b');
    const s = new FileStore(dir);
    const ids = ['../../etc/passwd', '', 'caf\u00e9 \u{1f600}', 'A', 'a'];
    for (const id of ids) s.putMessage(id, message(1));
    await s.close();
    const names = readdirSync(dir).sort();
    expect(names).toHaveLength(ids.length);
    for (const n of names) expect(n).toMatch(/^[A-Za-z0-9_-]*-[0-9a-f]{64}\.log$/);
    for (const id of ids) {
      const file = new FileStore(dir).pathOf(id);
      expect(readFileSync(file).includes(Buffer.from(`MQKS\x02${id}`, 'utf8'))).toBe(true);
    }
  });

  it('loads what a previous instance wrote even before it is loaded (mutate, flush, load)', async () => {
    const dir = tempDir();
    const a = new FileStore(dir);
    a.putMessage('c', message(1));
    await a.close();
    const b = new FileStore(dir);
    b.putMessage('c', message(2)); // not loaded yet: appended after what is there
    b.deleteMessage('c', 1);
    b.putMessage('c', message(3));
    await b.flush();
    expect((await b.load('c')).messages.map((m) => m.seq)).toEqual([2, 3]);
    b.putMessage('c', message(4));
    const loading = b.load('c');
    await b.close();
    expect((await loading).messages.map((m) => m.seq)).toEqual([2, 3, 4]);
    const c = new FileStore(dir);
    expect((await c.load('c')).messages.map((m) => m.seq)).toEqual([2, 3, 4]);
    await c.close();
    expect(() => c.putMessage('c', message(5))).toThrow(ClosedError);
  });

  it('removes the file on clear, keeps what follows the clear, and forgets across restarts', async () => {
    const dir = tempDir();
    const a = new FileStore(dir);
    fill(a, 'c');
    await a.flush();
    expect(existsSync(a.pathOf('c'))).toBe(true);
    const clearing = a.clear('c');
    a.putMessage('c', message(9)); // after the clear call
    await clearing;
    await a.flush();
    expect((await a.load('c')).messages.map((m) => m.seq)).toEqual([9]);
    await a.clear('c');
    expect(existsSync(a.pathOf('c'))).toBe(false);
    await a.close();
    const b = new FileStore(dir);
    expect(await b.load('c')).toEqual({ messages: [], incomingQoS2: [], subscriptions: [] });
    // a clear of a client this instance never loaded
    fill(b, 'd');
    await b.close();
    const c = new FileStore(dir);
    await c.clear('d');
    await c.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('refuses to be used once closed', async () => {
    const s = new FileStore(tempDir());
    await s.close();
    expect(() => s.putMessage('c', message(1))).toThrow(/closed/);
    await expect(s.load('c')).rejects.toThrow(/closed/);
    await s.flush();
    await s.close();
  });

  it('refuses a log that belongs to another client id', async () => {
    const dir = tempDir();
    const a = new FileStore(dir);
    a.putMessage('one', message(1));
    await a.close();
    writeFileSync(a.pathOf('two'), readFileSync(a.pathOf('one')));
    const b = new FileStore(dir);
    await expect(b.load('two')).rejects.toThrow(/holds client id "one"/);
    // a log of a later format version is refused, not cut: sync | length | crc | type | 'MQKS' | version
    const later = readFileSync(a.pathOf('one'));
    later[13 + 4] = 3;
    const length = later.readUInt32BE(4);
    later.writeUInt32BE(crc32(later.subarray(4, 8), crc32(later.subarray(12, 12 + length))), 8);
    writeFileSync(a.pathOf('one'), later);
    await expect(b.load('one')).rejects.toThrow(/unsupported log version 3/);
    expect(readFileSync(a.pathOf('one'))).toEqual(later);
    // and so is a version 1 header (no sync marker) that says version 2
    const v1 = Buffer.concat([Buffer.alloc(8), Buffer.from('\x01MQKS\x02one', 'latin1')]);
    v1.writeUInt32BE(v1.length - 8, 0);
    v1.writeUInt32BE(crc32(v1.subarray(8)), 4);
    writeFileSync(a.pathOf('one'), v1);
    await expect(b.load('one')).rejects.toThrow(/unsupported log version 2/);
    expect(readFileSync(a.pathOf('one'))).toEqual(v1);
    await b.close();
  });
});

describe('FileStore fsync', () => {
  it('refuses bad options with InvalidArgumentError naming the option', () => {
    const dir = tempDir('options');
    const bad = [
      [
        { fsync: 'sometimes' as FileStoreOptions['fsync'] },
        "fsync: must be 'always', 'batch' or 'never', not sometimes",
      ],
      [{ compactAt: 0 }, 'compactAt: must be a positive number of bytes'],
    ] as const;
    for (const [options, message] of bad) {
      const err = (() => {
        try {
          new FileStore(dir, options);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as Error).message).toBe(message);
    }
  });

  for (const fsync of ['always', 'batch', 'never'] as const) {
    it(`'${fsync}' writes, syncs as told and reloads`, async () => {
      const dir = tempDir();
      const n = counter();
      const s = new FileStore(dir, { fsync, ...n.options });
      fill(s, 'c');
      await s.flush();
      // the records are in the file once flush resolves, whatever the mode
      expect(statSync(s.pathOf('c')).size).toBeGreaterThan(100);
      s.putMessage('c', message(7));
      await s.flush();
      await s.flush(); // nothing new
      await s.close();
      if (fsync === 'never') expect(n.all()).toBe(0);
      else {
        expect(n.log()).toBeGreaterThanOrEqual(2);
        expect(n.all()).toBeGreaterThan(n.log()); // the directory, once the file was created
      }
      const model = new MemoryStore();
      fill(model, 'c');
      model.putMessage('c', message(7));
      const b = new FileStore(dir);
      expect(plain(await b.load('c'))).toEqual(plain(await model.load('c')));
      await b.close();
    });
  }

  it("'batch' group-commits: 100 concurrent flushes after 100 puts share one write+fsync", async () => {
    const n = counter();
    const s = new FileStore(tempDir(), n.options);
    await s.load('c');
    for (let i = 1; i <= 100; i++) s.putMessage('c', message(i));
    await Promise.all(Array.from({ length: 100 }, () => s.flush()));
    expect(n.log()).toBeLessThanOrEqual(2);
    await s.close();
    expect((await new FileStore(s.dir).load('c')).messages).toHaveLength(100);
  });

  it("'batch' group-commits flushes that arrive while one is in flight", async () => {
    const n = counter();
    const s = new FileStore(tempDir(), n.options);
    await s.load('c');
    // 50 writers, each putting and awaiting its flush 10 times
    let seq = 0;
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        for (let i = 0; i < 10; i++) {
          s.putMessage('c', message(++seq));
          await s.flush();
        }
      }),
    );
    expect(n.log()).toBeLessThanOrEqual(50);
    await s.close();
    expect((await new FileStore(s.dir).load('c')).messages).toHaveLength(500);
  });

  it("'always' gives every flush call its own write+fsync round", async () => {
    const n = counter();
    const s = new FileStore(tempDir(), { fsync: 'always', ...n.options });
    await s.load('c');
    for (let i = 1; i <= 100; i++) s.putMessage('c', message(i));
    await Promise.all(Array.from({ length: 100 }, () => s.flush()));
    expect(n.log()).toBe(100);
    await s.close();
  });

  it('flushes many clients in parallel, one write+fsync per file', async () => {
    const n = counter();
    const s = new FileStore(tempDir(), n.options);
    for (let c = 0; c < 20; c++) for (let i = 1; i <= 5; i++) s.putMessage(`c${c}`, message(i));
    await Promise.all([s.flush(), s.flush(), s.flush()]);
    expect(n.log()).toBe(20);
    await s.close();
    const b = new FileStore(s.dir);
    for (let c = 0; c < 20; c++) expect((await b.load(`c${c}`)).messages).toHaveLength(5);
    await b.close();
  });
});

describe('FileStore compaction', () => {
  it('shrinks a log after many put/delete cycles and loads the same state', async () => {
    const dir = tempDir();
    let compactions = 0;
    const s = new FileStore(dir, {
      compactAt: 16 * 1024,
      onSync: (kind) => {
        if (kind === 'compact') compactions++;
      },
    });
    const model = new MemoryStore();
    const big = Buffer.alloc(500, 7);
    let written = 0;
    for (let i = 1; i <= 1000; i++) {
      for (const st of [s, model] as SessionStore[]) {
        st.putMessage('c', message(i, {}, { payload: big }));
        if (i > 3) st.deleteMessage('c', i - 3);
        st.addIncomingQoS2('c', i % 7);
        st.deleteIncomingQoS2('c', (i + 3) % 7);
        st.putSubscription('c', { topicFilter: `f/${i % 5}`, qos: 1 });
      }
      written += 600;
      if (i % 10 === 0) await s.flush();
    }
    await s.flush();
    const size = statSync(s.pathOf('c')).size;
    expect(compactions).toBeGreaterThan(5);
    expect(size).toBeLessThan(2 * 16 * 1024);
    expect(size).toBeLessThan(written / 10);
    expect(readdirSync(dir)).toHaveLength(1); // no .tmp left behind
    expect(plain(await s.load('c'))).toEqual(plain(await model.load('c')));
    await s.close();
    const b = new FileStore(dir);
    expect(plain(await b.load('c'))).toEqual(plain(await model.load('c')));
    await b.close();
  });

  it('stays right when mutations land while a round or a compaction is in flight', async () => {
    const dir = tempDir();
    let compactions = 0;
    const s = new FileStore(dir, {
      compactAt: 2048,
      onSync: (kind) => {
        if (kind === 'compact') compactions++;
      },
    });
    const model = new MemoryStore();
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    const flushes: Promise<void>[] = [];
    for (let i = 0; i < 3000; i++) {
      const id = `c${rand(3)}`;
      const k = rand(40) + 1;
      for (const st of [s, model] as SessionStore[]) {
        switch (i % 6) {
          case 0:
          case 1:
            st.putMessage(
              id,
              message(k, { stage: (k % 3) as 0 | 1 | 2 }, { payload: Buffer.alloc(k * 3, k) }),
            );
            break;
          case 2:
            st.deleteMessage(id, k);
            break;
          case 3:
            st.addIncomingQoS2(id, k);
            break;
          case 4:
            st.deleteIncomingQoS2(id, k);
            break;
          default:
            if (k % 2) st.putSubscription(id, { topicFilter: `t/${k}`, qos: 1 });
            else st.deleteSubscription(id, `t/${k - 1}`);
        }
      }
      if (rand(5) === 0) flushes.push(s.flush());
      if (rand(50) === 0) await new Promise((r) => setImmediate(r));
      // the disk catches up: each log has been written, and the loop goes on while it is compacted
      if (i % 300 === 299) await s.flush();
      if (i === 1500) expect(plain(await s.load('c1'))).toEqual(plain(await model.load('c1')));
    }
    await Promise.all(flushes);
    expect(compactions).toBeGreaterThan(3);
    for (const id of ['c0', 'c1', 'c2']) expect(plain(await s.load(id))).toEqual(plain(await model.load(id)));
    await s.close();
    const b = new FileStore(dir);
    for (const id of ['c0', 'c1', 'c2']) expect(plain(await b.load(id))).toEqual(plain(await model.load(id)));
    await b.close();
  });
});

describe('FileStore errors', () => {
  it('rejects flush with an error naming the file (not the payload) and retries the records later', async () => {
    const dir = tempDir();
    const s = new FileStore(dir);
    const file = s.pathOf('c');
    mkdirSync(file); // the log cannot be read or opened
    s.putMessage('c', message(1, {}, { payload: Buffer.from('secret payload') }));
    const err = await s.flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FileStoreError);
    expect((err as FileStoreError).errno).toBe('EISDIR');
    expect((err as Error).message).toContain(file);
    expect((err as Error).message).not.toContain('secret');
    rmSync(file, { recursive: true });
    await s.flush();
    await s.close();
    expect((await new FileStore(dir).load('c')).messages.map((m) => m.seq)).toEqual([1]);
  });

  it.skipIf(process.platform !== 'linux' || !existsSync('/dev/full'))(
    'rejects flush on ENOSPC, then writes the same records once there is room',
    async () => {
      const dir = tempDir();
      const s = new FileStore(dir);
      s.putMessage('c', message(1));
      await s.flush();
      await s.close();
      const b = new FileStore(dir);
      await b.load('c');
      const file = b.pathOf('c');
      const saved = readFileSync(file);
      rmSync(file);
      symlinkSync('/dev/full', file); // every write: ENOSPC
      b.putMessage('c', message(2, {}, { payload: Buffer.from('secret payload') }));
      const err = (await b.flush().then(
        () => undefined,
        (e: unknown) => e,
      )) as FileStoreError;
      expect(err).toBeInstanceOf(FileStoreError);
      expect(err.errno).toBe('ENOSPC');
      expect(err.message).toContain(file);
      expect(err.message).not.toContain('secret');
      expect((await b.load('c')).messages.map((m) => m.seq)).toEqual([1, 2]); // the mirror is intact
      // room again: a regular file with what was there, plus garbage a torn write could have left
      rmSync(file);
      writeFileSync(file, Buffer.concat([saved, Buffer.from('partial write')]));
      b.putMessage('c', message(3));
      await b.flush();
      await b.close();
      const c = new FileStore(dir);
      expect((await c.load('c')).messages.map((m) => m.seq)).toEqual([1, 2, 3]);
      await c.close();
    },
  );
});
