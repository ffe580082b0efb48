/**
 * `LazyStore`: a `SessionStore` made at its first use. A fleet file's Redis
 * store is one, because `RedisStore` connects in its constructor and
 * loading a configuration should not connect anywhere (nor load ioredis).
 *
 * Every method that needs the store is one of two generated delegates (see
 * `WRITES` and `READS`); `flush()` and `close()` do not make it, since a
 * store never made has nothing to flush or close.
 */
import { ClosedError } from '../core/errors.js';
import type { SessionStore } from '../store/types.js';

/** The methods that make the store at their first call and pass the call on; they throw as the store's do. */
const WRITES = [
  'putMessage',
  'deleteMessage',
  'addIncomingQoS2',
  'deleteIncomingQoS2',
  'putSubscription',
  'deleteSubscription',
] as const satisfies readonly (keyof SessionStore)[];

/** The same for the methods returning a promise: what they throw (`ClosedError`, ...) is a rejection. */
const READS = ['load', 'clear'] as const satisfies readonly (keyof SessionStore)[];

type Delegated = (typeof WRITES)[number] | (typeof READS)[number];

/** Every delegated method takes one or two arguments. */
type Delegate = (a: unknown, b: unknown) => unknown;

/** The delegated methods, which the class's static block defines. */
export interface LazyStore extends Pick<SessionStore, Delegated> {}

/** A `SessionStore` that `make()` creates at the first call that needs one. */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: the merged interface's methods are defined in the static block
export class LazyStore implements SessionStore {
  readonly durable: boolean;
  readonly #make: () => SessionStore;
  /** Named in the `ClosedError` of a call after `close()`. */
  readonly #what: string;
  #store: SessionStore | undefined = undefined;
  #closed = false;

  constructor(make: () => SessionStore, options: { durable: boolean; what: string }) {
    this.#make = make;
    this.durable = options.durable;
    this.#what = options.what;
  }

  static {
    // two fixed parameters rather than a rest array: putMessage runs for every message
    const define = (name: Delegated, delegate: (this: LazyStore, a: unknown, b: unknown) => unknown) =>
      Object.defineProperty(LazyStore.prototype, name, {
        value: delegate,
        writable: true,
        configurable: true,
      });
    for (const name of WRITES) {
      define(name, function (a, b) {
        return (this.#get() as unknown as Record<Delegated, Delegate>)[name](a, b);
      });
    }
    for (const name of READS) {
      define(name, function (a, b) {
        try {
          return (this.#get() as unknown as Record<Delegated, Delegate>)[name](a, b);
        } catch (err) {
          return Promise.reject(err);
        }
      });
    }
  }

  #get(): SessionStore {
    if (this.#store === undefined) {
      if (this.#closed) throw new ClosedError(`The ${this.#what} is closed`);
      this.#store = this.#make();
    }
    return this.#store;
  }

  async flush(clientId?: string): Promise<void> {
    // nothing was ever written when there is no store yet
    if (this.#store !== undefined) await this.#store.flush(clientId);
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#store !== undefined) await this.#store.close();
  }
}
