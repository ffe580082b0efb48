/**
 * `LocalSessions`: the sessions one fleet node holds a lease for, and
 * running them on its `SessionManager`. `FleetNode` (`coordinator.ts`)
 * decides what to hold; this part starts and stops sessions.
 *
 * How it works: one entry per session held (by client id), with its fencing
 * token and, while it runs here, its `Session`:
 *
 *   run(held)      store.fence(client id, token), then manager.add(...): the
 *                  session reads the store only when it connects, so every
 *                  write it makes carries the token; then it waits its turn
 *                  to connect (at most `concurrency` connecting at once, as
 *                  `connectAll()` does; one that fails is tried again at
 *                  `retryConnects()`, each renewal)
 *   halt(held)     manager.remove with timeout 0: DISCONNECT and the socket
 *                  closed at once (nothing is published after the call
 *                  returns), what is in flight stays in the store
 *   retire(held)   manager.remove with the handoff timeout: what is in
 *                  flight completes first (or stays in the store), the store
 *                  is flushed, DISCONNECT; resolves once all of that is done
 *
 * A session that is closing is `closing(id)` until its close settles: it is
 * not started again meanwhile, so two sessions with one client id never
 * overlap in this process. The fencing token stays set on the store after a
 * session stops: a late write for it is refused rather than applied
 * unfenced.
 */
import { FencedError } from '../core/errors.js';
import { Fifo } from '../core/fifo.js';
import type { ManagedSessionOptions, SessionManager } from '../manager/index.js';
import type { Session } from '../session/index.js';
import type { RedisStore } from '../store/redis.js';

/** One session of the fleet definition: its manager name, its client id (the lease's id) and options. */
export interface FleetSession {
  readonly name: string;
  readonly clientId: string;
  readonly options: ManagedSessionOptions;
}

/** A session this node holds a lease for. */
export interface Held {
  readonly def: FleetSession;
  /** The fencing token the lease gave. */
  readonly token: number;
  /** `Date.now()` when this node acquired it. */
  readonly since: number;
  /** The session on the manager while it runs here; undefined while paused or stopping. */
  session: Session | undefined;
  /** Waiting for a turn to connect. */
  queued: boolean;
}

/** Sessions connecting at once by default (as `SessionManager.connectAll()`). */
export const DEFAULT_CONCURRENCY = 50;

export class LocalSessions {
  /** The sessions held, by client id. */
  readonly held = new Map<string, Held>();
  /** Closes not settled yet, by client id. */
  readonly #closing = new Map<string, Promise<void>>();
  readonly #queue = new Fifo<Held>();
  #connecting = 0;

  constructor(
    readonly manager: SessionManager,
    readonly store: RedisStore,
    readonly concurrency: number,
    /** How long a graceful stop waits for what is in flight, in ms. */
    readonly handoffTimeout: number,
    /** Where failures go (the node's 'error' event). */
    private readonly fail: (err: unknown) => void,
    /** Called as a session starts closing, before anything closes (its forwarders stop then). */
    private readonly onClosing: (name: string) => void = () => {},
  ) {}

  /** Whether a session of this client id is still closing here. */
  closing(clientId: string): boolean {
    return this.#closing.has(clientId);
  }

  /** Resolves once every close started so far has settled. */
  async settled(): Promise<void> {
    while (this.#closing.size > 0) await Promise.all(this.#closing.values());
  }

  /**
   * Starts a held session: fences the store with its token, adds it to the
   * manager and queues its connect. False (reported) when the manager
   * refused it (closed, or a session of that name exists there already).
   */
  run(h: Held): boolean {
    const { def } = h;
    try {
      this.store.fence(def.clientId, h.token);
      h.session = this.manager.add({ ...def.options, store: this.store });
    } catch (err) {
      this.fail(err);
      return false;
    }
    this.#enqueue(h);
    return true;
  }

  /** Queues a connect for every running session whose connect failed (`disconnected`, never connected). */
  retryConnects(): void {
    for (const h of this.held.values()) {
      const state = h.session?.state;
      if (!h.queued && (state === 'new' || state === 'disconnected')) this.#enqueue(h);
    }
  }

  /** Stops a session at once (see the file's header); what it was running is closed before this returns. */
  halt(h: Held): void {
    this.#close(h, 0);
  }

  /** Stops a session gracefully (see the file's header); resolves when it is closed. */
  retire(h: Held): Promise<void> {
    return this.#close(h, this.handoffTimeout);
  }

  #close(h: Held, timeout: number): Promise<void> {
    const s = h.session;
    if (s === undefined) return this.#closing.get(h.def.clientId) ?? Promise.resolve();
    h.session = undefined;
    h.queued = false;
    const { name, clientId } = h.def;
    this.onClosing(name);
    // the manager may hold another session under the name by now (a user's remove and add)
    const closed =
      this.manager.get(name) === s ? this.manager.remove(name, { timeout }) : s.close({ timeout });
    const done = closed.then(
      () => {},
      (err: unknown) => this.fail(err),
    );
    const all = Promise.all([this.#closing.get(clientId), done]).then(() => {
      if (this.#closing.get(clientId) === all) this.#closing.delete(clientId);
    });
    this.#closing.set(clientId, all);
    return all;
  }

  #enqueue(h: Held): void {
    h.queued = true;
    this.#queue.push(h);
    this.#drain();
  }

  #drain(): void {
    while (this.#connecting < this.concurrency && this.#queue.length > 0) {
      const h = this.#queue.shift() as Held;
      h.queued = false;
      const s = h.session;
      if (s === undefined || (s.state !== 'new' && s.state !== 'disconnected')) continue;
      this.#connecting++;
      s.connect()
        .catch(() => {}) // tried again at the next renewal (retryConnects); closed meanwhile: nothing to do
        .finally(() => {
          this.#connecting--;
          this.#drain();
        });
    }
  }
}

/** The FencedError behind `error` (itself, or along its chain of causes), if any. */
export function fencedCause(error: unknown): FencedError | undefined {
  for (let e = error, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (e instanceof FencedError) return e;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
