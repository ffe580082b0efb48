/**
 * `WorkerPrimary`: the process that runs a fleet as `workers` worker
 * processes on one machine, and runs no session itself (see `workers.ts`
 * for the whole picture).
 *
 * It keeps, for each placement unit, the worker that owns it, and one pass
 * (after anything changed, once per turn of the event loop) brings that in
 * line with the placement over the live workers:
 *
 *   no owner          `add` to its placed worker, which owns it from then on
 *   owner elsewhere   `remove` to the owner (once); the unit keeps its owner
 *                     until `released` comes back, and only then is it added
 *                     to the placed worker: never two owners
 *
 * The first pass waits until every worker was ready once (or one keeps
 * dying before), so no session starts on the first worker up only to move
 * at once. A worker that exits (a crash, a kill) owned nothing from that moment: its
 * process is gone with its connections, so its units are free at once
 * (`session_released` with reason `worker`) and the pass gives them to the
 * survivors. It is started again: at once the first time, then after a
 * backoff doubling from 500 ms to 30 s while it keeps dying within 10 s of
 * its start, each such death from the third on a `cluster_error`. Once it
 * is `ready` again, the placement moves its units back, by graceful
 * handoff.
 *
 * The sessions' numbers (`watchStats()`, `sharedStats()`): polled from the
 * workers over IPC while watched (`stats-workers.ts`); with Redis, each
 * worker shares them there as a node, and the primary keeps the watch key
 * alive on a client of its own while it watches (`stats-redis.ts`).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { hostname } from 'node:os';
import { type Deferred, deferred } from '../core/deferred.js';
import { ClosedError, ClusterError, InvalidArgumentError } from '../core/errors.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import type {
  ClusterDriver,
  ClusterDriverInput,
  ClusterRole,
  ClusterStatus,
  SharedSessionStats,
} from '../manager/index.js';
import type { ClusterMetrics } from '../metrics/index.js';
import { Placement } from './assignment.js';
import { ClusterCounts } from './counts.js';
import type { PlacementUnit } from './groups.js';
import { clusterKeys } from './keys.js';
import { RedisStatsWatch } from './stats-redis.js';
import { WorkerStats } from './stats-workers.js';
import {
  fleetUnits,
  NODE_ENV,
  readMessage,
  type ToPrimary,
  type ToWorker,
  WORKER_ENV,
  workerId,
} from './worker-messages.js';

/** How the primary starts its workers (node:cluster's `setupPrimary`): the defaults re-run this program. */
export interface WorkerPrimaryOptions {
  /** The script the workers run. @default process.argv[1] */
  exec?: string;
  /** Its arguments. @default process.argv.slice(2) */
  args?: readonly string[];
  /** Node's options for it. @default process.execArgv */
  execArgv?: readonly string[];
  /** More environment for the workers (over `process.env`). */
  env?: NodeJS.ProcessEnv;
}

/** A worker that lived this long (ms) before it died is started again at once. */
const STABLE_MS = 10_000;
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** Deaths in a row (each soon after its start) from which each is a cluster_error. */
const REPORT_AFTER = 3;
/** How long `stop()` lets a worker close before SIGKILL, past the handoff timeout (ms). */
const STOP_GRACE_MS = 5_000;
/** ms between polls of the workers' numbers while watched, without Redis (`interval` sets it). */
const STATS_PERIOD_MS = 1_000;

type SlotState = 'down' | 'starting' | 'live' | 'leaving';

/** One worker's place: the process in it now, and what it owns. */
class Slot extends TimerEntry {
  child: ChildProcess | undefined = undefined;
  state: SlotState = 'down';
  /** It was `ready` once since its start (it was announced with node_joined). */
  joined = false;
  startedAt = 0;
  /** Deaths in a row, each within STABLE_MS of its start. */
  failures = 0;
  readonly units = new Set<PlacementUnit>();
  exited: Deferred<void> | undefined = undefined;

