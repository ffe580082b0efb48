/**
 * `SafeEmitter`: the event emitter of mqttkit's public objects (`Session`,
 * `SessionManager`, `RpcServer`), with the API of `node:events`'
 * `EventEmitter` (typed by an event map, as `EventEmitter<T>` is), where a
 * listener that throws cannot stop the ones after it.
 *
 * How it works: each event has an array of listeners that `on` and `off`
 * replace rather than change (copy on write), so `emit` walks the array it
 * started with, without copying it: a listener may add or remove listeners
 * (itself included) while an event is emitted, and emitting allocates
 * nothing. Each listener is called in its own `try`; what one throws goes
 * to the owner's {@link SafeEmitter.listenerFailed} (its `error` event and
 * error counter), and the next listener runs.
 *
 * Differences from `EventEmitter`: an `error` event nobody listens to is
 * dropped, not thrown (the owners count it); there are no `newListener` /
 * `removeListener` events and no leak warnings (`setMaxListeners` is
 * accepted and does nothing). `events.once(emitter, name)` and
 * `events.on(emitter, name)` work with it.
 */
import { InvalidArgumentError } from './errors.js';

// biome-ignore lint/suspicious/noExplicitAny: listeners of any arguments, as EventEmitter's
type AnyListener = (...args: any[]) => void;

/** A listener registered by `once`: the wrapper that removes itself, pointing at the caller's listener. */
type OnceWrapper = AnyListener & { listener: AnyListener };

/** The events of an emitter: each name with the arguments its listeners get. */
export type EventMap<T> = { [K in keyof T]: unknown[] };

/**
 * An event emitter with the API of `node:events`' `EventEmitter`, typed by
 * `Events` (each event's name and its listeners' arguments), whose
 * listeners cannot stop each other: a listener that throws is reported
 * through the owner's error event and counter, and the next listener runs.
 * The base class of `Session`, `SessionManager` and
 * `RpcServer`.
 */
export abstract class SafeEmitter<Events extends EventMap<Events>> {
  /** Listeners by event; arrays are replaced, never changed (see the module header). */
  #listeners: Map<keyof Events, AnyListener[]> | undefined = undefined;

  /**
   * `listener` threw while `event` was emitted: report it (the owner's `error` event, a counter).
   * Must not throw.
   */
  protected abstract listenerFailed(error: unknown, event: keyof Events): void;

  /** Calls `listener` on every `event`, after the listeners already there. */
  on<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    return this.#add(event, listener as AnyListener, false);
  }

  /** The same as {@link on}. */
  addListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    return this.#add(event, listener as AnyListener, false);
  }

  /** Calls `listener` on every `event`, before the listeners already there. */
  prependListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    return this.#add(event, listener as AnyListener, true);
  }

  /** Calls `listener` on the next `event` only. */
  once<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    return this.#add(event, this.#onceWrapper(event, listener as AnyListener), false);
  }

  /** Calls `listener` on the next `event` only, before the listeners already there. */
  prependOnceListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    return this.#add(event, this.#onceWrapper(event, listener as AnyListener), true);
  }

  /** Removes `listener` (the last one added, if it was added several times). */
  off<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    const list = this.#listeners?.get(event);
    if (list === undefined) return this;
    for (let i = list.length - 1; i >= 0; i--) {
      const l = list[i];
      if (l === listener || (l as Partial<OnceWrapper>).listener === listener) {
        if (list.length === 1) this.#listeners?.delete(event);
        else this.#listeners?.set(event, [...list.slice(0, i), ...list.slice(i + 1)]);
        break;
      }
    }
    return this;
  }

  /** The same as {@link off}. */
  removeListener<K extends keyof Events>(event: K, listener: (...args: Events[K]) => void): this {
    return this.off(event, listener);
  }

  /** Removes every listener of `event`, or of every event. */
  removeAllListeners(event?: keyof Events): this {
    if (event === undefined) this.#listeners = undefined;
    else this.#listeners?.delete(event);
    return this;
  }

  /** The number of listeners of `event` (that are `listener`, when given). */
  listenerCount<K extends keyof Events>(event: K, listener?: (...args: Events[K]) => void): number {
    const list = this.#listeners?.get(event);
    if (list === undefined) return 0;
    if (listener === undefined) return list.length;
    let n = 0;
    for (const l of list) if (l === listener || (l as Partial<OnceWrapper>).listener === listener) n++;
    return n;
  }

  /** A copy of the listeners of `event` (those added with `once` as given). */
  listeners<K extends keyof Events>(event: K): ((...args: Events[K]) => void)[] {
    return (this.#listeners?.get(event) ?? []).map((l) => (l as Partial<OnceWrapper>).listener ?? l);
  }

  /** A copy of the listeners of `event` (those added with `once` as their wrappers). */
  rawListeners<K extends keyof Events>(event: K): ((...args: Events[K]) => void)[] {
    return [...(this.#listeners?.get(event) ?? [])];
  }

  /** The events that have listeners. */
  eventNames(): (keyof Events)[] {
    return [...(this.#listeners?.keys() ?? [])];
  }

  /** Accepted for compatibility with `EventEmitter`; there are no leak warnings to tune. */
  setMaxListeners(_n: number): this {
    return this;
  }

  /** Always `Infinity`: see {@link setMaxListeners}. */
  getMaxListeners(): number {
    return Number.POSITIVE_INFINITY;
  }

  /**
   * Calls every listener of `event` with `args`, in order; one that throws
   * is reported through `listenerFailed` and the next one still runs.
   * Returns whether there were listeners.
   */
  declare emit: <K extends keyof Events>(event: K, ...args: Events[K]) => boolean;

  static {
    // defined here, with fixed parameters and `arguments`, because a method typed by the event map
    // needs a rest parameter, and a rest array would be allocated at every emit
    SafeEmitter.prototype.emit = function emit(
      this: SafeEmitter<Record<string, unknown[]>>,
      event: string,
      a?: unknown,
      b?: unknown,
      c?: unknown,
    ): boolean {
      const list = this.#listeners?.get(event);
      if (list === undefined) return false;
      // biome-ignore lint/complexity/noArguments: how many were passed, without a rest array
      const n = arguments.length - 1;
      for (let i = 0; i < list.length; i++) {
        const l = list[i];
        try {
          if (n <= 1) l.call(this, a);
          else if (n === 2) l.call(this, a, b);
          else if (n === 3) l.call(this, a, b, c);
          // biome-ignore lint/complexity/noArguments: more than three arguments (no mqttkit event has them)
          else l.apply(this, Array.prototype.slice.call(arguments, 1));
        } catch (err) {
          this.listenerFailed(err, event);
        }
      }
      return true;
    } as never;
  }

  #add(event: keyof Events, listener: AnyListener, first: boolean): this {
    if (typeof listener !== 'function') throw new InvalidArgumentError('listener', 'must be a function');
    const map = (this.#listeners ??= new Map());
    const list = map.get(event);
    map.set(event, list === undefined ? [listener] : first ? [listener, ...list] : [...list, listener]);
    return this;
  }

  #onceWrapper(event: keyof Events, listener: AnyListener): OnceWrapper {
    if (typeof listener !== 'function') throw new InvalidArgumentError('listener', 'must be a function');
    const self = this;
    const wrapper = function (this: unknown, ...args: unknown[]): void {
      self.off(event, wrapper as never);
      listener.apply(this, args);
    } as OnceWrapper;
    wrapper.listener = listener;
    return wrapper;
  }
}
