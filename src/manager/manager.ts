/**
 * `SessionManager`, the façade: it adds, removes and connects the sessions
 * and hands every other job to a part with one job, all sharing one
 * `ManagerState` (the members by name, closing, `session_error`):
 *
 *   routes.ts       RouteTable: routes and the filter subscriptions behind them
 *   readiness.ts    Readiness: `session_ready`, `isReady`, `waitReady`
 *   events.ts       bindEvents: a session's events as the manager's
 *   from-config.ts  addFleet: the sessions, stores and forwarders of a file
 *   metrics.ts      ManagerMetrics: the sampler, registry and servers
 *   cluster.ts      cluster mode: a driver (cluster/) runs the file's sessions
 *
 * Built only on the public `Session` API.
 */

import { randomBytes } from 'node:crypto';
import { SafeEmitter } from '../core/emitter.js';
import { ClosedError, ConnectionError, ErrorCode, InvalidArgumentError, MqttError } from '../core/errors.js';
import { checkOptions } from '../core/schema.js';
import { definedFields } from '../core/validate.js';
import { Forwarder, type ForwarderHost, type ForwarderOptions } from '../forward/forwarder.js';
import type { FleetSnapshot } from '../metrics/index.js';
import {
  type MetricsHandler,
  type MetricsServer,
  metricsHandler,
  type PrometheusOptions,
  type PrometheusRegistry,
  type ServeMetricsOptions,
} from '../metrics/index.js';
import { type PublishOptions, type PublishResult, Session } from '../session/index.js';
import {
  type ClusterDriver,
  type ClusterOptions,
  clusterDriverFactory,
  type FleetCluster,
} from './cluster.js';
import { type LoadFleetConfigOptions, loadFleetConfig } from './config.js';
import { type DashboardOptions, type DashboardServer, dashboardFactory } from './dashboard.js';
import { bindEvents } from './events.js';
import { addFleet, closeStores } from './from-config.js';
import { ManagerMetrics } from './metrics.js';
import { Readiness } from './readiness.js';
import type { RouteStream } from './route-stream.js';
import { checkHandler, checkName, checkSubscriptions, RouteTable } from './routes.js';
import { CLOSE_OPTIONS, CONNECT_ALL_OPTIONS, DASHBOARD_OPTIONS, MANAGER_OPTIONS } from './schema.js';
import { ManagerState, Member } from './state.js';
import type {
  FleetHandler,
  FleetRoute,
  ListenOptions,
  ManagedSessionOptions,
  ManagerEventArgs,
  ManagerEvents,
  RouteOptions,
  SessionManagerOptions,
  SessionOptionsBuilder,
} from './types.js';

/** `connectAll()` failed for some sessions; the others are connected. */
export class FleetConnectError extends ConnectionError {
  /** The error of each session that did not connect, by name. */
  readonly failures: ReadonlyMap<string, Error>;
  constructor(failures: ReadonlyMap<string, Error>, total: number) {
    const shown = [...failures].slice(0, 5).map(([name, e]) => `${name} (${e.message})`);
    const more = failures.size > 5 ? ` and ${failures.size - 5} more` : '';
    super(`${failures.size} of ${total} sessions did not connect: ${shown.join(', ')}${more}`);
    this.failures = failures;
  }
}

