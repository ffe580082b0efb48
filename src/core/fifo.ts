/**
 * A first-in, first-out queue: an array and a cursor. `shift()` moves the
 * cursor instead of moving every element (as `Array.prototype.shift` does
 * once an array is large), and clears the slot it leaves so the item can be
 * collected. The consumed prefix is cut off once it is over half the array
 * and more than 1,024 slots: amortised O(1) per item (undici's queues).
 *
 * ```
 *   items: [ -- consumed -- | head ... tail ]
 *                            ^ cursor          length = items.length - cursor
 * ```
 */
export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private cursor = 0;

  /** How many items are queued. */
  get length(): number {
    return this.items.length - this.cursor;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The oldest item, without removing it. */
  peek(): T | undefined {
    return this.cursor < this.items.length ? this.items[this.cursor] : undefined;
  }

  /** Removes and returns the oldest item; undefined when empty. */
  shift(): T | undefined {
    if (this.cursor >= this.items.length) return undefined;
    const item = this.items[this.cursor];
    this.items[this.cursor++] = undefined;
    if (this.cursor === this.items.length) {
      this.items.length = 0;
      this.cursor = 0;
    } else if (this.cursor > 1024 && this.cursor * 2 > this.items.length) {
      this.items = this.items.slice(this.cursor);
      this.cursor = 0;
    }
    return item;
  }

  /** The item `i` places from the oldest (0 is the oldest). */
  at(i: number): T | undefined {
    return i >= 0 && i < this.length ? this.items[this.cursor + i] : undefined;
  }

  /** Removes one item wherever it is (O(n)); false when it is not queued. */
  remove(item: T): boolean {
    const i = this.items.indexOf(item, this.cursor);
    if (i < 0) return false;
    this.items.splice(i, 1);
    if (this.cursor === this.items.length) this.clear();
    return true;
  }

  /**
   * Removes and returns the item `i` places from the oldest (O(n)), for a
   * caller that found it with {@link at}; undefined when there is none.
   */
  removeAt(i: number): T | undefined {
    if (i < 0 || i >= this.length) return undefined;
    const item = this.items[this.cursor + i];
    this.items.splice(this.cursor + i, 1);
    if (this.cursor === this.items.length) this.clear();
    return item;
  }

  /** Removes and returns every item, oldest first. */
  drain(): T[] {
    const out = this.items.slice(this.cursor) as T[];
    this.clear();
    return out;
  }

  clear(): void {
    this.items = [];
    this.cursor = 0;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = this.cursor; i < this.items.length; i++) yield this.items[i] as T;
  }
}
