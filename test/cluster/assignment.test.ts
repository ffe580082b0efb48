/**
 * Weighted rendezvous hashing (`src/cluster/assignment.ts`): one owner per
 * session, the same on every node, an even spread, minimal movement when
 * nodes come and go, shares that follow the weights, and a hash pinned so
 * that an upgrade moves nothing.
 *
 * Counts are checked against binomial tolerances. The hash is fixed, so
 * each check is deterministic; the tolerance says how far a well-mixed hash
 * could plausibly land from the ideal. For 10,000 sessions where a node's
 * ideal share is p, its count is Binomial(10000, p) with standard deviation
 * sqrt(10000 p (1 - p)) (30 for p = 1/10); we allow 5 of them, which a
 * uniform hash exceeds with probability below 6e-7 per count, while a
 * biased or poorly mixed hash (a node at 0.8 or 1.2 of its share of 1,000)
 * fails.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { assign, type ClusterNode, murmur3Utf16, owner, Placement } from '../../src/cluster/assignment.js';
import { InvalidArgumentError } from '../../src/core/errors.js';

const SESSIONS = Array.from({ length: 10_000 }, (_, i) => `dev-${i}`);
const nodes = (n: number, from = 1): ClusterNode[] =>
  Array.from({ length: n }, (_, i) => ({ id: `gw-${i + from}` }));

/** The standard deviation of a Binomial(n, p) count. */
const sigma = (n: number, p: number): number => Math.sqrt(n * p * (1 - p));

/** Session -> owner, from assign's node -> sessions. */
function owners(map: Map<string, string[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [node, sessions] of map) for (const s of sessions) out.set(s, node);
  return out;
}

/** A seeded shuffle (mulberry32), so that a failure reproduces. */
function shuffled<T>(list: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const random = (): number => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
  const out = [...list];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** MurmurHash3_x86_32 of `bytes`, written from the reference C, to check the UTF-16 version against. */
function murmur3Bytes(bytes: Uint8Array, seed: number): number {
  const mix = (k: number): number =>
    Math.imul(((k = Math.imul(k, 0xcc9e2d51)) << 15) | (k >>> 17), 0x1b873593);
  let h = seed >>> 0;
  const n = bytes.length;
  const blocks = n & ~3;
  for (let i = 0; i < blocks; i += 4) {
    h ^= mix(bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24));
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  let k = 0;
  const rest = n & 3;
  if (rest === 3) k ^= bytes[blocks + 2] << 16;
  if (rest >= 2) k ^= bytes[blocks + 1] << 8;
  if (rest >= 1) h ^= mix(k ^ bytes[blocks]);
  h ^= n;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

describe('the hash', () => {
  it('is MurmurHash3_x86_32 (the reference vectors)', () => {
    const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
    expect(murmur3Bytes(utf8(''), 0)).toBe(0);
    expect(murmur3Bytes(utf8(''), 1)).toBe(0x514e28b7);
    expect(murmur3Bytes(utf8('test'), 0)).toBe(0xba6bd213);
    expect(murmur3Bytes(utf8('Hello, world!'), 0x9747b28c)).toBe(0x24884cba);
    expect(murmur3Bytes(utf8('The quick brown fox jumps over the lazy dog'), 0x9747b28c)).toBe(0x2fa826cd);
  });

  it("hashes a string's UTF-16LE bytes, lone surrogates and the empty string included", () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.integer({ min: 0, max: 0xffffffff }), (s, seed) => {
        expect(murmur3Utf16(s, seed)).toBe(murmur3Bytes(Buffer.from(s, 'utf16le'), seed));
      }),
      { numRuns: 500 },
    );
    expect(murmur3Utf16('\uD800x', 7)).toBe(murmur3Bytes(Buffer.from('\uD800x', 'utf16le'), 7));
  });

  it('gives the same lanes and owners as it always has (an upgrade must move no session)', () => {
    const lanes = (s: string): string[] =>
      [murmur3Utf16(s, 0x2f6b9a1d), murmur3Utf16(s, 0x8c1e5f37)].map((h) => h.toString(16));
    expect(['', 'a', 'dev-0', 'gw-1'].map(lanes)).toEqual([
      ['c7f6f817', '5880508b'],
      ['13813a19', '6934676e'],
      ['9a203a55', '5abad92f'],
      ['d99a6c1d', '14c6d06b'],
    ]);
    const even = nodes(5);
    const weighted = [
      { id: 'a', weight: 1 },
      { id: 'b', weight: 2 },
      { id: 'c', weight: 0.5 },
      { id: 'd', weight: 3 },
    ];
    const sessions = [
      'dev-0',
      'dev-1',
      'dev-2',
      'dev-3',
      'dev-4',
      'sensor/ä/7',
      '',
      '😀',
      'a longer id, with spaces!',
    ];
    expect(sessions.map((s) => [s, owner(s, even), owner(s, weighted)])).toEqual([
      ['dev-0', 'gw-4', 'd'],
      ['dev-1', 'gw-4', 'c'],
      ['dev-2', 'gw-2', 'a'],
      ['dev-3', 'gw-2', 'b'],
      ['dev-4', 'gw-3', 'a'],
      ['sensor/ä/7', 'gw-5', 'c'],
      ['', 'gw-4', 'c'],
      ['😀', 'gw-1', 'c'],
      ['a longer id, with spaces!', 'gw-2', 'b'],
    ]);
  });
});

