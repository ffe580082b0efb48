/**
 * Which node runs which session: weighted rendezvous hashing (highest
 * random weight). Pure: no I/O, no clock, no randomness; every node that
 * sees the same member list computes the same owners, in any order.
 *
 * How it works: each (node, session) pair gets a pseudo-random value
 * h in (0, 1) from a hash of the two ids, and a score of
 * `weight / -ln(h)`; the session goes to the node with the highest score.
 * `-ln(h) / weight` is an exponential variable of rate `weight`, so the
 * node with the smallest of them (the highest score) wins with probability
 * `weight / sum of weights`: shares follow the weights. A node that joins
 * takes exactly the sessions where its own score beats the old winner's,
 * about `weight / new total` of them, and nothing else moves; a node that
 * leaves gives up only its own sessions, each to its runner-up. When every
 * node with a share has the same weight (the usual case) the score is
 * monotone in h, so nodes are compared on the hash alone, with no
 * floating-point math at all.
 *
 * The hash, pinned by the tests (changing it moves sessions between
 * nodes during a rolling upgrade, so it never changes):
 *
 *   lanes(text)      = ( M(utf16le(text), 0x2f6b9a1d), M(utf16le(text), 0x8c1e5f37) )
 *   pair(node, sess) = ( M(le32(n1 n2 s1 s2), 0x2f6b9a1d), M(le32(n1 n2 s1 s2), 0x8c1e5f37) )
 *                      where (n1, n2) = lanes(node id), (s1, s2) = lanes(session)
 *   u                = a * 2^20 + (b >>> 12), from pair = (a, b): 52 bits
 *   h                = (u + 0.5) / 2^52, strictly inside (0, 1)
 *
 * M is MurmurHash3_x86_32 (public domain, Austin Appleby), defined on
 * bytes, so the value depends only on the ids' UTF-16 code units: not on
 * the process, the platform, the Node version or a random seed (no
 * `Math.random`, no per-process salt). Each string is hashed once (lanes),
 * and each pair is four more Murmur rounds: `assign` of 10,000 sessions
 * over 10 nodes is 100,000 pair hashes, 3 to 5 ms on these machines once
 * warm (measured by hand; the tests do not time it), allocating nothing
 * per pair. Ties (equal u, or equal scores) go to the greater node
 * id, so the order of the node list never matters. With unequal weights the
 * score takes a `Math.log`; V8 computes it with its fdlibm port, the same on
 * every platform, and an engine whose log differs in the last bit could
 * only swap two nodes whose scores agree to 1 part in 2^52.
 *
 * The hash is not keyed: whoever picks the session ids can pick ones that
 * land on one node. Session ids come from the fleet's own definition.
 */
import { InvalidArgumentError } from '../core/errors.js';

/** A member of the cluster as the assignment sees it. */
export interface ClusterNode {
  /** The node's id: a non-empty string, unique in the list. */
  readonly id: string;
  /** Its share relative to the others' (finite, 0 or more; 0 takes nothing). @default 1 */
  readonly weight?: number;
}

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
/** The two lanes' seeds (fixed forever: see the module header). */
const SEED_A = 0x2f6b9a1d;
const SEED_B = 0x8c1e5f37 | 0;
const TWO_20 = 2 ** 20;
const TWO_52 = 2 ** 52;

/** One MurmurHash3 block: `k` mixed into `h`. */
function round(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  h ^= Math.imul(k, C2);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** MurmurHash3's finalizer. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * MurmurHash3_x86_32 of `text`'s UTF-16LE bytes with `seed` (two code
 * units per 32-bit block, an odd last one as the 2-byte tail).
 */
export function murmur3Utf16(text: string, seed: number): number {
  let h = seed | 0;
  const n = text.length;
  let i = 0;
  for (; i + 1 < n; i += 2) h = round(h, text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16));
  if (i < n) {
    let k = Math.imul(text.charCodeAt(i), C1);
    k = (k << 15) | (k >>> 17);
    h ^= Math.imul(k, C2);
  }
  return fmix(h ^ (n * 2)) >>> 0;
}

/** MurmurHash3_x86_32 of the 16 bytes of four little-endian 32-bit words, with `seed`. */
function murmur3Words(a: number, b: number, c: number, d: number, seed: number): number {
  return fmix(round(round(round(round(seed, a), b), c), d) ^ 16) >>> 0;
}

/** The pair's 52-bit value `u` (see the module header), from the two ids' lanes. */
function pairValue(n1: number, n2: number, s1: number, s2: number): number {
  const a = murmur3Words(n1, n2, s1, s2, SEED_A);
  const b = murmur3Words(n1, n2, s1, s2, SEED_B);
  return a * TWO_20 + (b >>> 12);
}

/** The score `weight / -ln(h)` of a pair's value `u`. */
function score(weight: number, u: number): number {
  return weight / -Math.log((u + 0.5) / TWO_52);
}

