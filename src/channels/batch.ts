/**
 * `session.batch(topic, options)`: items accumulated and published as one
 * message every `interval` ms, or as soon as the next item would make the
 * message larger than `maxBytes` (device state reported about once a
 * second). An item larger than `maxBytes` on its own is refused at once.
 * `push()` resolves when the message carrying the item is published
 * (acknowledged at QoS 1/2) and rejects with that publish's error. The
 * batch is flushed when the session closes (or on `flush()`/`close()`);
 * while the session reconnects, batches wait in its offline queue like any
 * publish.
 */

import type { PublishProperties, QoS } from '../codec/types.js';
import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import { checkOptions } from '../core/schema.js';
import { withUserPropertyPairs } from '../core/user-properties.js';
import { topicOption } from '../core/validate.js';
import type { Session } from '../session/session.js';
import type { PublishPropertiesInit } from '../session/types.js';
import { BATCH_OPTIONS } from './schema.js';

/**
 * How {@link BatchChannel} joins a batch's items into one payload: `'json-array'`
 * (`[a,b,c]`, each item JSON text), `'concat'` (the bytes end to end), or a
 * function given the items' bytes in push order that returns the payload.
 */
export type Combine = 'json-array' | 'concat' | ((items: Buffer[]) => Uint8Array);

/** Options of `session.batch(topic, options)`; see {@link BatchChannel}. */
export interface BatchOptions {
  /** ms between publishes of a non-empty batch. @default 1000 */
  interval?: number;
  /** Largest message, bytes. @default 65536 */
  maxBytes?: number;
  /**
   * How items become one payload: `'json-array'` (a value is serialised
   * with `JSON.stringify`; a string or bytes is taken as JSON text already;
   * joined into `[a,b]`), `'concat'` (bytes end to end), or a function.
   * @default 'json-array'
   */
  combine?: Combine;
  /** @default 1 */
  qos?: QoS;
  /** Publish each batch as a retained message. @default false */
  retain?: boolean;
  /** MQTT 5 properties sent with every batch message (e.g. `contentType`; user properties as pairs or MQTT.js's object). */
  properties?: PublishPropertiesInit;
}

/** Counters of a {@link BatchChannel} since it was created, from {@link BatchChannel.metrics}. */
export interface BatchMetrics {
  /** Items accepted. */
  pushed: number;
  /** Items refused (too large, closed). */
  rejected: number;
  /** Messages published (acknowledged). */
  published: number;
  /** Messages whose publish failed. */
  failed: number;
  /** Items waiting in the current batch. */
  pending: number;
  /** Bytes of the items waiting in the current batch, without the `[`, `,` and `]` of `'json-array'`. */
  pendingBytes: number;
}

interface Waiter {
  resolve(): void;
  reject(e: Error): void;
}

/**
 * Items accumulated and published as one message every `interval` ms, or as
 * soon as the next item would make the message larger than `maxBytes`
 * (device state reported about once a second). Made by
 * `session.batch(topic, options)`.
 *
 * {@link BatchChannel.push} resolves when the message carrying the item is
 * published (acknowledged at QoS 1/2) and rejects with that publish's error.
 * An item larger than `maxBytes` on its own is refused at once with
 * {@link InvalidArgumentError}. The batch is flushed when the session closes
 * (or on {@link BatchChannel.flush} / {@link BatchChannel.close}); while the
 * session reconnects, batches wait in its offline queue like any publish.
 *
 * @throws {@link InvalidArgumentError} from the constructor (and
 *   `session.batch`) when the topic or an option is not valid.
 */
