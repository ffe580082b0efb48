/**
 * `session.messages(filter?)` and a manager's `listen`: received messages as
 * an async iterator.
 *
 * How it works: a ring of `capacity` slots holds the messages the consumer
 * has not read; `push` writes at `head + count`, `next` reads at `head`.
 * When the ring is full, `push` overwrites the oldest (or drops the new
 * one), so memory is bounded whatever the consumer does. A consumer waiting
 * in `next()` is a resolver in a FIFO; a push hands the message to the
 * oldest waiter without touching the ring. Streams are made by the session
 * (`createMessageStream`), not by users.
 */
import { Fifo } from '../core/fifo.js';
import { tracerOfMessage } from '../tracing/hooks.js';
import type { Message } from './types.js';

/** Which message a full stream drops. */
export type DropPolicy = 'drop-oldest' | 'drop-newest';

/** The constructor, for {@link createMessageStream} (set by the class's static block: it is protected). */
let construct: <T extends Message>(
  filter: string | undefined,
  capacity: number,
  detach: (stream: MessageStream<T>) => void,
  drop: DropPolicy | undefined,
  onDrop: (() => void) | undefined,
) => MessageStream<T>;

/**
 * Received messages as an async iterator: what `session.messages(filter?)`
 * returns (and, as {@link RouteStream}, a manager's `listen`).
 *
 * A bounded ring of messages waits for the consumer; when it is full the
 * oldest (or, with `drop: 'drop-newest'`, the arriving) message is dropped
 * and counted in `dropped`: a slow consumer never grows memory without
 * bound, and never stalls the session for everyone else. The iteration ends
 * when the session closes, or when the consumer breaks out of its
 * `for await` (which calls `return()`).
 *
 * ```ts
 * await session.subscribe('sensors/#', { qos: 1 });
 * for await (const m of session.messages('sensors/#')) {
 *   console.log(m.topic, m.payload.toString());
 * }
 * ```
 */
export class MessageStream<T extends Message = Message> implements AsyncIterableIterator<T> {
  /** Messages dropped because the consumer was too slow. */
  dropped = 0;
  /** Messages that reached the stream (read, waiting or dropped). */
  received = 0;
  /** The topic filter messages must match to reach the stream; undefined for every message. */
  readonly filter: string | undefined;

  private readonly ring: (T | undefined)[];
  private head = 0;
  private count = 0;
  /** Callers of next() waiting for a message, oldest first (almost always none or one). */
  private readonly waiters = new Fifo<(r: IteratorResult<T>) => void>();
  private done = false;
  private readonly detach: (stream: MessageStream<T>) => void;
  private readonly dropNewest: boolean;
  /** Ends the `process` span of the message the consumer holds (at its next `next()` or `return()`). */
  private endSpan: (() => void) | undefined = undefined;
  /** Told of each message dropped (the session's log counts them). */
  private readonly onDrop: (() => void) | undefined;

  static {
    construct = (filter, capacity, detach, drop, onDrop) =>
      new MessageStream(filter, capacity, detach, drop, onDrop);
  }

  /** Made by the session ({@link createMessageStream}) or a subclass (the manager's `RouteStream`). */
  protected constructor(
    filter: string | undefined,
    capacity: number,
    detach: (stream: MessageStream<T>) => void,
    drop: DropPolicy = 'drop-oldest',
    onDrop?: () => void,
  ) {
    this.filter = filter;
    this.ring = new Array(capacity).fill(undefined);
    this.detach = detach;
    this.dropNewest = drop === 'drop-newest';
    this.onDrop = onDrop;
  }

  /** True once the iteration ended (closed, or the consumer stopped). */
  get ended(): boolean {
    return this.done;
  }

  /** Messages waiting to be read. */
  get size(): number {
    return this.count;
  }

  /**
   * Delivers a message to the stream (the session calls this as messages arrive; it does nothing
   * once the stream ended).
   */
  push(msg: T): void {
    if (this.done) return;
    this.received++;
    if (this.waiters.length !== 0) {
      (this.waiters.shift() as (r: IteratorResult<T>) => void)({ value: this.handOut(msg), done: false });
      return;
    }
    const cap = this.ring.length;
    if (this.count === cap) {
      if (this.dropNewest) {
        this.dropped++;
        this.onDrop?.();
        return;
      }
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % cap;
      this.count--;
      this.dropped++;
      this.onDrop?.();
    }
    this.ring[(this.head + this.count) % cap] = msg;
    this.count++;
  }

  /** Ends the iteration: buffered messages are still read, then `done`. */
  end(): void {
    if (this.done) return;
    this.done = true;
    if (this.endSpan !== undefined) this.closeSpan(); // a consumer that never asks again
    for (const w of this.waiters.drain()) w({ value: undefined, done: true });
  }

  /**
   * The next message: a buffered one at once, otherwise the next to arrive; `done` once the stream
   * ended and its buffer is empty.
   */
  next(): Promise<IteratorResult<T>> {
    if (this.endSpan !== undefined) this.closeSpan();
    if (this.count > 0) {
      const msg = this.ring[this.head] as T;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.ring.length;
      this.count--;
      return Promise.resolve({ value: this.handOut(msg), done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => {
      this.waiters.push(resolve);
    });
  }

  /**
   * Stops the iteration: drops the buffered messages, ends the stream and detaches it from the
   * session (`for await` calls it on `break`).
   */
  return(): Promise<IteratorResult<T>> {
    if (this.endSpan !== undefined) this.closeSpan();
    this.count = 0;
    this.ring.fill(undefined);
    this.end();
    this.detach(this);
    return Promise.resolve({ value: undefined, done: true });
  }

  /** `msg`, given to the consumer: when traced, its `process` span starts (and lasts until the next call). */
  private handOut(msg: T): T {
    const tracer = tracerOfMessage(msg);
    if (tracer !== undefined) {
      // two next() calls waiting at once: the first message is handed out too, its span ends here
      if (this.endSpan !== undefined) this.closeSpan();
      this.endSpan = tracer.delivered(msg as never, this.filter);
    }
    return msg;
  }

  private closeSpan(): void {
    const end = this.endSpan as () => void;
    this.endSpan = undefined;
    end();
  }

  /** The stream itself: it is its own iterator, so it can be iterated once. */
  [Symbol.asyncIterator](): this {
    return this;
  }
}

/**
 * A new stream of `capacity` messages for `filter` (undefined: every
 * message); `detach` runs when the consumer stops (`return()`).
 */
export function createMessageStream<T extends Message = Message>(
  filter: string | undefined,
  capacity: number,
  detach: (stream: MessageStream<T>) => void,
  drop?: DropPolicy,
  onDrop?: () => void,
): MessageStream<T> {
  return construct(filter, capacity, detach, drop, onDrop);
}