/**
 * A node list checked and hashed once, to place many sessions: what
 * {@link owner} and {@link assign} build for each call. Keep one while the
 * member list stays the same.
 */
export class Placement {
  /** The node ids, in the order given. */
  readonly ids: readonly string[];
  readonly #weights: Float64Array;
  /** Each node's two hash lanes, at `2i` and `2i + 1`. */
  readonly #lanes: Int32Array;
  /** Whether every node with a share has the same weight: compare hashes, not scores. */
  readonly #equal: boolean;

  /** Checks `nodes` (`InvalidArgumentError` naming `nodes[i].id` or `nodes[i].weight`). */
  constructor(nodes: readonly ClusterNode[]) {
    if (!Array.isArray(nodes)) throw new InvalidArgumentError('nodes', 'must be an array of { id, weight }');
    const ids: string[] = [];
    const weights = new Float64Array(nodes.length);
    const lanes = new Int32Array(nodes.length * 2);
    const seen = new Map<string, number>();
    let shared: number | undefined;
    let equal = true;
    for (let i = 0; i < nodes.length; i++) {
      const node = nodes[i];
      if (typeof node !== 'object' || node === null)
        throw new InvalidArgumentError(`nodes[${i}]`, 'must be an object { id, weight }');
      const { id, weight = 1 } = node;
      if (typeof id !== 'string' || id === '')
        throw new InvalidArgumentError(`nodes[${i}].id`, 'must be a non-empty string');
      const before = seen.get(id);
      if (before !== undefined)
        throw new InvalidArgumentError(`nodes[${i}].id`, `is the id of nodes[${before}] too`);
      seen.set(id, i);
      if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0)
        throw new InvalidArgumentError(
          `nodes[${i}].weight`,
          `must be a finite number, 0 or more, got ${String(weight)}`,
        );
      ids.push(id);
      weights[i] = weight;
      lanes[2 * i] = murmur3Utf16(id, SEED_A);
      lanes[2 * i + 1] = murmur3Utf16(id, SEED_B);
      if (weight > 0) {
        if (shared === undefined) shared = weight;
        else if (weight !== shared) equal = false;
      }
    }
    this.ids = ids;
    this.#weights = weights;
    this.#lanes = lanes;
    this.#equal = equal;
  }

  /** The id of the node that runs `session`; undefined when no node has a weight above 0. */
  owner(session: string): string | undefined {
    const i = this.#pick(session);
    return i < 0 ? undefined : this.ids[i];
  }

  /** Index in {@link ids} of the owner of `session`, or -1. */
  #pick(session: string): number {
    if (typeof session !== 'string') throw new InvalidArgumentError('session', 'must be a string');
    const s1 = murmur3Utf16(session, SEED_A);
    const s2 = murmur3Utf16(session, SEED_B);
    const ids = this.ids;
    const weights = this.#weights;
    const lanes = this.#lanes;
    let best = -1;
    let bestU = 0;
    let bestScore = 0;
    for (let i = 0; i < ids.length; i++) {
      const w = weights[i];
      if (w === 0) continue;
      const u = pairValue(lanes[2 * i], lanes[2 * i + 1], s1, s2);
      if (this.#equal) {
        if (best < 0 || u > bestU || (u === bestU && ids[i] > ids[best])) {
          best = i;
          bestU = u;
        }
      } else {
        const sc = score(w, u);
        if (best < 0 || sc > bestScore || (sc === bestScore && ids[i] > ids[best])) {
          best = i;
          bestScore = sc;
        }
      }
    }
    return best;
  }

  /** Every node id (in the order given, those of weight 0 too) with the sessions it runs, in `sessions` order. */
  assign(sessions: readonly string[]): Map<string, string[]> {
    if (!Array.isArray(sessions)) throw new InvalidArgumentError('sessions', 'must be an array of strings');
    const lists: string[][] = this.ids.map(() => []);
    for (let j = 0; j < sessions.length; j++) {
      const session = sessions[j];
      if (typeof session !== 'string') throw new InvalidArgumentError(`sessions[${j}]`, 'must be a string');
      const i = this.#pick(session);
      if (i >= 0) lists[i].push(session);
    }
    const out = new Map<string, string[]>();
    for (let i = 0; i < this.ids.length; i++) out.set(this.ids[i], lists[i]);
    return out;
  }
}

/**
 * The id of the node among `nodes` that runs `session` (undefined when no
 * node has a weight above 0). Hashes every node id: to place many
 * sessions, use {@link assign} or a {@link Placement}.
 */
export function owner(session: string, nodes: readonly ClusterNode[]): string | undefined {
  return new Placement(nodes).owner(session);
}

/**
 * Every session placed: each node id of `nodes` (in their order, those of
 * weight 0 with an empty list) with the sessions it runs (in `sessions`
 * order). Every session is in exactly one list, unless no node has a weight
 * above 0 (then all lists are empty).
 */
export function assign(sessions: readonly string[], nodes: readonly ClusterNode[]): Map<string, string[]> {
  return new Placement(nodes).assign(sessions);
}