describe('assign', () => {
  it('gives every session exactly one owner, and owner() agrees', () => {
    const list = nodes(10);
    const map = assign(SESSIONS, list);
    expect([...map.keys()]).toEqual(list.map((n) => n.id));
    const all = [...map.values()].flat();
    expect(all.length).toBe(SESSIONS.length);
    expect(new Set(all).size).toBe(SESSIONS.length);
    const placement = new Placement(list);
    for (const [node, sessions] of map) {
      for (const s of sessions.slice(0, 50)) expect(owner(s, list)).toBe(node);
      for (const s of sessions) expect(placement.owner(s)).toBe(node);
    }
    // each list keeps the order of `sessions`
    for (const sessions of map.values()) {
      const index = sessions.map((s) => Number(s.slice(4)));
      expect(index).toEqual([...index].sort((a, b) => a - b));
    }
  });

  it('is the same whatever the order of the nodes (every node computes the same)', () => {
    for (const list of [
      nodes(10),
      nodes(7).map((n, i) => ({ ...n, weight: 1 + (i % 3) })),
      nodes(4).map((n, i) => ({ ...n, weight: i === 0 ? 0 : 0.25 * i })),
    ]) {
      const expected = owners(assign(SESSIONS, list));
      for (const seed of [1, 2, 3]) expect(owners(assign(SESSIONS, shuffled(list, seed)))).toEqual(expected);
    }
  });

  it('spreads 10,000 sessions evenly over 10 nodes (each within 5 standard deviations of 1,000)', () => {
    const tolerance = 5 * sigma(SESSIONS.length, 1 / 10); // 150
    const counts = [...assign(SESSIONS, nodes(10)).values()].map((l) => l.length);
    for (const c of counts) expect(Math.abs(c - 1_000)).toBeLessThan(tolerance);
  });

  it('spreads evenly for other node counts and id shapes too', () => {
    for (const n of [2, 3, 7, 16]) {
      const list = Array.from({ length: n }, (_, i) => ({
        id: `node-${String.fromCharCode(97 + i)}.example.com`,
      }));
      const p = 1 / n;
      const counts = [...assign(SESSIONS, list).values()].map((l) => l.length);
      for (const c of counts)
        expect(Math.abs(c - SESSIONS.length * p)).toBeLessThan(5 * sigma(SESSIONS.length, p));
    }
  });

  it('moves about 1/(n+1) of the sessions when a node joins, all of them to the new node', () => {
    const before = owners(assign(SESSIONS, nodes(10)));
    const after = owners(assign(SESSIONS, nodes(11)));
    let moved = 0;
    for (const s of SESSIONS) {
      if (before.get(s) === after.get(s)) continue;
      moved++;
      expect(after.get(s)).toBe('gw-11'); // none moves between the old nodes
    }
    const ideal = SESSIONS.length / 11; // 909
    expect(Math.abs(moved - ideal)).toBeLessThan(5 * sigma(SESSIONS.length, 1 / 11)); // 144
  });

  it("moves only the leaving node's sessions when it leaves, spread over the others", () => {
    const list = nodes(10);
    const before = assign(SESSIONS, list);
    const after = owners(
      assign(
        SESSIONS,
        list.filter((n) => n.id !== 'gw-4'),
      ),
    );
    const own = new Set(before.get('gw-4'));
    const taken = new Map<string, number>();
    for (const [node, sessions] of before) {
      for (const s of sessions) {
        if (own.has(s)) {
          const to = after.get(s) as string;
          expect(to).not.toBe('gw-4');
          taken.set(to, (taken.get(to) ?? 0) + 1);
        } else {
          expect(after.get(s)).toBe(node);
        }
      }
    }
    // each of the 9 others takes about a ninth of the ~1,000 sessions that moved
    expect(taken.size).toBe(9);
    const p = 1 / 9;
    for (const c of taken.values()) expect(Math.abs(c - own.size * p)).toBeLessThan(5 * sigma(own.size, p));
  });

  it('gives a node of weight 2 about twice the share of a node of weight 1', () => {
    const list = [{ id: 'big', weight: 2 }, ...nodes(3)];
    const counts = new Map([...assign(SESSIONS, list)].map(([node, l]) => [node, l.length]));
    const n = SESSIONS.length;
    expect(Math.abs((counts.get('big') as number) - n * 0.4)).toBeLessThan(5 * sigma(n, 0.4)); // 4,000 ± 245
    for (const id of ['gw-1', 'gw-2', 'gw-3'])
      expect(Math.abs((counts.get(id) as number) - n * 0.2)).toBeLessThan(5 * sigma(n, 0.2)); // 2,000 ± 200
  });

  it('follows fractional weights, and scaling every weight changes nothing', () => {
    const list = [
      { id: 'a', weight: 0.5 },
      { id: 'b', weight: 1.5 },
      { id: 'c', weight: 3 },
    ];
    const counts = [...assign(SESSIONS, list).values()].map((l) => l.length);
    const shares = [0.1, 0.3, 0.6];
    counts.forEach((c, i) => {
      expect(Math.abs(c - SESSIONS.length * shares[i])).toBeLessThan(5 * sigma(SESSIONS.length, shares[i]));
    });
    const doubled = list.map((n) => ({ ...n, weight: n.weight * 2 }));
    expect(owners(assign(SESSIONS, doubled))).toEqual(owners(assign(SESSIONS, list)));
    // equal weights of any size are the unweighted case
    const twos = nodes(5).map((n) => ({ ...n, weight: 2 }));
    expect(owners(assign(SESSIONS, twos))).toEqual(owners(assign(SESSIONS, nodes(5))));
  });

  it('gives a node of weight 0 nothing, and it changes no other owner', () => {
    const list = [...nodes(5), { id: 'drained', weight: 0 }];
    const map = assign(SESSIONS, list);
    expect(map.get('drained')).toEqual([]);
    expect(owners(map)).toEqual(owners(assign(SESSIONS, nodes(5))));
  });

  it('places nothing when no node has a weight above 0', () => {
    expect(owner('dev-1', [])).toBeUndefined();
    expect(owner('dev-1', [{ id: 'a', weight: 0 }])).toBeUndefined();
    expect(assign(['dev-1'], [{ id: 'a', weight: 0 }])).toEqual(new Map([['a', []]]));
    expect(assign(['dev-1'], [])).toEqual(new Map());
  });
});