  constructor(
    readonly index: number,
    readonly id: string,
    private readonly restart: (slot: Slot) => void,
  ) {
    super();
  }

  expire(): void {
    this.restart(this);
  }
}

interface Ownership {
  readonly slot: Slot;
  /** `remove` was sent: it stays the owner until `released` comes. */
  releasing: boolean;
}

/** The primary of a fleet's workers (see the file's header). */
export class WorkerPrimary implements ClusterDriver {
  readonly role: ClusterRole = 'primary';
  readonly name: string;
  readonly node: string;
  readonly #input: ClusterDriverInput;
  readonly #counts = new ClusterCounts();
  readonly #setup: WorkerPrimaryOptions;
  readonly #units: Map<string, PlacementUnit>;
  readonly #slots: Slot[];
  readonly #owners = new Map<PlacementUnit, Ownership>();
  readonly #handoffTimeout: number;
  #placedFor = '';
  #placement: Placement | undefined;
  #kicked = false;
  #started: Deferred<void> | undefined;
  #stopping: Promise<void> | undefined;
  /** Placing: every worker was ready once, or one kept dying before (start() settled). */
  #placing = false;
  /** The workers that have been ready at least once (start() waits for all). */
  readonly #readyOnce = new Set<Slot>();
  /**
   * With Redis (`cluster.redis`), each worker is a cluster node of its own
   * that the cluster places sessions on: the primary only starts, restarts
   * and stops the workers, and reads the status from Redis.
   */
  readonly #supervise: boolean;
  /** The workers' numbers: over IPC, or (with Redis) the watch of a process without a lease. */
  readonly #stats: WorkerStats | RedisStatsWatch;

