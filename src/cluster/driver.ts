/**
 * Cluster mode's drivers, as `SessionManager.fromConfig` picks them (the
 * root entry point registers `createClusterDriver` as the manager's
 * cluster loader):
 *
 *   redis, no workers            this process is node `node`: a `FleetNode`
 *   workers, this process        the primary: forks the workers, restarts them,
 *                                runs no session itself (`workers.ts`)
 *   a worker, with redis         node `<node>-w<index>`: a `FleetNode`; the
 *                                primary only restarts it when it dies
 *   a worker, without redis      runs what the primary gives it (`workers.ts`)
 *
 * With Redis, every session's state is in the cluster's `RedisStore` (same
 * Redis, same prefix), on the one ioredis client the node also uses for its
 * membership and leases. A session without a `clientId` uses its name (the
 * lease is by client id, and it must be the same on every node). A session
 * marked `everyNode` is not leased: every node runs its own copy, client id
 * `<clientId>-<node>` (an RPC server in a `$share` group, a node's uplink).
 */
import { hostname } from 'node:os';
import { InvalidArgumentError } from '../core/errors.js';
import { requirePeer } from '../core/peer.js';
import { definedFields } from '../core/validate.js';
import type {
  ClusterDriver,
  ClusterDriverFactory,
  ClusterDriverInput,
  ClusterOptions,
  ClusterRole,
  ClusterStatus,
  ManagedSessionOptions,
  SharedSessionStats,
} from '../manager/index.js';
import { isFleetWorker } from '../manager/index.js';
import type { ClusterMetrics } from '../metrics/index.js';
import { FileStore } from '../store/file.js';
import { MemoryStore } from '../store/memory.js';
import { RedisStore } from '../store/redis.js';
import { OWN_CLIENT_OPTIONS } from '../store/redis-client.js';
import { FleetNode } from './coordinator.js';
import type { FleetClient } from './fleet-options.js';
import { clusterKeys } from './keys.js';
import { LocalStats } from './stats.js';
import { RedisNodeStats } from './stats-redis.js';
import { readClusterStatus, type StatusClient } from './status.js';
import { NODE_ENV, WORKER_ENV, workerId } from './worker-messages.js';

/** The cluster's name when none is given. */
export const DEFAULT_CLUSTER = 'mqttkit';

/** `ClusterOptions` with the defaults that do not depend on the driver. */
export interface ResolvedCluster extends ClusterOptions {
  name: string;
  node: string;
  workers: number;
  prefix: string;
}

export function resolveCluster(o: ClusterOptions): ResolvedCluster {
  return {
    ...o,
    name: o.name ?? DEFAULT_CLUSTER,
    node: o.node ?? hostname(),
    workers: o.workers ?? 0,
    prefix: o.prefix ?? 'mqttkit:',
  };
}

/** The index of this worker (its environment, set by the primary). */
function workerIndex(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const v = env[WORKER_ENV];
  return v === undefined ? undefined : Number(v);
}

export const createClusterDriver: ClusterDriverFactory = async (input) => {
  const o = resolveCluster(input.options);
  const worker = isFleetWorker();
  if (o.workers > 0 && !worker) {
    const { createWorkerPrimary } = await import('./workers.js');
    return createWorkerPrimary({ ...input, options: o });
  }
  if (o.redis === undefined) {
    if (!worker)
      throw new InvalidArgumentError(
        'cluster.redis',
        'is required without workers (a cluster of machines shares its leases in Redis)',
      );
    const { createWorkerMember } = await import('./workers.js');
    return createWorkerMember({ ...input, options: o });
  }
  if (!worker) return new RedisNodeDriver(input, { ...o, redis: o.redis }, 'node');
  // a worker of a primary with Redis: a node of its own, which the primary only supervises
  const { supervisedByPrimary } = await import('./worker-member.js');
  const node = workerId(process.env[NODE_ENV] ?? o.node, workerIndex() ?? 0);
  const driver = new RedisNodeDriver(input, { ...o, redis: o.redis, node }, 'worker');
  const ready = supervisedByPrimary(input.manager);
  return {
    name: driver.name,
    node: driver.node,
    role: driver.role,
    start: () => driver.start().then(ready),
    stop: () => driver.stop(),
    status: () => driver.status(),
    metrics: () => driver.metrics(),
    watchStats: () => driver.watchStats(),
    sharedStats: () => driver.sharedStats(),
  };
};

/** The sessions of the fleet as a cluster runs them: each with a client id, and no store of its own. */
export function clusterSessions(sessions: readonly ManagedSessionOptions[]): ManagedSessionOptions[] {
  return sessions.map((s, i) => {
    if (s.store instanceof FileStore || s.store instanceof MemoryStore)
      throw new InvalidArgumentError(
        `sessions[${i}].store`,
        "must be unset (or a redis store) in a cluster with Redis: every session keeps its state in the cluster's Redis",
      );
    const { store: _ignored, ...rest } = s;
    return { ...rest, clientId: s.clientId ?? s.name };
  });
}