/**
 * Many named sessions in one process, with routes across them, readiness,
 * events, forwarders and fleet metrics.
 *
 * ```ts
 * const manager = new SessionManager();
 * for (let i = 0; i < 100; i++) manager.add({ name: `device-${i}`, url: 'mqtt://localhost:1883' });
 * manager.handle('cmd/#', (m) => console.log(m.session, m.topic));
 * await manager.connectAll();
 * await manager.waitReady();
 * await manager.publishTo('device-7', 'state/device-7', 'on', { qos: 1 });
 * await manager.close();
 * ```
 *
 * A route ({@link SessionManager.handle}, {@link SessionManager.handleTo},
 * {@link SessionManager.listen}, {@link SessionManager.listenTo}) is a
 * filter and a consumer. For each session it applies to, the manager holds
 * one subscription per filter, at the highest QoS any route on that filter
 * asked for, and fans each message out to every route on the filter. The
 * subscription is made when the session is connected (at once, or at its
 * next CONNACK), the session restores it after a reconnect, and it is
 * unsubscribed when the last route on the filter stops. With MQTT 5 each
 * filter's subscription gets a subscription identifier: a broker that sends
 * one copy of a message per overlapping subscription (`a/#` and `a/+`)
 * still reaches each route once.
 *
 * Events ({@link ManagerEvents}) are emitted synchronously, from the
 * sessions' own callbacks; a listener that throws is reported as
 * `session_error` and cannot stop the others, and a listener may call back
 * into the manager (`get`, `waitReady`, `remove`, `handle`...).
 *
 * @throws {@link InvalidArgumentError} from the constructor when an option is not valid.
 */