describe('bad input', () => {
  const refused = (fn: () => unknown, field: string): void => {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).field).toBe(field);
      return;
    }
    expect.unreachable(`no error for ${field}`);
  };

  it('is refused with an InvalidArgumentError naming the field', () => {
    for (const weight of [-1, Number.NaN, Number.POSITIVE_INFINITY, '2']) {
      refused(() => owner('s', [{ id: 'a' }, { id: 'b', weight } as ClusterNode]), 'nodes[1].weight');
      refused(() => assign(['s'], [{ id: 'a' }, { id: 'b', weight } as ClusterNode]), 'nodes[1].weight');
    }
    refused(() => assign(['s'], [{ id: 'a' }, { id: 'b' }, { id: 'a', weight: 2 }]), 'nodes[2].id');
    refused(() => owner('s', [{ id: '' }]), 'nodes[0].id');
    refused(() => owner('s', [{ id: 7 } as unknown as ClusterNode]), 'nodes[0].id');
    refused(() => owner('s', [null as unknown as ClusterNode]), 'nodes[0]');
    refused(() => owner('s', 'gw-1' as unknown as ClusterNode[]), 'nodes');
    refused(() => owner(1 as unknown as string, [{ id: 'a' }]), 'session');
    refused(() => assign(['a', 2 as unknown as string], [{ id: 'a' }]), 'sessions[1]');
    refused(() => assign('a' as unknown as string[], [{ id: 'a' }]), 'sessions');
  });

  it('names the first id in the message of a duplicate, not the value', () => {
    expect(() => owner('s', [{ id: 'secret-ish' }, { id: 'secret-ish' }])).toThrow(
      'nodes[1].id: is the id of nodes[0] too',
    );
  });
});