export class BatchChannel {
  /** Topic name every batch is published to. */
  readonly topic: string;
  private readonly interval: number;
  private readonly maxBytes: number;
  private readonly combine: Combine;
  private readonly qos: QoS;
  /** `options.properties` with its user properties as pairs: converted once, sent with every message. */
  private readonly properties: PublishProperties | undefined;
  private items: Buffer[] = [];
  private waiters: Waiter[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined = undefined;
  private closed = false;
  private readonly removeHook: () => void;
  private readonly counters = { pushed: 0, rejected: 0, published: 0, failed: 0 };

  constructor(
    private readonly session: Session,
    topic: string,
    private readonly options: BatchOptions = {},
  ) {
    this.topic = topicOption(topic, 'topic');
    checkOptions(options, BATCH_OPTIONS, 'options');
    const p = options.properties;
    this.properties = p === undefined ? undefined : withUserPropertyPairs(p, 'options.properties');
    this.interval = options.interval ?? 1000;
    this.maxBytes = options.maxBytes ?? 65_536;
    this.combine = options.combine ?? 'json-array';
    this.qos = options.qos ?? 1;
    this.removeHook = session.beforeClose(() => this.close());
  }

  /**
   * Adds an item: a string or bytes, or (for `'json-array'`) any value,
   * sent as JSON. Resolves when its message is published. Bytes are not
   * copied: leave them unchanged until then.
   */
  push(item: unknown): Promise<void> {
    if (this.closed) return this.refuse(new ClosedError('the batch channel is closed'));
    let bytes: Buffer;
    if (typeof item === 'string') bytes = Buffer.from(item);
    else if (item instanceof Uint8Array) bytes = Buffer.from(item.buffer, item.byteOffset, item.byteLength);
    else if (this.combine === 'json-array') {
      let json: string | undefined;
      try {
        json = JSON.stringify(item);
      } catch (err) {
        return this.refuse(
          new InvalidArgumentError('item', `cannot be sent as JSON: ${(err as Error).message}`),
        );
      }
      bytes = Buffer.from(json ?? 'null');
    } else return this.refuse(new InvalidArgumentError('item', 'must be a string or bytes for this combine'));
    const alone = bytes.length + this.bytesOfEmpty();
    if (alone > this.maxBytes) {
      return this.refuse(
        new InvalidArgumentError(
          'item',
          `${bytes.length} bytes do not fit in a batch of at most ${this.maxBytes} bytes`,
        ),
      );
    }
    if (this.items.length > 0 && this.sizeWith(bytes.length, this.items.length + 1) > this.maxBytes)
      this.flush().catch(noop); // its items' promises carry a failure
    this.counters.pushed++;
    this.items.push(bytes);
    this.bytes += bytes.length;
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (this.timer === undefined) this.timer = setTimeout(() => this.flush().catch(noop), this.interval);
    return done;
  }

  /** Publishes the current batch now (nothing when empty); resolves when it is published. */
  flush(): Promise<void> {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.items.length === 0) return Promise.resolve();
    const items = this.items;
    const waiters = this.waiters;
    this.items = [];
    this.waiters = [];
    this.bytes = 0;
    let payload: Uint8Array;
    try {
      payload = this.join(items);
    } catch (err) {
      this.counters.failed++;
      for (const w of waiters) w.reject(err as Error);
      return Promise.reject(err);
    }
    const o = this.options;
    return this.session
      .publish(this.topic, payload, { qos: this.qos, retain: o.retain, properties: this.properties })
      .then(
        () => {
          this.counters.published++;
          for (const w of waiters) w.resolve();
        },
        (err: Error) => {
          this.counters.failed++;
          for (const w of waiters) w.reject(err);
          throw err;
        },
      );
  }

  /** Flushes what is left and refuses new items. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.removeHook();
    await this.flush().catch(() => undefined);
  }

  /** Counters and what waits in the current batch, as a new object. */
  metrics(): BatchMetrics {
    return { ...this.counters, pending: this.items.length, pendingBytes: this.bytes };
  }

  private refuse(err: Error): Promise<void> {
    this.counters.rejected++;
    return Promise.reject(err);
  }

  private bytesOfEmpty(): number {
    return this.combine === 'json-array' ? 2 : 0;
  }

  /** The payload size of the current batch with `extra` bytes more, as `count` items. */
  private sizeWith(extra: number, count: number): number {
    const data = this.bytes + extra;
    // '[' + items joined by ',' + ']'
    return this.combine === 'json-array' ? data + 2 + Math.max(0, count - 1) : data;
  }

  private join(items: Buffer[]): Uint8Array {
    const c = this.combine;
    if (c === 'concat') return Buffer.concat(items);
    if (c === 'json-array') {
      const parts: Buffer[] = [OPEN];
      items.forEach((b, i) => {
        if (i > 0) parts.push(COMMA);
        parts.push(b);
      });
      parts.push(CLOSE);
      return Buffer.concat(parts);
    }
    const out = c(items);
    if (!(out instanceof Uint8Array)) throw new InvalidArgumentError('options.combine', 'must return bytes');
    return out;
  }
}

const noop = (): void => {};
const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');
