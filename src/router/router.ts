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

export class TopicRouter<T> {
  private readonly root = new Node<T>();
  private count = 0;

  /** Number of (filter, value) entries. */
  get size(): number {
    return this.count;
  }

  /** Adds `value` under `filter` (a value added twice is matched twice). */
  add(filter: string, value: T): void {
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
    const removed = this.removeAt(this.root, levels, 0, value);
    if (removed) this.count--;
    return removed;
  }

  private removeAt(node: Node<T>, levels: string[], i: number, value: T): boolean {
    const last = levels.length - 1;
    const level = levels[i];
    if (level === '#' && i === last) return removeFrom(node, 'hash', value);
    let next: Node<T> | undefined;
    if (level === '+') next = node.plus;
    else next = node.children?.get(level);
    if (next === undefined) return false;
    const removed =
      i === last ? removeFrom(next, 'values', value) : this.removeAt(next, levels, i + 1, value);
    if (removed && next.isEmpty()) {
      if (level === '+') node.plus = undefined;
      else node.children?.delete(level);
    }
    return removed;
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

  private walk(node: Node<T>, levels: string[], i: number, out: T[]): void {
    const hash = node.hash;
    if (hash !== undefined) for (let k = 0; k < hash.length; k++) out.push(hash[k]);
    if (i === levels.length) {
      const values = node.values;
      if (values !== undefined) for (let k = 0; k < values.length; k++) out.push(values[k]);
      return;
    }
    const exact = node.children?.get(levels[i]);
    if (exact !== undefined) this.walk(exact, levels, i + 1, out);
    if (node.plus !== undefined) this.walk(node.plus, levels, i + 1, out);
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
