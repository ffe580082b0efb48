import { describe, expect, it } from 'vitest';
import { CoarseTimer, RESOLUTION_MS, type Timed } from '../../src/core/timer.js';

function entry(deadline: number, log: number[], id: number): Timed {
  return { deadline, expire: () => log.push(id) };
}

/** A timer on a fake clock, never driven by its interval in these tests. */
function fakeTimer(start: number): { t: CoarseTimer; run(at: number): void } {
  let now = start;
  const t = new CoarseTimer(() => now);
  return {
    t,
    run(at: number) {
      now = at;
      t.run(at);
    },
  };
}

describe('CoarseTimer', () => {
  it('expires entries whose bucket has passed, in order of deadline, each once', () => {
    const log: number[] = [];
    const base = 1_000_000 * RESOLUTION_MS;
    const { t, run } = fakeTimer(base);
    t.add(entry(base + 350, log, 3));
    t.add(entry(base + 120, log, 1));
    t.add(entry(base + 180, log, 2));
    run(base + 100);
    expect(log).toEqual([]);
    run(base + 200);
    expect(log).toEqual([1, 2]);
    run(base + 1000);
    expect(log).toEqual([1, 2, 3]);
    run(base + 2000);
    expect(log).toEqual([1, 2, 3]);
    expect(t.size).toBe(0);
  });

  it('removes entries in O(1) from anywhere in a bucket, so settled operations are not kept', () => {
    const log: number[] = [];
    const base = 2_000_000 * RESOLUTION_MS;
    const { t, run } = fakeTimer(base);
    const es = [0, 1, 2, 3, 4].map((i) => entry(base + 150, log, i));
    for (const e of es) t.add(e);
    t.remove(es[0]);
    t.remove(es[2]);
    t.remove(es[4]);
    t.remove(es[4]);
    expect(t.size).toBe(2);
    run(base + 300);
    expect(log).toEqual([1, 3]);
    expect(es.every((e) => e.timerBucket === undefined && e.timerNext === undefined)).toBe(true);
  });

  it('moves an entry that is added again', () => {
    const log: number[] = [];
    const base = 3_000_000 * RESOLUTION_MS;
    const { t, run } = fakeTimer(base);
    const e = entry(base + 100, log, 7);
    t.add(e);
    e.deadline = base + 900;
    t.add(e);
    expect(t.size).toBe(1);
    run(base + 500);
    expect(log).toEqual([]);
    run(base + 1000);
    expect(log).toEqual([7]);
  });
});
