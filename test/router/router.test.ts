import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchFilter, topicMatches } from '../../src/router/match.js';
import { TopicRouter } from '../../src/router/router.js';

/** The values matched for `topic`, sorted (match order is not specified). */
function matched<T>(router: TopicRouter<T>, topic: string): T[] {
  return router.match(topic).sort();
}

function routerOf(filters: string[]): TopicRouter<string> {
  const router = new TopicRouter<string>();
  for (const f of filters) router.add(f, f);
  return router;
}

/** The shape of a trie node, for the pruning checks (the root is private). */
interface TrieNode {
  children: Map<string, TrieNode> | undefined;
  values: unknown[] | undefined;
  isEmpty(): boolean;
}

function rootOf<T>(router: TopicRouter<T>): TrieNode {
  return (router as unknown as { root: TrieNode }).root;
}

/** Whether the trie has no nodes left under its root. */
function rootIsEmpty<T>(router: TopicRouter<T>): boolean {
  return rootOf(router).isEmpty();
}

describe('TopicRouter spec cases', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    ['a/b', 'a', false],
    // + matches exactly one level
    ['+', 'a', true],
    ['+', 'a/b', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/b/d', false],
    ['+/+', 'a/b', true],
    ['+/+', 'a', false],
    // # matches the rest, including the parent level
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['a/#', 'b/a', false],
    ['a/b/#', 'a', false],
    ['+/#', 'a', true],
    ['+/#', 'a/b/c', true],
    ['a/+/#', 'a/b', true],
    ['a/+/#', 'a', false],
    // $ topics are not matched by a filter starting with a wildcard (4.7.2)
    ['#', '$SYS/x', false],
    ['#', '$SYS', false],
    ['+/x', '$SYS/x', false],
    ['+', '$SYS', false],
    ['+/#', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['$SYS/#', '$SYS', true],
    ['$SYS/+', '$SYS/x', true],
    ['$SYS/x', '$SYS/x', true],
    ['$SYS/#', 'SYS/x', false],
    // ...but $ deeper in a topic is an ordinary character
    ['#', 'a/$SYS', true],
    ['a/+', 'a/$SYS', true],
    // shared subscriptions are stored and matched under their filter
    ['$share/g/a/+', 'a/b', true],
    ['$share/g/a/+', '$share/g/a/b', false],
    ['$share/g/#', 'x/y', true],
    ['$share/g/#', '$SYS/x', false],
    ['$share/g/$SYS/#', '$SYS/x', true],
    ['$share/g/a', 'b', false],
    // empty levels
    ['a//b', 'a//b', true],
    ['a//b', 'a/b', false],
    ['a/+/b', 'a//b', true],
    ['/a', '/a', true],
    ['/a', 'a', false],
    ['+/a', '/a', true],
    ['/+', '/a', true],
    ['+/+', '/a', true],
    ['a/', 'a/', true],
    ['a/', 'a', false],
    ['a/+', 'a/', true],
    ['a/#', 'a/', true],
    ['#', '/', true],
    ['+/+', '/', true],
    ['/#', '/', true],
    ['/#', 'a', false],
  ])('%s ~ %s is %s (as topicMatches)', (filter, topic, want) => {
    expect(topicMatches(filter, topic)).toBe(want);
    const router = new TopicRouter<string>();
    router.add(filter, 'v');
    expect(router.match(topic)).toEqual(want ? ['v'] : []);
  });

  it('matches every filter that applies, among many', () => {
    const router = routerOf(['a/b', 'a/+', 'a/#', '+/b', '#', '+/+', '+', 'a/b/c', 'b/#', '$SYS/#']);
    expect(matched(router, 'a/b')).toEqual(['#', '+/+', '+/b', 'a/#', 'a/+', 'a/b']);
    expect(matched(router, 'a')).toEqual(['#', '+', 'a/#']);
    expect(matched(router, 'c/d/e')).toEqual(['#']);
    expect(matched(router, '$SYS/b')).toEqual(['$SYS/#']);
  });

  it('appends to the given array', () => {
    const router = routerOf(['a/+']);
    const out = ['before'];
    expect(router.match('a/b', out)).toBe(out);
    expect(out).toEqual(['before', 'a/+']);
  });

  it('keeps several values per filter and matches each', () => {
    const router = new TopicRouter<number>();
    router.add('a/+', 1);
    router.add('a/+', 2);
    router.add('a/#', 3);
    router.add('a/#', 4);
    router.add('$share/g/a/+', 5);
    expect(router.size).toBe(5);
    expect(router.match('a/b').sort()).toEqual([1, 2, 3, 4, 5]);
    expect(router.match('a').sort()).toEqual([3, 4]);
  });

  it('matches a value added twice twice', () => {
    const router = new TopicRouter<string>();
    router.add('a/b', 'x');
    router.add('a/b', 'x');
    router.add('#', 'y');
    router.add('#', 'y');
    expect(router.size).toBe(4);
    expect(matched(router, 'a/b')).toEqual(['x', 'x', 'y', 'y']);
    expect(router.remove('a/b', 'x')).toBe(true);
    expect(matched(router, 'a/b')).toEqual(['x', 'y', 'y']);
    expect(router.size).toBe(3);
  });

  it('removes one entry, keeps the others', () => {
    const router = new TopicRouter<number>();
    router.add('a/+', 1);
    router.add('a/+', 2);
    router.add('a/b', 1);
    expect(router.remove('a/+', 1)).toBe(true);
    expect(router.size).toBe(2);
    expect(router.match('a/b').sort()).toEqual([1, 2]);
    expect(router.match('a/c')).toEqual([2]);
  });

  it('removes and prunes empty nodes, so a removed filter no longer matches', () => {
    const filters = ['a/b/c', 'a/b', 'a/+/c', 'a/#', '#', '+', '+/#', 'a//b', '/a', 'a/', '$SYS/#'];
    const router = routerOf(filters);
    router.add('$share/g/x/+', 'shared');
    expect(router.size).toBe(filters.length + 1);
    for (const [i, f] of filters.entries()) {
      expect(router.remove(f, f)).toBe(true);
      expect(router.size).toBe(filters.length - i);
      for (const topic of ['a/b/c', 'a/b', 'a', 'a//b', '/a', 'a/', '$SYS/x', 'x']) {
        expect(router.match(topic)).not.toContain(f);
      }
      expect(router.remove(f, f)).toBe(false);
    }
    expect(router.match('x/y')).toEqual(['shared']);
    expect(rootIsEmpty(router)).toBe(false);
    expect(router.remove('$share/g/x/+', 'shared')).toBe(true);
    expect(router.size).toBe(0);
    expect(rootIsEmpty(router)).toBe(true);
    expect(router.match('x/y')).toEqual([]);
  });

  it('prunes a deep branch and keeps a shared prefix', () => {
    const router = new TopicRouter<number>();
    router.add('a/b/c/d/e', 1);
    router.add('a/b', 2);
    expect(router.remove('a/b/c/d/e', 1)).toBe(true);
    const a = rootOf(router).children?.get('a');
    const b = a?.children?.get('b');
    expect(b?.values).toEqual([2]);
    expect(b?.children === undefined || b.children.size === 0).toBe(true);
    expect(router.remove('a/b', 2)).toBe(true);
    expect(rootIsEmpty(router)).toBe(true);
  });

  it('returns false when removing something absent', () => {
    const router = new TopicRouter<number>();
    expect(router.remove('a/b', 1)).toBe(false);
    expect(router.remove('#', 1)).toBe(false);
    router.add('a/b', 1);
    router.add('a/#', 1);
    expect(router.remove('a/b', 2)).toBe(false); // other value
    expect(router.remove('a/c', 1)).toBe(false); // other filter, sibling
    expect(router.remove('a/b/c', 1)).toBe(false); // deeper than stored
    expect(router.remove('a', 1)).toBe(false); // a prefix node with no values
    expect(router.remove('a/+', 1)).toBe(false); // + is not a literal level
    expect(router.remove('+/#', 1)).toBe(false);
    expect(router.remove('b/#', 1)).toBe(false);
    expect(router.size).toBe(2);
    expect(router.match('a/b').sort()).toEqual([1, 1]);
  });
});