/** The node's ioredis client, as the driver uses it. */
type NodeClient = FleetClient &
  StatusClient & { connect(): Promise<void>; quit(): Promise<unknown>; disconnect(): void; status: string };

/** A node of a cluster on Redis: one ioredis client, the store on it, and a `FleetNode`. */
class RedisNodeDriver implements ClusterDriver {
  readonly name: string;
  readonly node: string;
  readonly #client: NodeClient;
  readonly #store: RedisStore;
  readonly #fleet: FleetNode;
  /** Its sessions' numbers, shared while someone watches. */
  readonly #stats: RedisNodeStats;
  readonly #sessions: readonly { name: string; clientId: string }[];
  readonly #prefix: string;
  /** The `everyNode` sessions, as this node runs them. */
  readonly #own: ManagedSessionOptions[];
  readonly #input: ClusterDriverInput;
  #started: Promise<void> | undefined;

  constructor(
    input: ClusterDriverInput,
    o: ResolvedCluster & { redis: string },
    readonly role: ClusterRole,
  ) {
    this.name = o.name;
    this.node = o.node;
    this.#prefix = o.prefix;
    this.#input = input;
    const every = new Set(input.config.everyNode);
    const sessions = clusterSessions(input.config.sessions.filter((s) => !every.has(s.name)));
    this.#own = clusterSessions(input.config.sessions.filter((s) => every.has(s.name))).map((s) => ({
      ...s,
      clientId: `${s.clientId}-${o.node}`,
    }));
    this.#sessions = sessions.map((s) => ({ name: s.name, clientId: s.clientId as string }));
    const { Redis } = requirePeer<typeof import('ioredis')>('ioredis', 'cluster mode');
    const client = new Redis(o.redis, { ...OWN_CLIENT_OPTIONS, lazyConnect: true });
    client.on('error', () => {}); // its failures reach the node as failed renewals
    this.#client = client as unknown as NodeClient;
    this.#store = new RedisStore({ client: this.#client as never, prefix: o.prefix });
    this.#fleet = new FleetNode({
      manager: input.manager,
      sessions,
      forwarders: input.config.forwarders,
      client: this.#client,
      store: this.#store,
      cluster: o.name,
      node: o.node,
      prefix: o.prefix,
      ...definedFields({
        weight: o.weight,
        ttl: o.ttl,
        margin: o.margin,
        interval: o.interval,
        handoffTimeout: o.handoffTimeout,
        concurrency: input.config.manager.concurrency,
      }),
    });
    this.#stats = new RedisNodeStats(
      this.#client,
      clusterKeys(o.prefix, o.name),
      this.#fleet.membership,
      new LocalStats(input.manager),
    );
    const node = o.node;
    const f = this.#fleet;
    f.on('session_acquired', (e) => input.emit('session_acquired', { ...e, node }));
    f.on('session_released', (e) => input.emit('session_released', { ...e, node }));
    f.on('node_joined', (e) => input.emit('node_joined', { node: e.id }));
    f.on('node_left', (e) => input.emit('node_left', { node: e.id }));
    f.on('error', (error) => input.emit('cluster_error', { error }));
  }

  /** Connects to Redis, starts the everyNode sessions and joins; a failure lets a later call try again. */
  start(): Promise<void> {
    this.#started ??= (async () => {
      if (this.#client.status === 'wait') await this.#client.connect();
      const { manager, emit } = this.#input;
      for (const s of this.#own) {
        if (manager.get(s.name) !== undefined) continue; // added by a start that failed later
        const session = manager.add({ ...s, store: this.#store });
        // it reconnects by itself; a first connect that fails is the cluster's to report
        session.connect().catch((error: Error) => emit('cluster_error', { error }));
      }
      this.#stats.start();
      await this.#fleet.start();
    })().catch((err: unknown) => {
      this.#started = undefined;
      throw err;
    });
    return this.#started;
  }

  async stop(): Promise<void> {
    this.#stats.stop();
    try {
      await this.#fleet.stop();
      await this.#store.close();
    } finally {
      // never connected (a fleet closed before it joined): nothing to say goodbye to
      if (this.#client.status === 'wait') this.#client.disconnect();
      else await this.#client.quit().catch(() => undefined);
    }
  }

  metrics(): ClusterMetrics {
    return this.#fleet.metrics();
  }

  watchStats(): () => void {
    return this.#stats.watch();
  }

  sharedStats(): Promise<SharedSessionStats[]> {
    return this.#stats.shared();
  }

  status(): Promise<ClusterStatus> {
    return readClusterStatus(this.#client, {
      cluster: this.name,
      prefix: this.#prefix,
      sessions: this.#sessions,
      node: this.node,
      role: this.role,
    });
  }
}
