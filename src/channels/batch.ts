/**
 * `BatchChannel`: items accumulated and published as one message every
 * `interval` ms, or as soon as the next item would make the message larger
 * than `maxBytes`.
 *
 * How it works: the current batch is a list of item buffers, their byte
 * count, and one deferred that every push of the batch returns, settled
 * with the batch's publish: nothing per item but its buffer. The interval
 * is one `setTimeout` per channel, armed by the first item of a batch and
 * cleared by a flush (not the shared coarse timer: an interval may be
 * shorter than its 100 ms resolution, and batches go out on time).
 */

import type { QoS } from '../codec/types.js';
import { type Deferred, deferred } from '../core/deferred.js';
import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import type { PublishPropertiesInit, Session } from '../session/index.js';
import { type PublishTarget, publishTarget } from './publish-target.js';
import { BATCH_OPTIONS } from './schema.js';

/**
 * How {@link BatchChannel} joins a batch's items into one payload: `'json-array'`
 * (`[a,b,c]`, each item JSON text), `'concat'` (the bytes end to end), or a
 * function given the items' bytes in push order that returns the payload.
 */
export type Combine = 'json-array' | 'concat' | ((items: Buffer[]) => Uint8Array);

/** Options of `new BatchChannel(session, topic, options)`; see {@link BatchChannel}. */
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

/**
 * Items accumulated and published as one message every `interval` ms, or as
 * soon as the next item would make the message larger than `maxBytes`
 * (device state reported about once a second).
 *
 * ```ts
 * const state = new BatchChannel(session, 'devices/42/state', { interval: 1000 });
 * await state.push({ temperature: 21.5 }); // resolves once its batch is published
 * ```
 *
 * {@link BatchChannel.push} resolves when the message carrying the item is
 * published (acknowledged at QoS 1/2) and rejects with that publish's error.
 * An item larger than `maxBytes` on its own is refused at once with
 * {@link InvalidArgumentError}. The batch is flushed when the session closes
 * (or on {@link BatchChannel.flush} / {@link BatchChannel.close}); while the
 * session reconnects, batches wait in its offline queue like any publish.
 *
 * @throws {@link InvalidArgumentError} from the constructor when the topic
 *   or an option is not valid.
 */
export class BatchChannel {
  /** Topic name every batch is published to. */
  readonly topic: string;
  readonly #session: Session;
  readonly #target: PublishTarget;
  readonly #interval: number;
  readonly #maxBytes: number;
  readonly #combine: Combine;
  #items: Buffer[] = [];
  /** What the pushes of the current batch return; made by its first item. */
  #done: Deferred<void> | undefined = undefined;
  #bytes = 0;
  #timer: NodeJS.Timeout | undefined = undefined;
  #closed = false;
  readonly #removeHook: () => void;
  readonly #counters = { pushed: 0, rejected: 0, published: 0, failed: 0 };

  constructor(session: Session, topic: string, options: BatchOptions = {}) {
    this.#target = publishTarget(topic, options, BATCH_OPTIONS);
    this.topic = this.#target.topic;
    this.#session = session;
    this.#interval = options.interval ?? 1000;
    this.#maxBytes = options.maxBytes ?? 65_536;
    this.#combine = options.combine ?? 'json-array';
    this.#removeHook = session.beforeClose(() => this.close());
  }

  /**
   * Adds an item: a string or bytes, or (for `'json-array'`) any value,
   * sent as JSON. Resolves when its message is published. Bytes are not
   * copied: leave them unchanged until then.
   */
  push(item: unknown): Promise<void> {
    if (this.#closed) return this.#refuse(new ClosedError('the batch channel is closed'));
    let bytes: Buffer;
    if (typeof item === 'string') bytes = Buffer.from(item);
    else if (item instanceof Uint8Array) bytes = Buffer.from(item.buffer, item.byteOffset, item.byteLength);
    else if (this.#combine === 'json-array') {
      let json: string | undefined;
      try {
        json = JSON.stringify(item);
      } catch (err) {
        return this.#refuse(
          new InvalidArgumentError('item', `cannot be sent as JSON: ${(err as Error).message}`),
        );
      }
      bytes = Buffer.from(json ?? 'null');
    } else
      return this.#refuse(new InvalidArgumentError('item', 'must be a string or bytes for this combine'));
    const alone = bytes.length + this.#bytesOfEmpty();
    if (alone > this.#maxBytes) {
      return this.#refuse(
        new InvalidArgumentError(
          'item',
          `${bytes.length} bytes do not fit in a batch of at most ${this.#maxBytes} bytes`,
        ),
      );
    }
    if (this.#items.length > 0 && this.#sizeWith(bytes.length, this.#items.length + 1) > this.#maxBytes)
      this.flush().catch(noop); // its items' promises carry a failure
    this.#counters.pushed++;
    this.#items.push(bytes);
    this.#bytes += bytes.length;
    this.#done ??= deferred();
    if (this.#timer === undefined) this.#timer = setTimeout(flushOnTimer, this.#interval, this);
    return this.#done.promise;
  }

  /** Publishes the current batch now (nothing when empty); resolves when it is published. */
  flush(): Promise<void> {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#items.length === 0) return Promise.resolve();
    const items = this.#items;
    const done = this.#done as Deferred<void>;
    this.#items = [];
    this.#done = undefined;
    this.#bytes = 0;
    let payload: Uint8Array;
    try {
      payload = this.#join(items);
    } catch (err) {
      this.#counters.failed++;
      done.reject(err);
      return Promise.reject(err);
    }
    return this.#session.publish(this.topic, payload, this.#target.options).then(
      () => {
        this.#counters.published++;
        done.resolve();
      },
      (err: Error) => {
        this.#counters.failed++;
        done.reject(err);
        throw err;
      },
    );
  }

  /** Flushes what is left and refuses new items. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#removeHook();
    await this.flush().catch(() => undefined);
  }

  /** Counters and what waits in the current batch, as a new object. */
  metrics(): BatchMetrics {
    return { ...this.#counters, pending: this.#items.length, pendingBytes: this.#bytes };
  }

  #refuse(err: Error): Promise<void> {
    this.#counters.rejected++;
    return Promise.reject(err);
  }

  #bytesOfEmpty(): number {
    return this.#combine === 'json-array' ? 2 : 0;
  }

  /** The payload size of the current batch with `extra` bytes more, as `count` items. */
  #sizeWith(extra: number, count: number): number {
    const data = this.#bytes + extra;
    // '[' + items joined by ',' + ']'
    return this.#combine === 'json-array' ? data + 2 + Math.max(0, count - 1) : data;
  }

  #join(items: Buffer[]): Uint8Array {
    const c = this.#combine;
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

/** The interval is over: publish the batch (its pushes carry a failure). */
function flushOnTimer(channel: BatchChannel): void {
  channel.flush().catch(noop);
}

const noop = (): void => {};
const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');
