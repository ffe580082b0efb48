/**
 * `session.queue(topic, options)`: a FIFO of messages published at most
 * `rate` per second (device data, up to about 100 messages a second).
 *
 * `push()` rejects at once a message larger than `maxMessageBytes`
 * (`InvalidArgumentError`); when the queue holds `capacity` messages it
 * waits up to `enqueueTimeout` ms for room and then rejects with
 * `TimeoutError`. Otherwise it resolves when the message is published
 * (acknowledged at QoS 1/2) and rejects with the publish's error: failures
 * reach the caller. While the session is not connected the queue holds its
 * messages and starts again when the session is ready. One timer per
 * channel, running only while messages wait. When the session closes, the
 * messages still queued are rejected with `ClosedError`.
 */

import type { PublishProperties, QoS } from '../codec/types.js';
import { ClosedError, InvalidArgumentError, TimeoutError } from '../core/errors.js';
import { checkOptions } from '../core/schema.js';
import { withUserPropertyPairs } from '../core/user-properties.js';
import { topicOption } from '../core/validate.js';
import type { Session } from '../session/session.js';
import type { PublishPropertiesInit, PublishResult } from '../session/types.js';
import { QUEUE_OPTIONS } from './schema.js';

/** Options of `session.queue(topic, options)`; see {@link QueueChannel}. */
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

interface Entry {
  payload: Uint8Array;
  resolve(r: PublishResult): void;
  reject(e: Error): void;
}

interface RoomWaiter {
  entry: Entry;
  timer: NodeJS.Timeout;
}

/**
 * A FIFO of messages published at most `rate` per second (device data, up
 * to about 100 messages a second). Made by `session.queue(topic, options)`.
 *
 * {@link QueueChannel.push} rejects at once a message larger than
 * `maxMessageBytes` ({@link InvalidArgumentError}); when the queue holds
 * `capacity` messages it waits up to `enqueueTimeout` ms for room and then
 * rejects with {@link TimeoutError}. Otherwise it resolves when the message
 * is published (acknowledged at QoS 1/2) and rejects with the publish's
 * error. While the session is not connected the queue holds its messages
 * and starts again when the session is ready. When the session closes, the
 * messages still queued are rejected with {@link ClosedError}.
 *
 * @throws {@link InvalidArgumentError} from the constructor (and
 *   `session.queue`) when the topic or an option is not valid.
 */
export class QueueChannel {
  /** Topic name every message is published to. */
  readonly topic: string;
  private readonly rate: number;
  private readonly maxMessageBytes: number;
  private readonly capacity: number;
  private readonly enqueueTimeout: number;
  private readonly qos: QoS;
  /** `options.properties` with its user properties as pairs: converted once, sent with every message. */
  private readonly properties: PublishProperties | undefined;
  private queue: Entry[] = [];
  private head = 0;
  private roomWaiters: RoomWaiter[] = [];
  private timer: NodeJS.Timeout | undefined = undefined;
  /** Messages that may still go out in the current second (a token bucket refilled continuously). */
  private tokens: number;
  private lastRefill = 0;
  private inflight = 0;
  private closed = false;
  private readonly onReady = (): void => this.pump();
  private readonly removeHook: () => void;
  private readonly counters = { pushed: 0, rejected: 0, published: 0, failed: 0 };

  constructor(
    private readonly session: Session,
    topic: string,
    private readonly options: QueueOptions = {},
  ) {
    this.topic = topicOption(topic, 'topic');
    checkOptions(options, QUEUE_OPTIONS, 'options');
    const p = options.properties;
    this.properties = p === undefined ? undefined : withUserPropertyPairs(p, 'options.properties');
    this.rate = options.rate ?? 100;
    this.maxMessageBytes = options.maxMessageBytes ?? 4096;
    this.capacity = options.capacity ?? 100_000;
    this.enqueueTimeout = options.enqueueTimeout ?? 100;
    this.qos = options.qos ?? 1;
    this.tokens = 1;
    this.lastRefill = Date.now();
    session.on('ready', this.onReady);
    // the session is closing: what has not gone out is refused, not left waiting
    this.removeHook = session.beforeClose(() => this.close({ drop: true }));
  }

