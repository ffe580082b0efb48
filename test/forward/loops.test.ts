/** LoopGuard: a noted copy is recognised once, on its session, until it expires. */
import { describe, expect, it } from 'vitest';
import { LoopGuard } from '../../src/forward/loops.js';

describe('LoopGuard', () => {
  it('recognises each noted copy once, per session and payload, until the note expires', () => {
    const g = new LoopGuard(1000);
    const p = Buffer.from('x');
    g.note('B', 't', p, 0);
    g.note('B', 't', p, 0);
    expect(g.seen('A', 't', p, 10)).toBe(false);
    expect(g.seen('B', 't', Buffer.from('y'), 10)).toBe(false);
    expect(g.seen('B', 't', p, 10)).toBe(true);
    expect(g.seen('B', 't', p, 10)).toBe(true);
    expect(g.seen('B', 't', p, 10)).toBe(false);
    g.note('B', 'u', p, 0);
    expect(g.seen('B', 'u', p, 1000)).toBe(false);
  });

  it('keeps at most max notes, dropping the oldest', () => {
    const g = new LoopGuard(60_000, 2);
    const p = Buffer.from('x');
    g.note('B', 'a', p, 0);
    g.note('B', 'b', p, 0);
    g.note('B', 'c', p, 0);
    expect(g.seen('B', 'a', p, 1)).toBe(false);
    expect(g.seen('B', 'b', p, 1)).toBe(true);
    expect(g.seen('B', 'c', p, 1)).toBe(true);
  });
});