  constructor(input: ClusterDriverInput, setup: WorkerPrimaryOptions = {}) {
    const { options } = input;
    const n = options.workers;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1024)
      throw new InvalidArgumentError('cluster.workers', 'must be an integer from 1 to 1024 for a primary');
    const exec = setup.exec ?? process.argv[1];
    if (exec === undefined)
      throw new InvalidArgumentError('cluster.workers', 'needs a main script for the workers to run');
    this.#input = { ...input, emit: this.#counts.wrap(input.emit) };
    this.#setup = { ...setup, exec };
    this.name = options.name ?? 'mqttkit';
    this.node = options.node ?? hostname();
    this.#handoffTimeout = options.handoffTimeout ?? 5_000;
    this.#supervise = options.redis !== undefined;
    this.#units = this.#supervise ? new Map() : fleetUnits(input.config);
    this.#slots = Array.from(
      { length: n },
      (_, i) => new Slot(i, workerId(this.node, i), (s) => this.#spawn(s)),
    );
    if (this.#supervise) {
      // as a node's lease and renewal period (membership.ts)
      const ttl = options.ttl ?? 10_000;
      const period = options.interval ?? Math.max(1, Math.floor((ttl - (options.margin ?? ttl / 5)) / 3));
      const keys = clusterKeys(options.prefix ?? 'mqttkit:', this.name);
      this.#stats = new RedisStatsWatch(options.redis as string, keys, ttl, period);
    } else {
      this.#stats = new WorkerStats(options.interval ?? STATS_PERIOD_MS, () => {
        for (const s of this.#slots)
          if (s.state === 'live' || s.state === 'leaving') this.#send(s, { t: 'stats' });
      });
    }
  }

  /**
   * Starts every worker; resolves once each has been ready once (its
   * driver started), rejects with `ClusterError` 'worker' when one keeps
   * dying before that. Later calls return the same promise.
   */
  start(): Promise<void> {
    if (this.#stopping !== undefined) return Promise.reject(new ClosedError('the fleet is stopped'));
    if (this.#started !== undefined) return this.#started.promise;
    this.#started = deferred<void>();
    this.#warnVolatile();
    for (const s of this.#slots) this.#spawn(s);
    return this.#started.promise;
  }

  /**
   * Stops the fleet: every worker closes its sessions gracefully (what is in
   * flight completes or stays in the store, then DISCONNECT), closes its
   * manager and exits; one still there `handoffTimeout` + 5 s later is
   * killed. Resolves once every worker has exited. Later calls return the
   * same promise.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stopNow();
    return this.#stopping;
  }

  /** The workers with the sessions each runs, and every session's worker. */
  /** What this driver counted of its cluster events (no lease here: no renewal or handoff times). */
  metrics(): ClusterMetrics {
    return this.#counts.metrics();
  }

  status(): Promise<ClusterStatus> {
    if (this.#supervise) return this.#redisStatus();
    return Promise.resolve(this.#status());
  }

  watchStats(): () => void {
    return this.#stats.watch();
  }

  sharedStats(): Promise<SharedSessionStats[]> {
    const stats = this.#stats;
    return stats instanceof WorkerStats ? Promise.resolve(stats.rows()) : stats.shared();
  }

  /** The cluster's status read from Redis (workers with `redis:`), on a client made for the call. */
  async #redisStatus(): Promise<ClusterStatus> {
    const { readClusterStatusAt } = await import('./status.js');
    const sessions = this.#input.config.sessions.map((s) => ({
      name: s.name,
      clientId: s.clientId ?? s.name,
    }));
    const prefix = this.#input.options.prefix ?? 'mqttkit:';
    return readClusterStatusAt(this.#input.options.redis as string, {
      cluster: this.name,
      prefix,
      sessions,
      node: this.node,
      role: this.role,
    });
  }

  #status(): ClusterStatus {
    const owner = new Map<string, string>();
    for (const [u, o] of this.#owners) for (const name of u.names) owner.set(name, o.slot.id);
    return {
      cluster: this.name,
      node: this.node,
      role: this.role,
      nodes: this.#slots
        .filter((s) => s.state === 'live' || s.state === 'leaving')
        .map((s) => ({
          id: s.id,
          weight: s.state === 'live' ? 1 : 0,
          expiresIn: undefined,
          sessions: [...s.units].flatMap((u) => u.names),
        })),
      sessions: this.#input.config.sessions
        .filter((s) => !this.#input.config.everyNode.includes(s.name))
        .map((s) => ({
          name: s.name,
          clientId: s.clientId as string,
          node: owner.get(s.name),
          token: undefined,
        })),
    };
  }

  // ---------------------------------------------------------------------------
  // the workers

  #spawn(s: Slot): void {
    if (this.#stopping !== undefined || s.child !== undefined) return;
    sharedTimer.remove(s);
    const { exec, args, execArgv, env } = this.#setup;
    let child: ChildProcess;
    try {
      child = fork(exec as string, [...(args ?? process.argv.slice(2))], {
        execArgv: [...(execArgv ?? process.execArgv)],
        env: { ...process.env, ...env, [WORKER_ENV]: String(s.index), [NODE_ENV]: this.node },
        stdio: 'inherit',
      });
    } catch (err) {
      this.#died(s, undefined, `could not be started: ${(err as Error).message}`);
      return;
    }
    s.child = child;
    s.state = 'starting';
    s.joined = false;
    s.startedAt = Date.now();
    s.exited = deferred<void>();
    child.on('message', (m: unknown) => {
      const msg = readMessage<ToPrimary>(m);
      if (msg !== undefined && s.child === child) this.#onMessage(s, msg);
    });
    child.on('exit', (code, signal) => {
      this.#died(s, child, signal === null ? `exited with code ${code}` : `was killed by ${signal}`);
    });
    child.on('error', (err) => {
      // no process was made (the 'exit' event may then never come)
      if (child.pid === undefined) this.#died(s, child, `could not be started: ${err.message}`);
    });
  }

  #send(s: Slot, msg: ToWorker): void {
    const child = s.child;
    if (child?.connected) child.send(msg, () => {}); // a closed channel: its exit follows
  }

  #onMessage(s: Slot, msg: ToPrimary): void {
    switch (msg.t) {
      case 'ready':
        if (s.state !== 'starting') return;
        s.state = 'live';
        s.joined = true;
        this.#emit('node_joined', { node: s.id });
        this.#readyOnce.add(s);
        if (this.#readyOnce.size === this.#slots.length) {
          this.#placing = true;
          this.#started?.resolve();
        }
        this.#kick();
        return;
      case 'acquired':
        for (const key of msg.units) {
          const u = this.#units.get(key);
          if (u === undefined || this.#owners.get(u)?.slot !== s) continue;
          const { names, clientIds } = u;
          for (let i = 0; i < names.length; i++)
            this.#emit('session_acquired', {
              name: names[i],
              clientId: clientIds[i],
              node: s.id,
              token: undefined,
            });
        }
        return;
      case 'released':
        for (const key of msg.units) {
          const u = this.#units.get(key);
          if (u === undefined || this.#owners.get(u)?.slot !== s) continue;
          this.#free(u, s, msg.reason);
        }
        this.#kick();
        return;
      case 'leaving':
        if (s.state === 'live' || s.state === 'starting') s.state = 'leaving';
        for (const u of s.units) {
          const o = this.#owners.get(u);
          if (o !== undefined) o.releasing = true; // it releases them itself, as 'leave'
        }
        this.#kick();
        return;
      case 'status':
        this.#send(s, { t: 'status', id: msg.id, status: this.#status() });
        return;
      case 'error':
        this.#emit('cluster_error', { error: new Error(`worker ${s.id}: ${msg.message}`) });
        return;
      case 'stopped':
        return; // its exit follows
      case 'stats':
        if (this.#stats instanceof WorkerStats && typeof msg.stats === 'object' && msg.stats !== null)
          this.#stats.received(s.id, msg.stats);
        return;
      case 'watch':
        if (this.#stats instanceof WorkerStats) this.#stats.remoteWatch(s.id, msg.on === true);
        return;
      case 'shared':
        this.#send(s, {
          t: 'shared',
          id: msg.id,
          stats: this.#stats instanceof WorkerStats ? this.#stats.wires() : [],
        });
        return;
    }
  }

  /** `u` has no owner any more (it was `s`). */
  #free(u: PlacementUnit, s: Slot, reason: 'handoff' | 'leave' | 'worker'): void {
    this.#owners.delete(u);
    s.units.delete(u);
    const { names, clientIds } = u;
    for (let i = 0; i < names.length; i++)
      this.#emit('session_released', { name: names[i], clientId: clientIds[i], node: s.id, reason });
  }

  /** The process of `s` is gone (or was never made): its units are free, and it starts again. */
  #died(s: Slot, child: ChildProcess | undefined, how: string): void {
    if (child !== undefined && s.child !== child) return; // reported already
    s.child = undefined;
    s.state = 'down';
    if (this.#stats instanceof WorkerStats) this.#stats.gone(s.id);
    for (const u of [...s.units]) this.#free(u, s, 'worker');
    if (s.joined) this.#emit('node_left', { node: s.id });
    s.joined = false;
    s.exited?.resolve();
    if (this.#stopping !== undefined) return;
    if (Date.now() - s.startedAt >= STABLE_MS) s.failures = 0;
    s.failures++;
    const delay = s.failures === 1 ? 0 : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (s.failures - 2));
    if (s.failures >= REPORT_AFTER) {
      const error = new ClusterError(
        `worker ${s.id} ${how}, ${s.failures} times in a row within ${STABLE_MS / 1000} s of its start; ` +
          `started again in ${delay} ms`,
        'worker',
      );
      this.#emit('cluster_error', { error });
      const started = this.#started;
      if (started !== undefined && this.#readyOnce.size < this.#slots.length) {
        this.#placing = true; // the others run the fleet meanwhile
        started.reject(error);
      }
    }
    if (delay === 0) this.#spawn(s);
    else {
      s.deadline = Date.now() + delay;
      sharedTimer.add(s);
    }
    this.#kick();
  }

  // ---------------------------------------------------------------------------
  // the pass

  #kick(): void {
    if (this.#kicked) return;
    this.#kicked = true;
    queueMicrotask(() => {
      this.#kicked = false;
      this.#pass();
    });
  }

  #pass(): void {
    // nothing placed before every worker was ready once (or one failed to start): sessions placed
    // on the first worker up would move again at once
    if (this.#stopping !== undefined || !this.#placing || this.#supervise) return;
    const live = this.#slots.filter((s) => s.state === 'live');
    if (live.length === 0) return;
    const key = live.map((s) => s.id).join('\n');
    if (key !== this.#placedFor || this.#placement === undefined) {
      this.#placement = new Placement(live.map((s) => ({ id: s.id })));
      this.#placedFor = key;
    }
    const placement = this.#placement;
    const byId = new Map(live.map((s) => [s.id, s]));
    const adds = new Map<Slot, string[]>();
    const removes = new Map<Slot, string[]>();
    const push = (m: Map<Slot, string[]>, s: Slot, k: string) => {
      const list = m.get(s);
      if (list === undefined) m.set(s, [k]);
      else list.push(k);
    };
    for (const u of this.#units.values()) {
      const target = byId.get(placement.owner(u.key) as string) as Slot;
      const o = this.#owners.get(u);
      if (o === undefined) {
        this.#owners.set(u, { slot: target, releasing: false });
        target.units.add(u);
        push(adds, target, u.key);
      } else if (o.slot !== target && o.slot.state === 'live' && !o.releasing) {
        o.releasing = true;
        push(removes, o.slot, u.key);
      }
    }
    for (const [s, units] of removes) this.#send(s, { t: 'remove', units });
    for (const [s, units] of adds) this.#send(s, { t: 'add', units });
  }

  // ---------------------------------------------------------------------------

  async #stopNow(): Promise<void> {
    this.#stats.stop();
    this.#started?.reject(new ClosedError('the fleet was stopped while starting'));
    this.#started?.promise.catch(() => {});
    const waits: Promise<void>[] = [];
    for (const s of this.#slots) {
      sharedTimer.remove(s);
      const child = s.child;
      if (child === undefined) continue;
      waits.push((s.exited as Deferred<void>).promise);
      // a worker not ready may not listen yet: SIGTERM is its stop
      if (s.state === 'starting' || !child.connected) child.kill('SIGTERM');
      else this.#send(s, { t: 'stop' });
    }
    const timer = new StopTimer(() => {
      for (const s of this.#slots) s.child?.kill('SIGKILL');
    });
    timer.deadline = Date.now() + this.#handoffTimeout + STOP_GRACE_MS;
    sharedTimer.add(timer);
    try {
      await Promise.all(waits);
    } finally {
      sharedTimer.remove(timer);
    }
  }

  #warnVolatile(): void {
    const sessions = this.#input.config.sessions;
    const volatile = sessions.filter((s) => s.store === undefined || !s.store.durable).length;
    if (volatile === 0) return;
    const error = new ClusterError(
      `${volatile} of ${sessions.length} sessions keep their state in memory: what one has in flight ` +
        'when it moves to another worker (a worker died, or came back) is lost; a file or redis store keeps it',
      'worker',
    );
    this.#emit('cluster_error', { error });
  }

  #emit: ClusterDriverInput['emit'] = (event, e) => this.#input.emit(event, e);
}

/** `stop()`'s deadline: what is left is killed. */
class StopTimer extends TimerEntry {
  constructor(private readonly run: () => void) {
    super();
  }

  expire(): void {
    this.run();
  }
}
