/**
 * A typed event emitter whose listeners cannot hurt each other: a listener
 * that throws is reported through `onListenerError` and the others still
 * run; a listener may add or remove listeners (itself included) or call back
 * into its owner while an event is being emitted.
 */
export type Listener<T> = (event: T) => void;

export class SafeEmitter<Events extends object> {
  private readonly listeners = new Map<keyof Events, Listener<never>[]>();

  constructor(private readonly onListenerError: (error: unknown, event: keyof Events) => void) {}

  on<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners.get(event);
    // copy on write: an emit in progress keeps iterating the array it started with
    this.listeners.set(event, list === undefined ? [listener] : [...list, listener]);
    return this;
  }

  once<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const wrapped: Listener<Events[K]> & { inner?: Listener<Events[K]> } = (e) => {
      this.off(event, wrapped);
      listener(e);
    };
    wrapped.inner = listener;
    return this.on(event, wrapped);
  }

  off<K extends keyof Events>(event: K, listener: Listener<Events[K]>): this {
    const list = this.listeners.get(event);
    if (list === undefined) return this;
    const i = list.findIndex(
      (l) => l === listener || (l as { inner?: unknown }).inner === (listener as unknown),
    );
    if (i < 0) return this;
    const next = list.filter((_, j) => j !== i);
    if (next.length === 0) this.listeners.delete(event);
    else this.listeners.set(event, next);
    return this;
  }

  /** Removes every listener of `event`, or of every event. */
  removeAllListeners(event?: keyof Events): this {
    if (event === undefined) this.listeners.clear();
    else this.listeners.delete(event);
    return this;
  }

  listenerCount(event: keyof Events): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  emit<K extends keyof Events>(event: K, payload: Events[K]): void {
    const list = this.listeners.get(event) as Listener<Events[K]>[] | undefined;
    if (list === undefined) return;
    for (const l of list) {
      try {
        l(payload);
      } catch (err) {
        this.onListenerError(err, event);
      }
    }
  }
}
