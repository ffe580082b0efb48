/**
 * `WorkerMember`: one worker process of a fleet on one machine (see
 * `workers.ts`). It runs on its manager the units the primary gives it:
 *
 *   add      each session added to the manager (`manager.add`), its connect
 *            queued (at most `concurrency` connecting at once; a first
 *            connect that fails is tried again every 2 s: a session that
 *            was connected once reconnects by itself); `acquired` sent
 *   remove   the unit's forwarders stopped, each session removed
 *            gracefully (`manager.remove` with the handoff timeout: what is
 *            in flight completes or stays in the store, the store is
 *            flushed, DISCONNECT), a `FileStore` let go of its client id
 *            (`release`), and only then `released` sent: the primary gives
 *            the unit to another worker after that
 *
 * A unit's forwarders start once all its sessions are connected here
 * (`UnitForwarders`). `stop()` (its manager closing) tells the primary it
 * is `leaving` and releases everything, as 'leave'. When the primary says
 * `stop`, the worker stops, closes its manager and exits. When the IPC
 * channel closes (the primary died), it closes every session at once and
 * exits: a worker never outlives its primary.
 *
 * The sessions' numbers (`stats-workers.ts`): it answers the primary's
 * `stats` with its rows; `watchStats()` tells the primary a watch runs
 * here, and `sharedStats()` asks it for every worker's latest rows (its own
 * made at the call).
 */
import { type Deferred, deferred } from '../core/deferred.js';
import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import { Fifo } from '../core/fifo.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import type {
  ClusterDriver,
  ClusterDriverInput,
  ClusterRole,
  ClusterStatus,
  ManagedSessionOptions,
  SessionManager,
  SharedSessionStats,
} from '../manager/index.js';
import type { ClusterMetrics } from '../metrics/index.js';
import type { Session } from '../session/index.js';
import { FileStore } from '../store/file.js';
import { ClusterCounts } from './counts.js';
import { type PlacementUnit, UnitForwarders } from './groups.js';
import { allRows, LocalStats, readStats, type StatsWire, Watchers } from './stats.js';
import {
  fleetUnits,
  NODE_ENV,
  readMessage,
  type ToPrimary,
  type ToWorker,
  WORKER_ENV,
  workerId,
} from './worker-messages.js';

/** A session waiting for its turn to connect. */
interface Queued {
  readonly name: string;
  readonly session: Session;
}

/** ms between tries of the first connects that failed. */
const RETRY_MS = 2_000;

/** Where the worker's IPC messages go: `process` in a forked worker. */
export interface WorkerChannel {
  send(message: ToPrimary): void;
  on(event: 'message', listener: (m: unknown) => void): unknown;
  on(event: 'disconnect', listener: () => void): unknown;
  off(event: 'message', listener: (m: unknown) => void): unknown;
  off(event: 'disconnect', listener: () => void): unknown;
  /** Ends the process (after the last message went). */
  exit(): void;
}

/**
 * A worker that is a Redis node of its own (workers with `redis:`): the
 * cluster places its sessions, the primary only supervises it. Once
 * `driver.start()` resolved it says `ready`; at `stop` it closes its
 * manager (a graceful handoff) and exits; when the primary is gone it
 * closes at once and exits.
 */
export function supervisedByPrimary(
  manager: SessionManager,
  channel: WorkerChannel = processChannel(),
): () => void {
  channel.on('message', (m: unknown) => {
    if (readMessage<ToWorker>(m)?.t === 'stop') void manager.close().finally(() => channel.exit());
  });
  channel.on('disconnect', () => {
    void manager.close({ timeout: 0 }).finally(() => channel.exit());
  });
  return () => channel.send({ t: 'ready' });
}

/** This process's channel to its primary; `InvalidArgumentError` when it was not forked with one. */
function processChannel(): WorkerChannel {
  if (typeof process.send !== 'function')
    throw new InvalidArgumentError(WORKER_ENV, 'is set, but this process has no IPC channel to a primary');
  return {
    send: (m) => {
      if (process.connected) process.send?.(m, undefined, {}, () => {});
    },
    on: (event: 'message' | 'disconnect', listener: (m?: unknown) => void) => process.on(event, listener),
    off: (event: 'message' | 'disconnect', listener: (m?: unknown) => void) => process.off(event, listener),
    exit: () => {
      // the last message is written before the process ends: send's callback, then exit
      if (process.connected) process.send?.({ t: 'stopped' }, undefined, {}, () => process.exit(0));
      else process.exit(0);
    },
  } as WorkerChannel;
}