// ---- property: the trie agrees with the linear matcher ----

const LEVELS = ['a', 'b', 'c', '', '$x'];
const level = fc.constantFrom(...LEVELS);
const filterLevel = fc.oneof({ arbitrary: level, weight: 3 }, { arbitrary: fc.constant('+'), weight: 1 });

/** A valid filter: levels, `+` anywhere, `#` only last, sometimes `$share/g/`-prefixed; never empty. */
const filterArb = fc
  .tuple(
    fc.array(filterLevel, { minLength: 0, maxLength: 4 }),
    fc.boolean(), // ends in #
    fc.integer({ min: 0, max: 5 }), // 0: $share/g/ prefix
  )
  .map(([levels, hash, share]) => {
    const all = hash ? [...levels, '#'] : levels;
    const f = all.join('/');
    return share === 0 && f !== '' ? `$share/g/${f}` : f;
  })
  .filter((f) => f !== '' && f !== '$share/g/');

/** A valid topic name: 1..5 levels from the alphabet, no wildcards, not empty. */
const topicArb = fc
  .array(level, { minLength: 1, maxLength: 5 })
  .map((levels) => levels.join('/'))
  .filter((t) => t !== '');

interface Entry {
  filter: string;
  value: number;
}

/** Entries: some values under several filters, some (filter, value) pairs twice. */
const entriesArb = fc
  .array(fc.tuple(filterArb, fc.integer({ min: 0, max: 9 })), { minLength: 0, maxLength: 25 })
  .map((pairs) => pairs.map(([filter, value]): Entry => ({ filter, value })))
  .chain((entries) => fc.subarray(entries).map((again) => [...entries, ...again]));

