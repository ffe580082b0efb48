/**
 * Readiness of a manager's sessions: a session is ready once it is
 * connected and every filter it holds is subscribed (or refused on this
 * connection). `check` emits `session_ready` once per connection and
 * resolves the `waitReady` calls that waited for that session.
 *
 * A `waitReady` call is a `ReadyWaiter`: its timeout is an entry in the
 * shared coarse timer (no `setTimeout` per call), and it listens to its
 * `AbortSignal` itself (`handleEvent`), without a closure.
 */
import { AbortError, ClosedError, InvalidArgumentError, TimeoutError } from '../core/errors.js';
import { checkOptions } from '../core/schema.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import { WAIT_READY_OPTIONS } from './schema.js';
import type { ManagerState, Member } from './state.js';

/** One pending `waitReady` call. */
class ReadyWaiter extends TimerEntry {
  constructor(
    private readonly waiters: Set<ReadyWaiter>,
    /** The sessions not ready yet; resolved when none is left. */
    readonly names: Set<string>,
    private readonly timeout: number,
    private readonly signal: AbortSignal | undefined,
    private readonly onResolve: () => void,
    private readonly onReject: (error: Error) => void,
  ) {
    super();
  }

  resolve(): void {
    this.#finish();
    this.onResolve();
  }

  reject(error: Error): void {
    this.#finish();
    this.onReject(error);
  }

  /** The timeout passed (the shared timer calls this). */
  expire(): void {
    const left = [...this.names];
    const shown = left.slice(0, 10).join(', ') + (left.length > 10 ? ` and ${left.length - 10} more` : '');
    this.reject(new TimeoutError(`${left.length} sessions not ready after ${this.timeout} ms: ${shown}`));
  }

  /** The signal aborted (this object is its listener). */
  handleEvent(): void {
    this.reject(abortError(this.signal as AbortSignal));
  }

  #finish(): void {
    this.waiters.delete(this);
    sharedTimer.remove(this);
    this.signal?.removeEventListener('abort', this);
  }
}

export class Readiness {
  readonly #waiters = new Set<ReadyWaiter>();
  readonly #state: ManagerState;

  constructor(state: ManagerState) {
    this.#state = state;
  }

  /** Connected, with its subscriptions (its own and the routes') in place. */
  isReady(name: string): boolean {
    const m = this.#state.members.get(name);
    return m?.ready === true && m.session.state === 'connected';
  }

  /** What `waitReady` does (see there). */
  wait(
    names: string | readonly string[] | undefined,
    options: number | { timeout?: number; signal?: AbortSignal },
  ): Promise<void> {
    const o = typeof options === 'number' ? { timeout: options } : options;
    try {
      checkOptions(o, WAIT_READY_OPTIONS, typeof options === 'number' ? '' : 'options');
    } catch (err) {
      return Promise.reject(err);
    }
    const { timeout = 30_000, signal } = o;
    const members = this.#state.members;
    if (this.#state.closed) return Promise.reject(new ClosedError('the session manager is closed'));
    const list = names === undefined ? [...members.keys()] : typeof names === 'string' ? [names] : [...names];
    const waiting = new Set<string>();
    for (const name of list) {
      if (!members.has(name)) {
        return Promise.reject(new InvalidArgumentError('names', `no session named '${name}'`));
      }
      if (!this.isReady(name)) waiting.add(name);
    }
    if (waiting.size === 0) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<void>((resolve, reject) => {
      const waiter = new ReadyWaiter(this.#waiters, waiting, timeout, signal, resolve, reject);
      this.#waiters.add(waiter);
      if (timeout > 0) {
        waiter.deadline = Date.now() + timeout;
        sharedTimer.add(waiter);
      }
      signal?.addEventListener('abort', waiter, { once: true });
    });
  }

  /** Emits `session_ready` once per connection, when the session and all its filters are ready. */
  check(m: Member): void {
    if (m.ready || !m.session.ready || !this.#state.isCurrent(m)) return;
    for (const fs of m.subs.values()) if (fs.routes.size > 0 && !fs.settled) return;
    m.ready = true;
    if (m.readyEmittedFor !== m.connections) {
      m.readyEmittedFor = m.connections;
      this.#state.emit('session_ready', { name: m.name });
    }
    for (const w of this.#waiters) {
      if (w.names.delete(m.name) && w.names.size === 0) w.resolve();
    }
  }

  /** Session `name` was removed: the calls waiting for it reject. */
  removed(name: string): void {
    for (const w of this.#waiters) {
      if (w.names.has(name)) w.reject(new ClosedError(`session '${name}' was removed`));
    }
  }

  /** The manager closes: every call waiting rejects. */
  close(): void {
    for (const w of this.#waiters) w.reject(new ClosedError('the session manager is closed'));
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof AbortError ? reason : new AbortError('waitReady was aborted', { cause: reason });
}