/** The first connect of failed sessions, tried again. */
class Retry extends TimerEntry {
  constructor(private readonly run: () => void) {
    super();
  }

  expire(): void {
    this.run();
  }
}

export class WorkerMember implements ClusterDriver {
  readonly role: ClusterRole = 'worker';
  readonly name: string;
  readonly node: string;
  readonly #input: ClusterDriverInput;
  readonly #counts = new ClusterCounts();
  readonly #channel: WorkerChannel;
  readonly #units: Map<string, PlacementUnit>;
  readonly #byName = new Map<string, ManagedSessionOptions>();
  readonly #concurrency: number;
  readonly #handoffTimeout: number;
  /** The units running here, by key. */
  readonly #running = new Set<string>();
  /** Units being removed, by key: an `add` of one waits for its removal. */
  readonly #closing = new Map<string, Promise<void>>();
  readonly #queue = new Fifo<Queued>();
  /** Sessions whose first connect failed, to try again. */
  readonly #failed: Queued[] = [];
  #connecting = 0;
  readonly #retry = new Retry(() => this.#retryConnects());
  #forwarders: UnitForwarders | undefined;
  /** Units acquired or released in this turn, told in one message each. */
  #acquired: string[] = [];
  #released: string[] = [];
  #started = false;
  #stopped: Promise<void> | undefined;
  #statusId = 0;
  readonly #statusWaits = new Map<number, Deferred<ClusterStatus>>();
  readonly #sharedWaits = new Map<number, Deferred<[string, StatsWire][]>>();
  readonly #stats: LocalStats;
  readonly #watchers = new Watchers(
    () => this.#channel.send({ t: 'watch', on: true }),
    () => this.#channel.send({ t: 'watch', on: false }),
  );

  constructor(input: ClusterDriverInput, channel: WorkerChannel = processChannel()) {
    const index = Number(process.env[WORKER_ENV]);
    if (!Number.isInteger(index) || index < 0)
      throw new InvalidArgumentError(WORKER_ENV, 'must be the index of the worker (an integer, 0 or more)');
    this.#input = { ...input, emit: this.#counts.wrap(input.emit) };
    this.#channel = channel;
    this.name = input.options.name ?? 'mqttkit';
    this.node = workerId(process.env[NODE_ENV] ?? input.options.node ?? 'node', index);
    this.#units = fleetUnits(input.config);
    for (const s of input.config.sessions) this.#byName.set(s.name, s);
    this.#concurrency = input.config.manager.concurrency ?? 50;
    this.#handoffTimeout = input.options.handoffTimeout ?? 5_000;
    this.#stats = new LocalStats(input.manager);
  }

  /** Listens to the primary and tells it this worker is ready for sessions. Later calls do nothing. */
  async start(): Promise<void> {
    if (this.#stopped !== undefined) throw new ClosedError('the fleet worker is stopped');
    if (this.#started) return;
    this.#started = true;
    this.#forwarders = new UnitForwarders(this.#input.manager, this.#input.config.forwarders, (err) =>
      this.#report(err),
    );
    // everyNode sessions: this worker's own copy, not placed (client id <clientId>-<worker>)
    const manager = this.#input.manager;
    for (const s of this.#input.config.sessions) {
      if (!this.#input.config.everyNode.includes(s.name) || manager.get(s.name) !== undefined) continue;
      try {
        const session = manager.add({ ...s, clientId: `${s.clientId ?? s.name}-${this.node}` });
        this.#enqueue({ name: s.name, session });
      } catch (err) {
        this.#report(err);
      }
    }
    this.#stats.start();
    this.#channel.on('message', this.#onMessage);
    this.#channel.on('disconnect', this.#onDisconnect);
    this.#channel.send({ t: 'ready' });
  }

  /**
   * Tells the primary this worker leaves, and closes every session running
   * here gracefully (as a handoff, reason 'leave'). Later calls return the
   * same promise.
   */
  stop(): Promise<void> {
    this.#stopped ??= this.#stopNow(this.#handoffTimeout);
    return this.#stopped;
  }

  /** The cluster's status, as the primary sees it. */
  /** What this driver counted of its cluster events (no lease here: no renewal or handoff times). */
  metrics(): ClusterMetrics {
    return this.#counts.metrics();
  }

  status(): Promise<ClusterStatus> {
    if (!this.#started || this.#stopped !== undefined)
      return Promise.reject(new ClosedError('the fleet worker is not running'));
    const id = ++this.#statusId;
    const wait = deferred<ClusterStatus>();
    this.#statusWaits.set(id, wait);
    this.#channel.send({ t: 'status', id });
    return wait.promise.then((s) => ({ ...s, node: this.node, role: this.role }));
  }

  watchStats(): () => void {
    return this.#watchers.watch();
  }

  /** Every worker's latest numbers, from the primary; this worker's own made now. */
  async sharedStats(): Promise<SharedSessionStats[]> {
    if (!this.#started || this.#stopped !== undefined)
      throw new ClosedError('the fleet worker is not running');
    const id = ++this.#statusId;
    const wait = deferred<[string, StatsWire][]>();
    this.#sharedWaits.set(id, wait);
    this.#channel.send({ t: 'shared', id });
    const all = await wait.promise;
    const rows: [string, SharedSessionStats[]][] = all
      .filter(([node]) => node !== this.node)
      .map(([node, wire]) => [node, readStats(node, wire)]);
    rows.push([this.node, this.#stats.rows(this.node)]);
    return allRows(rows);
  }

  readonly #onMessage = (m: unknown): void => {
    const msg = readMessage<ToWorker>(m);
    if (msg === undefined) return;
    switch (msg.t) {
      case 'add':
        for (const key of msg.units) this.#add(key);
        return;
      case 'remove':
        for (const key of msg.units) void this.#remove(key, 'handoff', this.#handoffTimeout);
        return;
      case 'stop':
        void this.stop()
          .then(() => this.#input.manager.close())
          .finally(() => this.#channel.exit());
        return;
      case 'status': {
        const wait = this.#statusWaits.get(msg.id);
        this.#statusWaits.delete(msg.id);
        wait?.resolve(msg.status);
        return;
      }
      case 'stats':
        this.#channel.send({ t: 'stats', stats: this.#stats.wire() });
        return;
      case 'shared': {
        const wait = this.#sharedWaits.get(msg.id);
        this.#sharedWaits.delete(msg.id);
        wait?.resolve(Array.isArray(msg.stats) ? msg.stats : []);
        return;
      }
    }
  };

  /** The primary is gone: close everything at once and exit. */
  readonly #onDisconnect = (): void => {
    for (const wait of [...this.#statusWaits.values(), ...this.#sharedWaits.values()])
      wait.reject(new ClosedError('the primary is gone'));
    this.#statusWaits.clear();
    this.#sharedWaits.clear();
    this.#stopped ??= this.#stopNow(0);
    void this.#stopped
      .then(() => this.#input.manager.close({ timeout: 0 }))
      .finally(() => this.#channel.exit());
  };

  // ---------------------------------------------------------------------------

  #add(key: string): void {
    const unit = this.#units.get(key);
    if (unit === undefined || this.#running.has(key) || this.#stopped !== undefined) return;
    const closing = this.#closing.get(key);
    if (closing !== undefined) {
      void closing.then(() => this.#add(key)); // never two sessions of one client id here
      return;
    }
    const manager = this.#input.manager;
    this.#running.add(key);
    const { names, clientIds } = unit;
    for (let i = 0; i < names.length; i++) {
      const name = names[i];
      try {
        this.#enqueue({ name, session: manager.add(this.#byName.get(name) as ManagedSessionOptions) });
      } catch (err) {
        this.#report(err);
      }
      this.#input.emit('session_acquired', {
        name,
        clientId: clientIds[i],
        node: this.node,
        token: undefined,
      });
    }
    this.#acquired.push(key);
    if (this.#acquired.length > 1) return;
    queueMicrotask(() => {
      const units = this.#acquired;
      this.#acquired = [];
      this.#channel.send({ t: 'acquired', units });
    });
  }

  /** Removes the unit's sessions (waiting `timeout` ms for what is in flight), then says released. */
  #remove(key: string, reason: 'handoff' | 'leave', timeout: number): Promise<void> {
    const unit = this.#units.get(key);
    if (unit === undefined) return Promise.resolve();
    if (!this.#running.has(key)) {
      // not here (any more): answer all the same, so the primary never waits on it
      return (this.#closing.get(key) ?? Promise.resolve()).then(() => this.#releasedUnit(key, reason));
    }
    this.#running.delete(key);
    const manager = this.#input.manager;
    const done = (async () => {
      // what the forwarders hold unacknowledged stays with the broker for the next owner
      for (const n of unit.names) this.#forwarders?.detachFor(n);
      await Promise.all(
        unit.names.map(async (name, i) => {
          const store = this.#byName.get(name)?.store;
          try {
            await manager.remove(name, { timeout });
            if (store instanceof FileStore) await store.release(unit.clientIds[i]);
          } catch (err) {
            this.#report(err);
          }
          this.#input.emit('session_released', {
            name,
            clientId: unit.clientIds[i],
            node: this.node,
            reason,
          });
        }),
      );
    })();
    const settled = done.finally(() => {
      if (this.#closing.get(key) === settled) this.#closing.delete(key);
    });
    this.#closing.set(key, settled);
    return settled.then(() => this.#releasedUnit(key, reason));
  }

  /** Says `released` for the unit, in one message with the others released in this turn. */
  #releasedUnit(key: string, reason: 'handoff' | 'leave'): void {
    if (reason === 'leave') {
      this.#channel.send({ t: 'released', units: [key], reason });
      return;
    }
    this.#released.push(key);
    if (this.#released.length > 1) return;
    queueMicrotask(() => {
      const units = this.#released;
      this.#released = [];
      this.#channel.send({ t: 'released', units, reason: 'handoff' });
    });
  }

  async #stopNow(timeout: number): Promise<void> {
    sharedTimer.remove(this.#retry);
    if (!this.#started) return;
    this.#channel.send({ t: 'leaving' });
    await this.#forwarders?.close().catch((err: unknown) => this.#report(err));
    await Promise.all([...this.#running].map((key) => this.#remove(key, 'leave', timeout)));
    await Promise.all(this.#closing.values());
    this.#channel.off('message', this.#onMessage);
    this.#stats.stop();
    for (const wait of this.#sharedWaits.values()) wait.reject(new ClosedError('the fleet worker stopped'));
    this.#sharedWaits.clear();
  }

  // ---------------------------------------------------------------------------
  // connecting, at most `concurrency` at once

  #enqueue(q: Queued): void {
    this.#queue.push(q);
    this.#drain();
  }

  #drain(): void {
    while (this.#connecting < this.#concurrency && this.#queue.length > 0) {
      const q = this.#queue.shift() as Queued;
      const s = q.session;
      if (s.state !== 'new' && s.state !== 'disconnected') continue; // removed, or connected meanwhile
      this.#connecting++;
      s.connect()
        .catch(() => {
          // never connected, so no reconnect of its own: tried again, unless removed meanwhile
          if (s.state !== 'disconnected' || this.#stopped !== undefined) return;
          this.#failed.push(q);
          if (this.#retry.timerBucket === undefined) {
            this.#retry.deadline = Date.now() + RETRY_MS;
            sharedTimer.add(this.#retry);
          }
        })
        .finally(() => {
          this.#connecting--;
          this.#drain();
        });
    }
  }

  #retryConnects(): void {
    const failed = this.#failed.splice(0);
    const manager = this.#input.manager;
    for (const q of failed)
      if (q.session.state === 'disconnected' && manager.get(q.name) === q.session) this.#enqueue(q);
  }

  #report(err: unknown): void {
    const error = err instanceof Error ? err : new Error(String(err));
    this.#input.emit('cluster_error', { error });
    this.#channel.send({ t: 'error', message: `${error.name}: ${error.message}` });
  }
}
