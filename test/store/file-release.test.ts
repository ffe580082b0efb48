/**
 * `FileStore.release`: two stores over one directory (two processes of a
 * fleet, each with its own store) hand a client id back and forth. Without
 * `release()` the store that had it first would load what it read then, and
 * write on from a stale size; with it, each load reads what the other wrote.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { ClosedError } from '../../src/core/errors.js';
import { FileStore } from '../../src/store/file.js';
import { message } from './contract.js';
import { removeTempDirs, tempDir } from './file-helpers.js';

afterAll(removeTempDirs);

const seqs = async (s: FileStore, id: string) => (await s.load(id)).messages.map((m) => m.seq);

describe('FileStore.release', () => {
  it('hands a client id between two stores of one directory, back and forth, losing nothing', async () => {
    const dir = tempDir('release');
    const a = new FileStore(dir);
    const b = new FileStore(dir);
    const id = 'moving';
    expect(await seqs(a, id)).toEqual([]);
    a.putMessage(id, message(1));
    a.putMessage(id, message(2));
    a.putMessage('stays', message(7)); // another client id of the same store is not touched
    await a.release(id);

    expect(await seqs(b, id)).toEqual([1, 2]);
    b.deleteMessage(id, 1);
    b.putMessage(id, message(3));
    await b.flush();
    await b.release(id);

    // back: a reads the log again, not the state it had
    expect(await seqs(a, id)).toEqual([2, 3]);
    a.putMessage(id, message(4));
    await a.release(id);
    expect(await seqs(b, id)).toEqual([2, 3, 4]);
    expect(await seqs(a, 'stays')).toEqual([7]);
    await Promise.all([a.close(), b.close()]);
    const c = new FileStore(dir);
    expect(await seqs(c, id)).toEqual([2, 3, 4]);
    await c.close();
  });

  it('keeps compaction from writing a stale picture over the other store’s records', async () => {
    const dir = tempDir('release-compact');
    const a = new FileStore(dir, { compactAt: 1 });
    const b = new FileStore(dir, { compactAt: 1 });
    const id = 'compacted';
    for (let i = 1; i <= 5; i++) a.putMessage(id, message(i));
    for (let i = 1; i <= 4; i++) a.deleteMessage(id, i);
    await a.flush();
    await a.release(id);
    b.putMessage(id, message(6));
    await b.flush();
    await b.release(id);
    a.deleteMessage(id, 5);
    await a.flush(); // compacts: from the log as it is now, read again
    await a.release(id);
    expect(await seqs(b, id)).toEqual([6]);
    await Promise.all([a.close(), b.close()]);
  });

  it('is nothing for a client id it does not hold, and ClosedError once closed', async () => {
    const s = new FileStore(tempDir('release-none'));
    await s.release('never-seen');
    await s.close();
    await expect(s.release('x')).rejects.toBeInstanceOf(ClosedError);
  });
});
