/**
 * `QueueChannel`: a FIFO of messages published at most `rate` per second.
 *
 * How it works: accepted messages wait in a `Fifo`. A token bucket (refilled
 * continuously, holding up to `rate / 10`) says how many may go out now;
 * `pump()` sends those and arms the channel's one `setTimeout` for when the
 * next token is due. The timer runs only while messages wait and the
 * session is connected; the session's `ready` event starts the pump again.
 *
 * A push that finds the queue full waits for room: it becomes a
 * `RoomWaiter`, one object that is both the queue entry it will be and its
 * entry in the shared coarse timer (`enqueueTimeout`), and waits in a second
 * `Fifo`. Room admits waiters oldest first and takes them out of the timer
 * (O(1)); a waiter that times out is marked and skipped when it reaches the
 * head (all waiters have the same timeout, so they time out in order and
 * leave from the head at once). No closure or timer per message.
 *
 * `close()` returns a promise resolved when the queue is empty or the
 * session went away (the pump sees it), not a polling loop.
 */

import type { QoS } from '../codec/types.js';
import { type Deferred, deferred } from '../core/deferred.js';
import { ClosedError, InvalidArgumentError, TimeoutError } from '../core/errors.js';
import { Fifo } from '../core/fifo.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import { type PublishPropertiesInit, type PublishResult, type Session, tracerOf } from '../session/index.js';
import { type PublishTarget, publishTarget } from './publish-target.js';
import { QUEUE_OPTIONS } from './schema.js';

/** Options of `new QueueChannel(session, topic, options)`; see {@link QueueChannel}. */
export interface QueueOptions {
  /** Messages per second at most. @default 100 */
  rate?: number;
  /** Largest message, bytes. @default 4096 */
  maxMessageBytes?: number;
  /** Messages that may wait. @default 100000 */
  capacity?: number;
  /** ms a `push()` may wait for room when the queue is full. @default 100 */
  enqueueTimeout?: number;
  /** @default 1 */
  qos?: QoS;
  /** Publish each message as a retained message. @default false */
  retain?: boolean;
  /** MQTT 5 properties sent with every message of the queue (user properties as pairs or MQTT.js's object). */
  properties?: PublishPropertiesInit;
}

/** Counters of a {@link QueueChannel} since it was created, from {@link QueueChannel.metrics}. */
export interface QueueMetrics {
  /** Messages accepted into the queue. */
  pushed: number;
  /** Refused: too large, no room in time, closed. */
  rejected: number;
  /** Messages published (acknowledged at QoS 1/2). */
  published: number;
  /** Messages whose publish failed (the push rejected with the publish's error). */
  failed: number;
  /** Waiting to be published. */
  queued: number;
  /** Published and not yet acknowledged. */
  inflight: number;
}

/** A message in the queue and its push's promise. */
interface Entry {
  payload: Uint8Array;
  resolve(r: PublishResult): void;
  reject(e: Error): void;
  /** The trace context `push()` was called in, when traced: the publish, made later, is its child. */
  trace?: unknown;
}

/** A push waiting for room: the entry it becomes once admitted, and its `enqueueTimeout` in the shared timer. */
class RoomWaiter extends TimerEntry implements Entry {
  /** Timed out (and rejected): skipped when it reaches the head of the waiters. */
  expired = false;
  trace: unknown = undefined;

  constructor(
    readonly channel: QueueChannel,
    readonly payload: Uint8Array,
    readonly resolve: (r: PublishResult) => void,
    readonly reject: (e: Error) => void,
  ) {
    super();
  }

  expire(): void {
    roomTimedOut(this.channel, this);
  }
}

/** Lets a waiter reach its channel's private side (set in `QueueChannel`'s static block). */
let roomTimedOut: (channel: QueueChannel, waiter: RoomWaiter) => void;

/** Taking messages; closing (draining what is queued); closed (the drain is over). */
const OPEN = 0;
const CLOSING = 1;
const CLOSED = 2;