function expected(entries: readonly Entry[], topic: string): number[] {
  return entries
    .filter((e) => topicMatches(e.filter, topic))
    .map((e) => e.value)
    .sort((x, y) => x - y);
}

function actual(router: TopicRouter<number>, topic: string): number[] {
  return router.match(topic).sort((x, y) => x - y);
}

describe('TopicRouter property: same multiset as topicMatches', () => {
  it('matches exactly the values whose filter matches the topic', () => {
    fc.assert(
      fc.property(entriesArb, fc.array(topicArb, { minLength: 1, maxLength: 20 }), (entries, topics) => {
        const router = new TopicRouter<number>();
        for (const e of entries) router.add(e.filter, e.value);
        expect(router.size).toBe(entries.length);
        for (const topic of topics) expect(actual(router, topic)).toEqual(expected(entries, topic));
      }),
      { numRuns: 3000 },
    );
  });

  it('still does after random removals, and prunes to nothing when all are removed', () => {
    fc.assert(
      fc.property(
        entriesArb,
        fc.array(fc.nat(), { maxLength: 30 }),
        fc.array(fc.tuple(filterArb, fc.integer({ min: 0, max: 9 })), { maxLength: 5 }),
        fc.array(topicArb, { minLength: 1, maxLength: 20 }),
        (entries, picks, maybeAbsent, topics) => {
          const router = new TopicRouter<number>();
          for (const e of entries) router.add(e.filter, e.value);
          const left = [...entries];
          // remove entries picked at random (by index into what is left)
          for (const p of picks) {
            if (left.length === 0) break;
            const [e] = left.splice(p % left.length, 1);
            expect(router.remove(e.filter, e.value)).toBe(true);
          }
          // removing pairs that may or may not be there: true exactly when one is
          // (`$share/g/f` is stored under `f`, so either spelling removes either)
          for (const [filter, value] of maybeAbsent) {
            const f = matchFilter(filter);
            const i = left.findIndex((e) => matchFilter(e.filter) === f && e.value === value);
            expect(router.remove(filter, value)).toBe(i !== -1);
            if (i !== -1) left.splice(i, 1);
          }
          expect(router.size).toBe(left.length);
          for (const topic of topics) expect(actual(router, topic)).toEqual(expected(left, topic));
          // then remove the rest: nothing matches and no node is left behind
          for (const e of left) expect(router.remove(e.filter, e.value)).toBe(true);
          expect(router.size).toBe(0);
          expect(rootIsEmpty(router)).toBe(true);
          for (const topic of topics) expect(router.match(topic)).toEqual([]);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('deep filters and topics', () => {
  it('matches and removes a filter of 10,001 levels without recursion', () => {
    const r = new TopicRouter<number>();
    const f = '/'.repeat(10_000);
    r.add(f, 1);
    r.add(`${f}/#`, 2);
    expect(r.match(f).sort()).toEqual([1, 2]);
    expect(r.remove(f, 1)).toBe(true);
    expect(r.remove(`${f}/#`, 2)).toBe(true);
    expect(r.size).toBe(0);
    expect(r.match(f)).toEqual([]);
  });

  it('lookup caches per topic and forgets on every change', () => {
    const r = new TopicRouter<string>();
    r.add('a/+', 'x');
    expect(r.lookup('a/b')).toEqual(['x']);
    expect(r.lookup('a/b')).toBe(r.lookup('a/b'));
    r.add('a/#', 'y');
    expect([...r.lookup('a/b')].sort()).toEqual(['x', 'y']);
    r.remove('a/+', 'x');
    expect(r.lookup('a/b')).toEqual(['y']);
    expect(r.lookup('zzz')).toEqual([]);
  });
});
