/** Packet id tables: every id handed out once, freed ids not reused at once, order kept as the table grows. */
import { describe, expect, it } from 'vitest';
import { MAX_PACKET_ID, PacketIdSet, PacketIds } from '../../src/protocol/inflight.js';

describe('PacketIds', () => {
  it('hands out all 65,535 ids once, then 0 until one is freed', () => {
    const ids = new PacketIds<number>();
    const seen = new Set<number>();
    for (let i = 0; i < MAX_PACKET_ID; i++) {
      const id = ids.acquire(i);
      expect(id).toBeGreaterThan(0);
      seen.add(id);
    }
    expect(seen.size).toBe(MAX_PACKET_ID);
    expect(ids.acquire(-1)).toBe(0);
    expect(ids.release(777)).toBeDefined();
    expect(ids.acquire(-1)).toBe(777);
    expect(ids.get(777)).toBe(-1);
  });

  it('does not reuse a freed id before half a window of others', () => {
    const ids = new PacketIds<string>();
    const recent: number[] = [];
    for (let i = 0; i < 10_000; i++) {
      // a few in flight at a time, like a steady QoS 1 publisher
      const id = ids.acquire('x');
      expect(recent.slice(-7)).not.toContain(id);
      recent.push(id);
      if (i >= 3) ids.release(recent[i - 3]);
    }
  });

  it('lists what is in flight oldest first, across growth and wrap-around', () => {
    const ids = new PacketIds<number>();
    const live: [number, number][] = [];
    let n = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 9 + round; i++) live.push([ids.acquire(n), n++]);
      // free the oldest half
      for (const [id] of live.splice(0, Math.floor(live.length / 2))) ids.release(id);
      expect(ids.values()).toEqual(live.map(([, v]) => v));
      expect(ids.size).toBe(live.length);
    }
  });

  it('restores a known id, however high, and refuses a taken one', () => {
    const ids = new PacketIds<string>();
    expect(ids.set(60_000, 'a')).toBe(true);
    expect(ids.set(60_000, 'b')).toBe(false);
    expect(ids.get(60_000)).toBe('a');
    expect(ids.get(65_535)).toBeUndefined();
    expect(ids.release(65_535)).toBeUndefined();
    const next = ids.acquire('c');
    expect(next).not.toBe(60_000);
    // the restored one is older than anything acquired after it
    expect(ids.values()).toEqual(['a', 'c']);
    ids.clear();
    expect(ids.size).toBe(0);
    expect(ids.get(60_000)).toBeUndefined();
  });
});

describe('PacketIdSet', () => {
  it('adds, finds and deletes ids, and lists them in order', () => {
    const set = new PacketIdSet();
    expect(set.has(5)).toBe(false);
    expect(set.delete(5)).toBe(false);
    for (const id of [65_535, 1, 300, 1]) set.add(id);
    expect(set.size).toBe(3);
    expect(set.values()).toEqual([1, 300, 65_535]);
    expect(set.delete(300)).toBe(true);
    expect(set.has(300)).toBe(false);
    set.clear();
    expect(set.size).toBe(0);
    expect(set.has(1)).toBe(false);
  });
});
