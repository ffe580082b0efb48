/**
 * Cluster mode, as the manager sees it: the options (`fromConfig`'s
 * `cluster` option, or a fleet file's `cluster:` section), what
 * `manager.cluster` shows, and the driver that runs a fleet file's sessions
 * somewhere other than "all of them, here".
 *
 * The drivers live in `cluster/` (a floor above this one): a Redis node
 * (`FleetNode`), the primary of `workers` processes, or one worker. The
 * manager reaches them through a loader the root entry point registers
 * (`setClusterLoader`), so `import { SessionManager } from 'mqttkit'` loads
 * none of that code, nor ioredis, until a fleet asks for a cluster.
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { ClusterMetrics } from '../metrics/index.js';
import type { SessionState } from '../session/index.js';
import type { FleetConfig } from './config.js';
import type { SessionManager } from './manager.js';
import type { ManagerEvents } from './types.js';

/**
 * Cluster mode of a fleet file (`cluster:` in the file, or `fromConfig`'s
 * `cluster` option, which wins field by field). Every node of a cluster
 * loads the same fleet; each session runs on exactly one live node.
 */
export interface ClusterOptions {
  /**
   * Redis (a `redis://` or `rediss://` URL) holding the membership, the
   * leases and every session's state (the sessions' store becomes a
   * `RedisStore` there). Without it, `workers` share the fleet on this
   * machine only.
   */
  redis?: string;
  /** The cluster's name: every node of one fleet uses the same. @default 'mqttkit' */
  name?: string;
  /** This node's id, unique in the cluster (no white space). @default the host name */
  node?: string;
  /**
   * Worker processes on this machine (`node:cluster`): this process
   * becomes their primary, runs no session itself, restarts a worker that
   * dies, and each worker runs a share of the fleet. @default 0 (no workers)
   */
  workers?: number;
  /** Key prefix in Redis, of the cluster's keys and the store's. @default 'mqttkit:' */
  prefix?: string;
  /** This node's share relative to the others' (0: hand everything over). @default 1 */
  weight?: number;
  /** The lease time of a node, in ms. @default 10000 */
  ttl?: number;
  /** How long before its lease could run out a node stops its sessions, in ms. @default ttl / 5 */
  margin?: number;
  /**
   * ms between lease renewals (workers without Redis: between the primary's polls of the
   * workers' numbers while watched, default 1000). @default (ttl - margin) / 3
   */
  interval?: number;
  /** How long a handoff waits for what a session has in flight, in ms. @default (ttl - margin) / 2, at most 5000 */
  handoffTimeout?: number;
}

/** Where this process is in a cluster. */
export type ClusterRole = 'node' | 'primary' | 'worker';

/** One node of the cluster, as `status()` sees it. */
export interface ClusterNodeStatus {
  /** The node's id. */
  readonly id: string;
  /** Its share relative to the others'. */
  readonly weight: number;
  /** ms until its lease runs out (Redis's clock, read now); undefined for workers without Redis. */
  readonly expiresIn: number | undefined;
  /** The names of the sessions it holds. */
  readonly sessions: readonly string[];
}

/** A session of the fleet, as `status()` sees it. */
export interface ClusterSessionStatus {
  /** The session's name in the fleet. */
  readonly name: string;
  /** Its client id (what the lease is for). */
  readonly clientId: string;
  /** The node holding it; undefined while nobody does. */
  readonly node: string | undefined;
  /** Its fencing token (Redis only). */
  readonly token: number | undefined;
}

/** What `manager.cluster.status()` shows: every node and who runs what. */
export interface ClusterStatus {
  /** The cluster's name. */
  readonly cluster: string;
  /** This process's node id. */
  readonly node: string;
  /** Where this process is in the cluster. */
  readonly role: ClusterRole;
  /** The live nodes (or workers), by id. */
  readonly nodes: readonly ClusterNodeStatus[];
  /** Every session of the fleet, in the file's order. */
  readonly sessions: readonly ClusterSessionStatus[];
}

/**
 * One session's numbers as the node running it last shared them
 * ({@link FleetCluster.sharedStats}).
 */
