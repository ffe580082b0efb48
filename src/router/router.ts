/**
 * `TopicRouter`: a topic trie from filters to values (handlers, routes).
 *
 * How it works: each filter level is a node; `+` is a node's one wildcard
 * child; values of filters ending in `#` sit on the node before the `#`
 * (where `#` also matches the parent level, `a/#` matching `a`). Matching a
 * topic walks its levels once, following the exact child and the `+` child
 * and collecting `#` values on the way, so its cost depends on the topic's
 * depth and the wildcards on its path, not on how many filters there are.
 * A topic starting with `$` is not matched by a filter starting with a
 * wildcard (4.7.2). A shared subscription `$share/{group}/{filter}` is
 * stored under its filter.
 */
import { matchFilter } from './match.js';

class Node<T> {
  children: Map<string, Node<T>> | undefined = undefined;
  plus: Node<T> | undefined = undefined;
  /** Values of filters that end here. */
  values: T[] | undefined = undefined;
  /** Values of filters that end with `#` right after this node. */
  hash: T[] | undefined = undefined;

  isEmpty(): boolean {
    return (
      this.values === undefined &&
      this.hash === undefined &&
      this.plus === undefined &&
      (this.children === undefined || this.children.size === 0)
    );
  }
}

const NO_MATCH: readonly never[] = Object.freeze([]);

/** Topics whose matches `lookup` remembers; the cache empties when full and on every change. */
const CACHE_MAX = 1024;

/**
 * A topic trie from MQTT topic filters to values (handlers, routes): what
 * sessions use to dispatch messages. Matching a topic costs its depth and the
 * wildcards on its path, not the number of filters.
 *
 * ```ts
 * const router = new TopicRouter<string>();
 * router.add('sensors/+/temperature', 'temp');
 * router.add('sensors/#', 'all');
 * router.lookup('sensors/a/temperature'); // ['all', 'temp'] (order not guaranteed)
 * ```
 *
 * `+` matches one level, `#` the rest including the parent level (`a/#`
 * matches `a`); a topic starting with `$` is not matched by a filter starting
 * with a wildcard (4.7.2); a shared subscription `$share/{group}/{filter}` is
 * stored under its filter. Filters are not validated: check them with
 * `isValidTopicFilter` from `mqttkit/codec` first.
 */
export class TopicRouter<T> {
  private readonly root = new Node<T>();
  private count = 0;
  private readonly cache = new Map<string, readonly T[]>();

  /** Number of (filter, value) entries. */
  get size(): number {
    return this.count;
  }

  /** Adds `value` under `filter` (a value added twice is matched twice). */
  add(filter: string, value: T): void {
    this.cache.clear();
    const levels = matchFilter(filter).split('/');
    let node = this.root;
    const last = levels.length - 1;
    for (let i = 0; i <= last; i++) {
      const level = levels[i];
      if (level === '#' && i === last) {
        (node.hash ??= []).push(value);
        this.count++;
        return;
      }
      if (level === '+') {
        node = node.plus ??= new Node<T>();
      } else {
        const children = (node.children ??= new Map());
        let next = children.get(level);
        if (next === undefined) {
          next = new Node<T>();
          children.set(level, next);
        }
        node = next;
      }
    }
    (node.values ??= []).push(value);
    this.count++;
  }

  /** Removes one entry of `value` under `filter`; false when there was none. */
  remove(filter: string, value: T): boolean {
    const levels = matchFilter(filter).split('/');
    const removed = this.removeAt(this.root, levels, value);
    if (removed) {
      this.count--;
      this.cache.clear();
    }
    return removed;
  }

  private removeAt(root: Node<T>, levels: string[], value: T): boolean {
    const last = levels.length - 1;
    const path: Node<T>[] = [root];
    let node = root;
    for (let i = 0; i <= last; i++) {
      const level = levels[i];
      if (level === '#' && i === last) {
        if (!removeFrom(node, 'hash', value)) return false;
        this.prune(path, levels, i);
        return true;
      }
      const next = level === '+' ? node.plus : node.children?.get(level);
      if (next === undefined) return false;
      node = next;
      path.push(node);
    }
    if (!removeFrom(node, 'values', value)) return false;
    this.prune(path, levels, levels.length);
    return true;
  }

  /** Drops the empty nodes at the end of `path` (path[k] is reached by levels[k - 1]). */
  private prune(path: Node<T>[], levels: string[], depth: number): void {
    for (let k = depth; k > 0; k--) {
      const node = path[k];
      if (!node.isEmpty()) return;
      const parent = path[k - 1];
      const level = levels[k - 1];
      if (level === '+') parent.plus = undefined;
      else parent.children?.delete(level);
    }
  }

  /**
   * The values whose filter matches `topic`, remembered for the next lookup
   * of the same topic (a stream of messages repeats its topics). The array
   * is shared: read it, do not change it.
   */
  lookup(topic: string): readonly T[] {
    let hit = this.cache.get(topic);
    if (hit === undefined) {
      const found = this.match(topic);
      hit = found.length === 0 ? NO_MATCH : found;
      if (this.cache.size >= CACHE_MAX) this.cache.clear();
      this.cache.set(topic, hit);
    }
    return hit;
  }

  /** Every value whose filter matches `topic`, appended to `out`. */
  match(topic: string, out: T[] = []): T[] {
    const levels = topic.split('/');
    const root = this.root;
    if (topic.charCodeAt(0) === 0x24 /* $ */) {
      // wildcards at the first level do not match $-topics
      const next = root.children?.get(levels[0]);
      if (next !== undefined) this.walk(next, levels, 1, out);
      return out;
    }
    this.walk(root, levels, 0, out);
    return out;
  }

  /** Depth-first over the trie with an explicit stack: no recursion, so any depth is safe. */
  private walk(start: Node<T>, levels: string[], first: number, out: T[]): void {
    const nodes: Node<T>[] = [start];
    const depths: number[] = [first];
    while (nodes.length > 0) {
      const node = nodes.pop() as Node<T>;
      const i = depths.pop() as number;
      const hash = node.hash;
      if (hash !== undefined) for (let k = 0; k < hash.length; k++) out.push(hash[k]);
      if (i === levels.length) {
        const values = node.values;
        if (values !== undefined) for (let k = 0; k < values.length; k++) out.push(values[k]);
        continue;
      }
      // push '+' first so the exact branch is walked first
      if (node.plus !== undefined) {
        nodes.push(node.plus);
        depths.push(i + 1);
      }
      const exact = node.children?.get(levels[i]);
      if (exact !== undefined) {
        nodes.push(exact);
        depths.push(i + 1);
      }
    }
  }
}

function removeFrom<T>(node: Node<T>, key: 'values' | 'hash', value: T): boolean {
  const list = node[key];
  if (list === undefined) return false;
  const i = list.indexOf(value);
  if (i === -1) return false;
  list.splice(i, 1);
  if (list.length === 0) node[key] = undefined;
  return true;
}
