import { describe, expect, it } from 'vitest';
import { Fifo } from '../../src/core/fifo.js';

describe('Fifo', () => {
  it('hands items back oldest first and says how many are queued', () => {
    const q = new Fifo<number>();
    expect(q.shift()).toBeUndefined();
    for (let i = 0; i < 5; i++) q.push(i);
    expect(q.length).toBe(5);
    expect(q.peek()).toBe(0);
    expect(q.shift()).toBe(0);
    expect(q.at(0)).toBe(1);
    expect(q.at(3)).toBe(4);
    expect(q.at(4)).toBeUndefined();
    expect([...q]).toEqual([1, 2, 3, 4]);
    expect(q.length).toBe(4);
  });

  it('stays in order across compaction of the consumed prefix', () => {
    const q = new Fifo<number>();
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 50; round++) {
      for (let i = 0; i < 300; i++) q.push(next++);
      for (let i = 0; i < 250; i++) expect(q.shift()).toBe(expected++);
    }
    expect(q.length).toBe(next - expected);
    expect(q.drain()).toEqual(Array.from({ length: next - expected }, (_, i) => expected + i));
    expect(q.length).toBe(0);
  });

  it('removes an item from the middle and drains the rest', () => {
    const q = new Fifo<string>();
    for (const s of ['a', 'b', 'c', 'd']) q.push(s);
    q.shift();
    expect(q.remove('c')).toBe(true);
    expect(q.remove('a')).toBe(false);
    expect(q.drain()).toEqual(['b', 'd']);
    expect(q.peek()).toBeUndefined();
  });

  it('removes an item by its place from the oldest', () => {
    const q = new Fifo<string>();
    for (const s of ['a', 'b', 'c', 'd']) q.push(s);
    q.shift();
    expect(q.removeAt(3)).toBeUndefined();
    expect(q.removeAt(-1)).toBeUndefined();
    expect(q.removeAt(1)).toBe('c');
    expect([...q]).toEqual(['b', 'd']);
    expect(q.removeAt(0)).toBe('b');
    expect(q.removeAt(0)).toBe('d');
    expect(q.length).toBe(0);
    q.push('e');
    expect(q.peek()).toBe('e');
  });
});