export interface SharedSessionStats {
  /** The session's name in the fleet. */
  name: string;
  /** The node running it (a worker's id for workers). */
  node: string;
  /** Where it connects, without credentials, query or fragment (`Session.url`). */
  url: string;
  /** The protocol level in use: 5 or 4 (MQTT 3.1.1). */
  version: 4 | 5;
  /** Its state on that node. */
  state: SessionState;
  /** Connected with its subscriptions in place (`manager.isReady`). */
  ready: boolean;
  /** QoS 1/2 operations sent and not yet acknowledged. */
  inflight: number;
  /** Operations waiting (offline queue, send quota). */
  queued: number;
  /** Messages received per second: the node's current rate (`manager.metrics()`). */
  in: number;
  /** Messages published per second: the node's current rate. */
  out: number;
  /** Successful reconnects since it started on that node. */
  reconnects: number;
  /** Errors counted by the session since it started on that node. */
  errors: number;
  /** Publishes dropped from its offline queue. */
  dropped: number;
  /** Its latest `session_error`, or connection lost with an error, on that node; null when none. */
  lastError: {
    /** The error's message. */
    message: string;
    /** Its code (`ERR_MQTT_...`). */
    code: string;
    /** When, ms since the epoch on that node's clock. */
    t: number;
  } | null;
  /** When the node computed these numbers: `Date.now()` there. */
  t: number;
}

/** `manager.cluster`: the cluster a manager made by `fromConfig` in cluster mode belongs to. */
export interface FleetCluster {
  /** The cluster's name. */
  readonly name: string;
  /** This process's node id (a worker's is `<node>-w<index>`). */
  readonly node: string;
  /** A node, the primary of workers, or a worker. */
  readonly role: ClusterRole;
  /** Every node and who runs what, read now (from Redis, or from the primary of the workers). */
  status(): Promise<ClusterStatus>;
  /** This node's counters (also in `registry()` as `mqttkit_cluster_*`). */
  metrics(): ClusterMetrics;
  /**
   * Starts sharing: while anyone watches, every node (this one included)
   * shares its sessions' numbers, once per renewal period (with Redis) or
   * when the primary of workers asks for them (once per `interval`, default
   * 1 s). Returns the function that stops this watch (later calls of it do
   * nothing). With Redis, sharing ends about one `ttl` after the last watch
   * anywhere stopped (the watch key runs out); between workers, at once.
   * Nobody watching, the nodes share nothing and pay nothing for it.
   */
  watchStats(): () => void;
  /**
   * The latest numbers every live node shared, this node's own included
   * (read at the call), by node, each node's sessions in its order; `[]`
   * before the first share (the primary of workers runs no session).
   * Rows of nodes no longer members are left out.
   */
  sharedStats(): Promise<SharedSessionStats[]>;
}

/**
 * What runs a fleet in cluster mode: `connectAll()` calls `start()`,
 * `close()` calls `stop()` (a graceful handoff) before closing the rest.
 */
export interface ClusterDriver extends FleetCluster {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** What a driver is made from. */
export interface ClusterDriverInput {
  /** The manager the sessions run on (empty, made by `fromConfig`). */
  readonly manager: SessionManager;
  /** The fleet file, loaded: none of its sessions or forwarders added. */
  readonly config: FleetConfig;
  /** The file's `cluster:` section with the option's fields over it. */
  readonly options: ClusterOptions;
  /** The fleet file's path (workers load it again). */
  readonly path: string;
  /** Emits a manager event (the cluster's: `session_acquired`, `node_joined`, `cluster_error`, ...). */
  emit<K extends keyof ManagerEvents>(event: K, e: ManagerEvents[K]): void;
}

export type ClusterDriverFactory = (input: ClusterDriverInput) => Promise<ClusterDriver>;

let loader: (() => Promise<ClusterDriverFactory>) | undefined;

/** Registers where the cluster drivers come from (the root entry point does, with a dynamic import). */
export function setClusterLoader(load: () => Promise<ClusterDriverFactory>): void {
  loader = load;
}

/** The driver factory; `InvalidArgumentError` when nothing registered one (the manager was imported without the root). */
export async function clusterDriverFactory(): Promise<ClusterDriverFactory> {
  if (loader === undefined)
    throw new InvalidArgumentError(
      'options.cluster',
      "needs SessionManager imported from 'mqttkit' (the entry point that loads cluster mode)",
    );
  return loader();
}

/** Whether this process is a worker started by a fleet's primary (its environment says so). */
export function isFleetWorker(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.MQTTKIT_FLEET_WORKER !== undefined;
}