export class SessionManager extends SafeEmitter<ManagerEventArgs> {
  readonly #state = new ManagerState(this);
  readonly #readiness = new Readiness(this.#state);
  readonly #routes = new RouteTable(this.#state, this.#readiness);
  readonly #metrics: ManagerMetrics;
  readonly #forwarders = new Set<Forwarder>();
  readonly #dashboards = new Set<DashboardServer>();
  readonly #concurrency: number;
  /** Cluster mode's driver (`fromConfig` with a cluster): it runs the sessions, not `connectAll()`. */
  #driver: ClusterDriver | undefined;
  /** Identifies this manager in the loop marker of forwarded messages. */
  readonly id: string = randomBytes(8).toString('hex');
  /** What this manager's forwarders see of it: one object, whose identity their shared loop guard keys on. */
  readonly #forwarderHost: ForwarderHost = {
    get: (name) => this.get(name),
    id: this.id,
    logger: () => this.#state.logger,
  };

  constructor(options: SessionManagerOptions = {}) {
    super();
    checkOptions(options, MANAGER_OPTIONS, '');
    this.#concurrency = options.concurrency ?? 50;
    this.#state.logger = options.logger;
    this.#metrics = new ManagerMetrics(this, options.metricsInterval ?? 1000, () => this.#driver?.metrics());
  }

  /**
   * A manager with the fleet of a YAML or JSON file (see `loadFleetConfig`
   * for the format): every session added, none connected, and the file's
   * forwarders made. Each forwarder starts by itself once all its `from`
   * sessions are connected (`connectAll()`, or each session's `connect()`);
   * a start that fails (a subscription refused) is reported as
   * `session_error` and tried again at the next connect of a source. Rejects
   * with `ConfigError`, which names the path of each bad field
   * (`sessions[3].tls.ca: file not found (./ca.pem)`). The stores the file
   * declares belong to the manager: `close()` closes them.
   */
  static async fromConfig(
    path: string,
    options: LoadFleetConfigOptions & SessionManagerOptions & { cluster?: ClusterOptions } = {},
  ): Promise<SessionManager> {
    const config = await loadFleetConfig(path, { env: options.env });
    const m = new SessionManager({
      ...config.manager,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.logger === undefined ? {} : { logger: options.logger }),
    });
    if (config.cluster === undefined && options.cluster === undefined) {
      addFleet(m, m.#state, config);
      return m;
    }
    const state = m.#state;
    const factory = await clusterDriverFactory();
    m.#driver = await factory({
      manager: m,
      config,
      options: { ...config.cluster, ...definedFields(options.cluster) },
      path,
      emit: (event, e) => state.emit(event, e),
    });
    return m;
  }

  /**
   * Cluster mode (`fromConfig` with a `cluster:` section or option): this
   * node's view of the cluster. The sessions of the file are not added
   * here: `connectAll()` joins the cluster (or starts the workers) and the
   * sessions placed on this node come and go by themselves
   * (`session_acquired`, `session_released`); `close()` hands them over
   * first. Undefined for a manager that is not in a cluster.
   */
  get cluster(): FleetCluster | undefined {
    return this.#driver;
  }

  // ---------------------------------------------------------------------------
  // sessions

  /**
   * Adds a session (not connected: call `connectAll()` or `session.connect()`)
   * and returns it. Throws `InvalidArgumentError` for bad options or a name
   * already in use, `ClosedError` after `close()`.
   */
  add(input: ManagedSessionOptions | SessionOptionsBuilder): Session {
    const state = this.#state;
    if (state.closed) throw new ClosedError('the session manager is closed');
    if (input === null || typeof input !== 'object') {
      throw new InvalidArgumentError('options', 'must be session options or a builder');
    }
    const o =
      'build' in input && typeof input.build === 'function'
        ? input.build()
        : (input as ManagedSessionOptions);
    const { name, subscriptions, ...options } = o;
    checkName(name);
    if (state.members.has(name))
      throw new InvalidArgumentError('name', `a session named '${name}' exists already`);
    const own = checkSubscriptions(subscriptions);
    // the session binds `session: name` to its lines itself (see SessionOptions.name)
    const session = new Session({ ...options, name, logger: options.logger ?? state.logger });
    const member = new Member(name, session);
    state.members.set(name, member);
    member.unbind = bindEvents(member, state, this.#routes, this.#readiness);
    this.#routes.addMember(member, own);
    state.logger?.debug({ session: name, clientId: session.clientId }, 'session added');
    this.emit('session_added', { name, session });
    return session;
  }

  /**
   * Closes the session and removes it: its routes from `handleTo` stay, and
   * apply again to a session later added under the same name. Resolves
   * false when there is no such session.
   */
  async remove(name: string, options: { timeout?: number } = {}): Promise<boolean> {
    checkOptions(options, CLOSE_OPTIONS, 'options');
    const m = this.#state.members.get(name);
    if (m === undefined) return false;
    this.#state.members.delete(name);
    this.#readiness.removed(name);
    await m.session.close(options);
    m.unbind();
    m.subs.clear();
    this.#state.logger?.debug({ session: name }, 'session removed');
    this.emit('session_removed', { name });
    return true;
  }

  /** The session added under `name`, or undefined. */
  get(name: string): Session | undefined {
    return this.#state.members.get(name)?.session;
  }

  /** Whether a session named `name` was added (and not removed). */
  has(name: string): boolean {
    return this.#state.members.has(name);
  }

  /** The names of the sessions, in the order they were added. */
  list(): string[] {
    return [...this.#state.members.keys()];
  }

  /** `[name, session]` pairs, in the order they were added. */
  *entries(): IterableIterator<[string, Session]> {
    for (const [name, m] of this.#state.members) yield [name, m.session];
  }

  /** Number of sessions. */
  get size(): number {
    return this.#state.members.size;
  }

  /** True when the session is connected and its subscriptions (its own and the routes') are in place. */
  isReady(name: string): boolean {
    return this.#readiness.isReady(name);
  }

  /**
   * Connects every session, at most `concurrency` at a time (a connected
   * session counts at once; a reconnecting one when it is back). Resolves
   * when all are connected; otherwise rejects, once every attempt ended,
   * with `FleetConnectError` naming each session that failed. In cluster
   * mode it joins the cluster instead (see `cluster`) and resolves once
   * joined; the sessions start at the renewals that follow.
   */
  async connectAll(options: { concurrency?: number; signal?: AbortSignal } = {}): Promise<void> {
    checkOptions(options, CONNECT_ALL_OPTIONS, 'options');
    if (this.#driver !== undefined) {
      if (this.#state.closed) throw new ClosedError('the session manager is closed');
      return this.#driver.start();
    }
    const limit = options.concurrency ?? this.#concurrency;
    const state = this.#state;
    const members = [...state.members.values()];
    const failures = new Map<string, Error>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < members.length) {
        const m = members[next++];
        if (!state.isCurrent(m)) continue; // removed meanwhile
        try {
          await m.session.connect({ signal: options.signal });
        } catch (err) {
          failures.set(m.name, err as Error);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, members.length) }, worker));
    if (failures.size > 0) throw new FleetConnectError(failures, members.length);
  }

  /**
   * Resolves when every named session (all of them by default) is ready:
   * connected, with its subscriptions in place. Rejects with `TimeoutError`
   * naming those that are not after `timeout` ms (default 30 s; 0 waits
   * forever), `InvalidArgumentError` for an unknown name, `ClosedError` when
   * one is removed or the manager closes, `AbortError` on `signal`.
   */
  waitReady(
    names?: string | readonly string[],
    options: number | { timeout?: number; signal?: AbortSignal } = {},
  ): Promise<void> {
    return this.#readiness.wait(names, options);
  }

  /** Publishes through the named session (see `Session.publish`). */
  publishTo(
    name: string,
    topic: string,
    payload: string | Uint8Array,
    options?: PublishOptions,
  ): Promise<PublishResult> {
    const s = this.#state.members.get(name)?.session;
    if (s === undefined)
      return Promise.reject(new InvalidArgumentError('name', `no session named '${name}'`));
    return s.publish(topic, payload, options);
  }

  // ---------------------------------------------------------------------------
  // routes

  /** Calls `fn` with every message matching `filter` on every session, present and future. */
  handle(filter: string, fn: FleetHandler, options: RouteOptions = {}): FleetRoute {
    return this.#routes.add(undefined, filter, checkHandler(fn), options, undefined);
  }

  /** Calls `fn` with every message matching `filter` on the session `name` (or a later one of that name). */
  handleTo(name: string, filter: string, fn: FleetHandler, options: RouteOptions = {}): FleetRoute {
    return this.#routes.add(checkName(name), filter, checkHandler(fn), options, undefined);
  }

  /**
   * Messages matching `filter` on every session, as an async iterable with
   * a bounded buffer (`buffer`, default 1000) and a drop policy (`drop`,
   * default `'drop-oldest'`); `received` and `dropped` count them. Breaking
   * out of `for await` or `stop()` ends the route.
   */
  listen(filter: string, options: ListenOptions = {}): RouteStream {
    return this.#routes.listen(undefined, filter, options);
  }

  /** `listen` on one session. */
  listenTo(name: string, filter: string, options: ListenOptions = {}): RouteStream {
    return this.#routes.listen(checkName(name), filter, options);
  }

  // ---------------------------------------------------------------------------
  // forwarding

  /**
   * A forwarder from the `from` sessions to the `to` session (see
   * `Forwarder`); call `start()` once they are connected. It stops when the
   * manager closes.
   */
  forward(options: ForwarderOptions): Forwarder {
    if (this.#state.closed) throw new ClosedError('the session manager is closed');
    const f = new Forwarder(this.#forwarderHost, options);
    this.#forwarders.add(f);
    return f;
  }

  /** The forwarders made by `forward()` (and `fromConfig`), in the order they were made, until `close()`. */
  forwarders(): Forwarder[] {
    return [...this.#forwarders];
  }

  // ---------------------------------------------------------------------------
  // metrics

  /**
   * Counters, states and rates of every session, and their totals. The
   * first call starts sampling (every `metricsInterval` ms): current rates
   * cover the last full interval, average rates the time since a session
   * was first seen.
   */
  metrics(): FleetSnapshot {
    return this.#metrics.snapshot();
  }

  /**
   * A prom-client registry with the fleet's metrics, computed at each scrape
   * (made at the first call; `options` apply then). Every per-session series
   * has a `session` label; removed sessions disappear. Needs the optional
   * package prom-client (`npm install prom-client`): without it, this throws
   * `MissingPeerError`.
   */
  registry(options?: Pick<PrometheusOptions, 'prefix' | 'defaultLabels'>): PrometheusRegistry {
    return this.#metrics.registry(options);
  }

  /**
   * A `node:http` request handler answering with `registry()` in the text format.
   *
   * @deprecated `metricsHandler(manager.registry())`, with the root export `metricsHandler`, does
   * the same.
   */
  metricsHandler(): MetricsHandler {
    return metricsHandler(this.registry());
  }

  /**
   * Serves `registry()` at `http://host:port/metrics` (defaults: 127.0.0.1,
   * port 9464; 0 picks a free port). The server closes with the manager.
   */
  async serveMetrics(options: Omit<ServeMetricsOptions, 'registry'> = {}): Promise<MetricsServer> {
    if (this.#state.closed) throw new ClosedError('the session manager is closed');
    return this.#metrics.serve(options);
  }

  /**
   * Serves the live web dashboard of this fleet at `http://host:port/`
   * (defaults: 127.0.0.1, port 9470; 0 picks a free port): the sessions'
   * states and rates, each session's history and events, the topics its
   * sessions receive (with a publish form), RPC routes and forwarders;
   * in cluster mode, every node's sessions. Beyond loopback it needs a
   * `token`. Loads the dashboard's code on first use; the server closes
   * with the manager. Rejects with `InvalidArgumentError` for options
   * that are not valid, or when the port cannot be bound.
   */
  async serveDashboard(options: DashboardOptions = {}): Promise<DashboardServer> {
    checkOptions(options, DASHBOARD_OPTIONS, 'options');
    if (this.#state.closed) throw new ClosedError('the session manager is closed');
    const serve = await dashboardFactory();
    const server = await serve(this, options, (s) => this.#dashboards.delete(s));
    if (this.#state.closed) {
      await server.close();
      throw new ClosedError('the session manager is closed');
    }
    this.#dashboards.add(server);
    return server;
  }

  /**
   * Closes every session (each waits up to `timeout` ms for its operations
   * in flight), ends every route and `listen` stream, and rejects pending
   * `waitReady` calls. Always resolves; later calls return the same promise.
   */
  close(options: { timeout?: number } = {}): Promise<void> {
    try {
      checkOptions(options, CLOSE_OPTIONS, 'options');
    } catch (err) {
      return Promise.reject(err);
    }
    this.#state.closing ??= this.#closeNow(options);
    return this.#state.closing;
  }

  async #closeNow(options: { timeout?: number }): Promise<void> {
    const state = this.#state;
    // cluster mode: the sessions are handed over (or closed) by the driver first
    await this.#driver?.stop().catch((err: unknown) => state.emit('cluster_error', { error: err as Error }));
    this.#readiness.close();
    this.#metrics.stopSampling();
    await Promise.all([...this.#forwarders].map((f) => f.stop()));
    this.#forwarders.clear();
    await this.#metrics.closeServers();
    await Promise.all([...this.#dashboards].map((d) => d.close()));
    this.#dashboards.clear();
    this.#routes.close();
    const members = [...state.members.values()];
    await Promise.all(members.map((m) => m.session.close(options)));
    for (const m of members) {
      m.unbind();
      m.subs.clear();
      if (state.isCurrent(m)) state.members.delete(m.name);
    }
    await closeStores(state);
    state.flushLog();
  }

  /** @internal A manager event listener threw: report it as `session_error` (unless that is what threw). */
  protected override listenerFailed(err: unknown, event: keyof ManagerEvents): void {
    if (event === 'session_error') return;
    const error = new MqttError(
      ErrorCode.Handler,
      `a '${String(event)}' listener threw: ${(err as Error)?.message}`,
      undefined,
      { cause: err },
    );
    this.#state.emit('session_error', { name: '', error });
  }
}