  /** Queues a message; resolves when it is published (see {@link QueueChannel} for the errors). */
  push(payload: string | Uint8Array): Promise<PublishResult> {
    if (this.closed) return this.refuse(new ClosedError('the queue channel is closed'));
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : payload;
    if (!(bytes instanceof Uint8Array))
      return this.refuse(new InvalidArgumentError('payload', 'must be a string or bytes'));
    if (bytes.length > this.maxMessageBytes) {
      return this.refuse(
        new InvalidArgumentError(
          'payload',
          `${bytes.length} bytes is more than maxMessageBytes (${this.maxMessageBytes})`,
        ),
      );
    }
    return new Promise<PublishResult>((resolve, reject) => {
      const entry: Entry = { payload: bytes, resolve, reject };
      if (this.size < this.capacity) {
        this.enqueue(entry);
        return;
      }
      if (this.enqueueTimeout === 0) {
        this.counters.rejected++;
        reject(new TimeoutError(`the queue for '${this.topic}' is full (${this.capacity} messages)`));
        return;
      }
      const waiter: RoomWaiter = {
        entry,
        timer: setTimeout(() => {
          this.roomWaiters = this.roomWaiters.filter((w) => w !== waiter);
          this.counters.rejected++;
          reject(
            new TimeoutError(
              `the queue for '${this.topic}' stayed full (${this.capacity} messages) for ${this.enqueueTimeout} ms`,
            ),
          );
        }, this.enqueueTimeout),
      };
      this.roomWaiters.push(waiter);
    });
  }

  /** Messages waiting. */
  get size(): number {
    return this.queue.length - this.head;
  }

  /** Counters, and what is queued and in flight now, as a new object. */
  metrics(): QueueMetrics {
    return { ...this.counters, queued: this.size, inflight: this.inflight };
  }

  /**
   * Stops taking messages; what is queued is published as fast as the rate
   * allows while the session is connected, and the promise resolves when
   * the queue is empty. `{ drop: true }` rejects what waits with `ClosedError` instead.
   */
  async close(options: { drop?: boolean } = {}): Promise<void> {
    this.closed = true;
    this.removeHook();
    for (const w of this.roomWaiters) {
      clearTimeout(w.timer);
      w.entry.reject(new ClosedError('the queue channel is closed'));
    }
    this.roomWaiters = [];
    if (options.drop === true || this.session.state !== 'connected') {
      const left = this.queue.slice(this.head);
      this.queue = [];
      this.head = 0;
      for (const e of left)
        e.reject(new ClosedError('the queue channel was closed before this message was sent'));
    }
    while (this.size > 0 && this.session.state === 'connected') {
      await new Promise((resolve) => setTimeout(resolve, Math.ceil(1000 / this.rate)));
    }
    // the session went away meanwhile: what is left will not be sent by this channel
    const left = this.queue.slice(this.head);
    this.queue = [];
    this.head = 0;
    for (const e of left)
      e.reject(new ClosedError('the queue channel was closed before this message was sent'));
    this.stopTimer();
    this.session.off('ready', this.onReady);
  }

  private refuse(err: Error): Promise<PublishResult> {
    this.counters.rejected++;
    return Promise.reject(err);
  }

  private enqueue(entry: Entry): void {
    this.counters.pushed++;
    this.queue.push(entry);
    this.pump();
  }

  /** Publishes what the rate allows now, and arms the timer for the rest. */
  private pump(): void {
    if (this.size === 0 || this.session.state !== 'connected') {
      this.stopTimer();
      return;
    }
    const now = Date.now();
    this.tokens = Math.min(
      Math.max(1, this.rate / 10),
      this.tokens + ((now - this.lastRefill) * this.rate) / 1000,
    );
    this.lastRefill = now;
    while (this.tokens >= 1 && this.size > 0) {
      this.tokens -= 1;
      this.send(this.take());
    }
    this.admitWaiting();
    if (this.size > 0 && this.timer === undefined) {
      const wait = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, wait);
    }
  }

  private take(): Entry {
    const e = this.queue[this.head];
    this.queue[this.head++] = undefined as unknown as Entry;
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return e;
  }

  private admitWaiting(): void {
    while (this.roomWaiters.length > 0 && this.size < this.capacity) {
      const w = this.roomWaiters.shift() as RoomWaiter;
      clearTimeout(w.timer);
      this.counters.pushed++;
      this.queue.push(w.entry);
    }
  }

  private send(e: Entry): void {
    const o = this.options;
    this.inflight++;
    this.session
      .publish(this.topic, e.payload, { qos: this.qos, retain: o.retain, properties: this.properties })
      .then(
        (r) => {
          this.inflight--;
          this.counters.published++;
          e.resolve(r);
        },
        (err: Error) => {
          this.inflight--;
          this.counters.failed++;
          e.reject(err);
        },
      );
  }

  private stopTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }
}