/**
 * A FIFO of messages published at most `rate` per second (device data, up
 * to about 100 messages a second).
 *
 * ```ts
 * const data = new QueueChannel(session, 'devices/42/data', { rate: 100, capacity: 10_000 });
 * await data.push(JSON.stringify(reading)); // resolves once published
 * ```
 *
 * {@link QueueChannel.push} rejects at once a message larger than
 * `maxMessageBytes` ({@link InvalidArgumentError}); when the queue holds
 * `capacity` messages it waits up to `enqueueTimeout` ms for room and then
 * rejects with {@link TimeoutError}. Otherwise it resolves when the message
 * is published (acknowledged at QoS 1/2) and rejects with the publish's
 * error. While the session is not connected the queue holds its messages
 * and starts again when the session is ready. One timer per channel,
 * running only while messages wait. When the session closes, the messages
 * still queued are rejected with {@link ClosedError}.
 *
 * @throws {@link InvalidArgumentError} from the constructor when the topic
 *   or an option is not valid.
 */
export class QueueChannel {
  static {
    roomTimedOut = (channel, waiter) => channel.#roomTimedOut(waiter);
  }

  /** Topic name every message is published to. */
  readonly topic: string;
  readonly #session: Session;
  readonly #target: PublishTarget;
  readonly #rate: number;
  readonly #maxMessageBytes: number;
  readonly #capacity: number;
  readonly #enqueueTimeout: number;
  readonly #queue = new Fifo<Entry>();
  /** Pushes waiting for room, oldest first (some may have expired: see {@link RoomWaiter.expired}). */
  readonly #waiters = new Fifo<RoomWaiter>();
  #timer: NodeJS.Timeout | undefined = undefined;
  /** Messages that may still go out in the current second (a token bucket refilled continuously). */
  #tokens = 1;
  #lastRefill: number;
  #inflight = 0;
  #phase = OPEN;
  /** Resolved when a closing queue is drained (made by the first `close()`). */
  #drained: Deferred<void> | undefined = undefined;
  readonly #onReady = (): void => this.#pump();
  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#pump();
  };
  readonly #removeHook: () => void;
  readonly #counters = { pushed: 0, rejected: 0, published: 0, failed: 0 };

  constructor(session: Session, topic: string, options: QueueOptions = {}) {
    this.#target = publishTarget(topic, options, QUEUE_OPTIONS);
    this.topic = this.#target.topic;
    this.#session = session;
    this.#rate = options.rate ?? 100;
    this.#maxMessageBytes = options.maxMessageBytes ?? 4096;
    this.#capacity = options.capacity ?? 100_000;
    this.#enqueueTimeout = options.enqueueTimeout ?? 100;
    this.#lastRefill = Date.now();
    session.on('ready', this.#onReady);
    // the session is closing: what has not gone out is refused, not left waiting
    this.#removeHook = session.beforeClose(() => this.close({ drop: true }));
  }

  /** Queues a message; resolves when it is published (see {@link QueueChannel} for the errors). */
  push(payload: string | Uint8Array): Promise<PublishResult> {
    if (this.#phase !== OPEN) return this.#refuse(new ClosedError('the queue channel is closed'));
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (!(bytes instanceof Uint8Array))
      return this.#refuse(new InvalidArgumentError('payload', 'must be a string or bytes'));
    if (bytes.length > this.#maxMessageBytes) {
      return this.#refuse(
        new InvalidArgumentError(
          'payload',
          `${bytes.length} bytes is more than maxMessageBytes (${this.#maxMessageBytes})`,
        ),
      );
    }
    if (this.#queue.length >= this.#capacity && this.#enqueueTimeout === 0) {
      return this.#refuse(
        new TimeoutError(`the queue for '${this.topic}' is full (${this.#capacity} messages)`),
      );
    }
    const trace = tracerOf(this.#session)?.active();
    return new Promise<PublishResult>((resolve, reject) => {
      if (this.#queue.length < this.#capacity) {
        this.#enqueue({ payload: bytes, resolve, reject, trace });
        return;
      }
      const waiter = new RoomWaiter(this, bytes, resolve, reject);
      waiter.trace = trace;
      waiter.deadline = Date.now() + this.#enqueueTimeout;
      sharedTimer.add(waiter);
      this.#waiters.push(waiter);
    });
  }

  /** Messages waiting. */
  get size(): number {
    return this.#queue.length;
  }

  /** Counters, and what is queued and in flight now, as a new object. */
  metrics(): QueueMetrics {
    return { ...this.#counters, queued: this.#queue.length, inflight: this.#inflight };
  }

  /**
   * Stops taking messages; what is queued is published as fast as the rate
   * allows while the session is connected, and the promise resolves when
   * the queue is empty (what is left when the session goes away is rejected
   * with `ClosedError`). `{ drop: true }` rejects what waits with
   * `ClosedError` instead.
   */
  close(options: { drop?: boolean } = {}): Promise<void> {
    if (this.#phase === CLOSED) return Promise.resolve();
    if (this.#phase === OPEN) {
      this.#phase = CLOSING;
      this.#drained = deferred();
      this.#removeHook();
      for (let w = this.#waiters.shift(); w !== undefined; w = this.#waiters.shift()) {
        if (w.expired) continue;
        sharedTimer.remove(w);
        w.reject(new ClosedError('the queue channel is closed'));
      }
    }
    const drained = (this.#drained as Deferred<void>).promise;
    if (options.drop === true || this.#session.state !== 'connected') this.#drop();
    // the pump finishes the drain: run it now unless its timer will
    else if (this.#timer === undefined) this.#pump();
    return drained;
  }

  #refuse(err: Error): Promise<PublishResult> {
    this.#counters.rejected++;
    return Promise.reject(err);
  }

  #enqueue(entry: Entry): void {
    this.#counters.pushed++;
    this.#queue.push(entry);
    this.#pump();
  }

  /** Publishes what the rate allows now, and arms the timer for the rest. */
  #pump(): void {
    if (this.#queue.length === 0 || this.#session.state !== 'connected') {
      this.#stopTimer();
      // closing: the queue is empty, or the session went away with messages left
      if (this.#phase === CLOSING) this.#drop();
      return;
    }
    const now = Date.now();
    this.#tokens = Math.min(
      Math.max(1, this.#rate / 10),
      this.#tokens + ((now - this.#lastRefill) * this.#rate) / 1000,
    );
    this.#lastRefill = now;
    while (this.#tokens >= 1 && this.#queue.length > 0) {
      this.#tokens -= 1;
      this.#send(this.#queue.shift() as Entry);
    }
    this.#admitWaiting();
    if (this.#queue.length > 0) {
      if (this.#timer === undefined) {
        const wait = Math.max(1, Math.ceil(((1 - this.#tokens) * 1000) / this.#rate));
        this.#timer = setTimeout(this.#onTimer, wait);
      }
    } else if (this.#phase === CLOSING) {
      this.#finish();
    }
  }

  /** Moves waiters into the queue while there is room, oldest first. */
  #admitWaiting(): void {
    while (this.#waiters.length > 0 && this.#queue.length < this.#capacity) {
      const w = this.#waiters.shift() as RoomWaiter;
      if (w.expired) continue;
      sharedTimer.remove(w);
      this.#counters.pushed++;
      this.#queue.push(w);
    }
  }

  #roomTimedOut(w: RoomWaiter): void {
    w.expired = true;
    // expired waiters leave from the head; one further in leaves when it gets there
    while (this.#waiters.peek()?.expired === true) this.#waiters.shift();
    this.#counters.rejected++;
    w.reject(
      new TimeoutError(
        `the queue for '${this.topic}' stayed full (${this.#capacity} messages) for ${this.#enqueueTimeout} ms`,
      ),
    );
  }

  #send(e: Entry): void {
    this.#inflight++;
    const session = this.#session;
    const tracer = e.trace === undefined ? undefined : tracerOf(session);
    // sent later than pushed, from a timer: traced, in the context of its push()
    const published =
      tracer === undefined
        ? session.publish(this.topic, e.payload, this.#target.options)
        : tracer.runIn(e.trace, () => session.publish(this.topic, e.payload, this.#target.options));
    published.then(
      (r) => {
        this.#inflight--;
        this.#counters.published++;
        e.resolve(r);
      },
      (err: Error) => {
        this.#inflight--;
        this.#counters.failed++;
        e.reject(err);
      },
    );
  }

  /** Closing: rejects what is still queued, then finishes. */
  #drop(): void {
    for (let e = this.#queue.shift(); e !== undefined; e = this.#queue.shift())
      e.reject(new ClosedError('the queue channel was closed before this message was sent'));
    this.#finish();
  }

  /** The drain is over: stop the timer, leave the session, resolve `close()`. */
  #finish(): void {
    this.#phase = CLOSED;
    this.#stopTimer();
    this.#session.off('ready', this.#onReady);
    this.#drained?.resolve();
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}
