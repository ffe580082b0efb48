/**
 * `SessionManager`: many named sessions in one process, with routes across
 * them.
 *
 * A route (`handle`, `handleTo`, `listen`, `listenTo`) is a filter and a
 * consumer. For each session it applies to, the manager holds one
 * subscription per filter, at the highest QoS any route on that filter
 * asked for, and fans each message out to every route on the filter. The
 * subscription is made when the session is connected (at once, or at its
 * next CONNACK), the session restores it after a reconnect, and it is
 * unsubscribed when the last route on the filter stops. With MQTT 5 each
 * filter's subscription gets a subscription identifier: a broker that sends
 * one copy of a message per overlapping subscription (`a/#` and `a/+`)
 * still reaches each route once.
 *
 * Events are emitted synchronously, from the session's own callbacks; a
 * listener that throws is reported as `session_error` and cannot stop the
 * others, and a listener may call back into the manager (`get`,
 * `waitReady`, `remove`, `handle`...).
 *
 * Built only on the public `Session` API.
 */

import { randomBytes } from 'node:crypto';
import { isValidTopicFilter } from '../codec/topic.js';
import type { QoS } from '../codec/types.js';
import { SafeEmitter } from '../core/emitter.js';
import {
  AbortError,
  ClosedError,
  ConnectionError,
  ErrorCode,
  InvalidArgumentError,
  MqttError,
  StoreError,
  TimeoutError,
} from '../core/errors.js';
import { checkOptions } from '../core/schema.js';
import { intOption, qosOption } from '../core/validate.js';
import { Forwarder, type ForwarderOptions } from '../forward/forwarder.js';
import { LoopGuard } from '../forward/loops.js';
import { FleetMetrics, type FleetSnapshot } from '../metrics/fleet.js';
import {
  createRegistry,
  type MetricsHandler,
  type MetricsServer,
  metricsHandler,
  type PrometheusOptions,
  type PrometheusRegistry,
  type ServeMetricsOptions,
  serveMetrics,
} from '../metrics/prometheus.js';
import { MessageStream } from '../session/message-stream.js';
import { Session } from '../session/session.js';
import type {
  ConnackInfo,
  Message,
  MessageHandler,
  PublishOptions,
  PublishResult,
  SessionState,
  Subscription,
} from '../session/types.js';
import { FileStore, type FileStoreDamage } from '../store/file.js';
import type { SessionStore } from '../store/types.js';
import { type LoadFleetConfigOptions, loadFleetConfig } from './config.js';
import { CLOSE_OPTIONS, CONNECT_ALL_OPTIONS, MANAGER_OPTIONS, WAIT_READY_OPTIONS } from './schema.js';
import type {
  FleetHandler,
  FleetMessage,
  ListenOptions,
  ManagedSessionOptions,
  ManagerEventArgs,
  ManagerEvents,
  RouteOptions,
  SessionManagerOptions,
  SessionOptionsBuilder,
} from './types.js';

/** A route across sessions: `stop()` ends it and unsubscribes filters no other route uses. */
export interface Route {
  /** The topic filter the route receives messages for. */
  readonly filter: string;
  /** The session it is bound to (`handleTo`, `listenTo`), or undefined for every session. */
  readonly session: string | undefined;
  /** False once stopped (or the manager closed). */
  readonly active: boolean;
  /** Resolves when the unsubscribes it caused are done (failures are reported as `session_error`). */
  stop(): Promise<void>;
}

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

/** A message as a route sees it: the session's message plus the session's name. */
class RoutedMessage implements FleetMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly dup: boolean;
  readonly properties: Message['properties'];
  constructor(
    m: Message,
    readonly session: string,
  ) {
    this.topic = m.topic;
    this.payload = m.payload;
    this.qos = m.qos;
    this.retain = m.retain;
    this.dup = m.dup;
    this.properties = m.properties;
  }
}

interface RouteEntry {
  readonly filter: string;
  /** A session name, or undefined for every session. */
  readonly target: string | undefined;
  readonly qos: QoS;
  readonly options: RouteOptions;
  readonly deliver: (m: FleetMessage) => void;
  active: boolean;
  /** Routes from a session's own `subscriptions` end with it. */
  readonly owner: Member | undefined;
  /** Ends a `listen` stream when the route stops. */
  readonly end: (() => void) | undefined;
}

/** One filter of one session: the routes on it and the session subscription that feeds them. */
class FilterSub {
  readonly routes = new Set<RouteEntry>();
  subscription: Subscription | undefined = undefined;
  subscribedQos = -1;
  /** A subscribe or unsubscribe is in flight: `sync` waits for it. */
  busy = false;
  /** Subscribing failed on this connection (reported): it counts as settled, and the next CONNACK tries again. */
  refused = false;
  /** Its MQTT 5 subscription identifier (0: none), so overlapping filters do not deliver twice. */
  id = 0;
  readonly dispatch: MessageHandler;
  /** `stop()` calls waiting for the unsubscribe that follows an in-flight subscribe. */
  unsubscribed: (() => void)[] | undefined = undefined;
  constructor(
    readonly member: Member,
    readonly filter: string,
    manager: SessionManager,
  ) {
    this.dispatch = (m) => manager._dispatch(this, m);
  }

  wantedQos(): QoS {
    let q: QoS = 0;
    for (const r of this.routes) if (r.qos > q) q = r.qos;
    return q;
  }

  /** Subscribed (or refused) at the QoS the routes want. */
  get settled(): boolean {
    return (
      !this.busy &&
      (this.refused || (this.subscription !== undefined && this.subscribedQos >= this.wantedQos()))
    );
  }
}

class Member {
  readonly subs = new Map<string, FilterSub>();
  /** The last subscription identifier given to one of its filters. */
  lastId = 0;
  /** Connected, and every subscription (its own and the routes') in place. */
  ready = false;
  /** CONNACKs seen, and the one `session_ready` was last emitted for: once per connection. */
  connections = 0;
  readyEmittedFor = -1;
  unbind: () => void = noop;
  constructor(
    readonly name: string,
    readonly session: Session,
  ) {}
}

interface ReadyWaiter {
  readonly names: Set<string>;
  resolve(): void;
  reject(error: Error): void;
}

const noop = (): void => {};
const MAX_SUBSCRIPTION_ID = 268_435_455;

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
  private readonly members = new Map<string, Member>();
  private readonly routes = new Set<RouteEntry>();
  private readonly waiters = new Set<ReadyWaiter>();
  private readonly concurrency: number;
  private closing: Promise<void> | undefined = undefined;
  /** Stores the manager made (from a config file): closed after the sessions. */
  private readonly stores = new Set<SessionStore>();
  private readonly metricsInterval: number;
  private sampler: FleetMetrics | undefined = undefined;
  private promRegistry: PrometheusRegistry | undefined = undefined;
  private readonly servers = new Set<MetricsServer>();
  private readonly forwarderSet = new Set<Forwarder>();
  /** Identifies this manager in the loop marker of forwarded messages. */
  readonly id: string = randomBytes(8).toString('hex');
  /** @internal Loop prevention for the forwarders' MQTT 3.1.1 sessions. */
  readonly loops = new LoopGuard();

  constructor(options: SessionManagerOptions = {}) {
    super();
    checkOptions(options, MANAGER_OPTIONS, '');
    this.concurrency = options.concurrency ?? 50;
    this.metricsInterval = options.metricsInterval ?? 1000;
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
    options: LoadFleetConfigOptions & SessionManagerOptions = {},
  ): Promise<SessionManager> {
    const config = await loadFleetConfig(path, { env: options.env });
    const m = new SessionManager({
      ...config.manager,
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    });
    for (const o of config.sessions) {
      m.add(o);
      if (o.store === undefined) continue;
      // nobody else holds the stores of a file: damage they skip is reported here
      if (o.store instanceof FileStore && !m.stores.has(o.store))
        o.store.on('damage', (d) => m.storeDamaged(d));
      m.stores.add(o.store);
    }
    for (const o of config.forwarders) {
      const f = m.forward(o);
      const sources = typeof o.from === 'string' ? [o.from] : [...o.from];
      let starting = false;
      // start() subscribes on the sources, so it waits for them; once started, the sessions restore
      // the subscriptions after a reconnect themselves
      const start = ({ name }: { name: string }): void => {
        if (starting || !sources.includes(name)) return;
        if (!sources.every((s) => m.get(s)?.state === 'connected')) return;
        starting = true;
        f.start().then(
          () => m.off('session_connected', start),
          (err: unknown) => {
            starting = false; // again at the next connect of a source
            if (m.closing !== undefined || err instanceof ClosedError) return;
            const e = err as Partial<MqttError>;
            const error = new MqttError(
              e.code ?? ErrorCode.Handler,
              `forwarder '${f.name}' did not start: ${e.message}`,
              e.reasonCode,
              { cause: err },
            );
            m.emit('session_error', { name, error });
          },
        );
      };
      m.on('session_connected', start);
    }
    return m;
  }

  // ---------------------------------------------------------------------------
  // sessions

  /**
   * Adds a session (not connected: call `connectAll()` or `session.connect()`)
   * and returns it. Throws `InvalidArgumentError` for bad options or a name
   * already in use, `ClosedError` after `close()`.
   */
  add(input: ManagedSessionOptions | SessionOptionsBuilder): Session {
    if (this.closing !== undefined) throw new ClosedError('the session manager is closed');
    if (input === null || typeof input !== 'object') {
      throw new InvalidArgumentError('options', 'must be session options or a builder');
    }
    const o =
      'build' in input && typeof input.build === 'function'
        ? input.build()
        : (input as ManagedSessionOptions);
    const { name, subscriptions, ...options } = o;
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidArgumentError('name', 'must be a non-empty string');
    }
    if (this.members.has(name))
      throw new InvalidArgumentError('name', `a session named '${name}' exists already`);
    const own = (subscriptions ?? []).map((sub, i) => {
      const field = `subscriptions[${i}]`;
      if (sub === null || typeof sub !== 'object') throw new InvalidArgumentError(field, 'must be an object');
      if (sub.handler !== undefined && typeof sub.handler !== 'function') {
        throw new InvalidArgumentError(`${field}.handler`, 'must be a function');
      }
      return {
        filter: checkFilter(sub.filter, `${field}.filter`),
        qos: qosOption(sub.qos ?? 0, `${field}.qos`),
        handler: sub.handler,
      };
    });
    const session = new Session(options);
    const member = new Member(name, session);
    this.members.set(name, member);
    member.unbind = this.bind(member);
    for (const sub of own) {
      const entry: RouteEntry = {
        filter: sub.filter,
        target: name,
        qos: sub.qos,
        options: {},
        deliver: sub.handler ?? noop,
        active: true,
        owner: member,
        end: undefined,
      };
      this.attach(member, entry);
    }
    for (const r of this.routes) if (r.target === undefined || r.target === name) this.attach(member, r);
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
    const m = this.members.get(name);
    if (m === undefined) return false;
    this.members.delete(name);
    for (const w of this.waiters) {
      if (w.names.has(name)) w.reject(new ClosedError(`session '${name}' was removed`));
    }
    await m.session.close(options);
    m.unbind();
    m.subs.clear();
    this.emit('session_removed', { name });
    return true;
  }

  /** The session added under `name`, or undefined. */
  get(name: string): Session | undefined {
    return this.members.get(name)?.session;
  }

  /** Whether a session named `name` was added (and not removed). */
  has(name: string): boolean {
    return this.members.has(name);
  }

  /** The names of the sessions, in the order they were added. */
  list(): string[] {
    return [...this.members.keys()];
  }

  /** `[name, session]` pairs, in the order they were added. */
  *entries(): IterableIterator<[string, Session]> {
    for (const [name, m] of this.members) yield [name, m.session];
  }

  /** Number of sessions. */
  get size(): number {
    return this.members.size;
  }

  /** True when the session is connected and its subscriptions (its own and the routes') are in place. */
  isReady(name: string): boolean {
    const m = this.members.get(name);
    return m?.ready === true && m.session.state === 'connected';
  }

  /**
   * Connects every session, at most `concurrency` at a time (a connected
   * session counts at once; a reconnecting one when it is back). Resolves
   * when all are connected; otherwise rejects, once every attempt ended,
   * with `FleetConnectError` naming each session that failed.
   */
  async connectAll(options: { concurrency?: number; signal?: AbortSignal } = {}): Promise<void> {
    checkOptions(options, CONNECT_ALL_OPTIONS, 'options');
    const limit = options.concurrency ?? this.concurrency;
    const members = [...this.members.values()];
    const failures = new Map<string, Error>();
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < members.length) {
        const m = members[next++];
        if (this.members.get(m.name) !== m) continue; // removed meanwhile
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
    const o = typeof options === 'number' ? { timeout: options } : options;
    try {
      checkOptions(o, WAIT_READY_OPTIONS, typeof options === 'number' ? '' : 'options');
    } catch (err) {
      return Promise.reject(err);
    }
    const { timeout = 30_000, signal } = o;
    if (this.closing !== undefined) return Promise.reject(new ClosedError('the session manager is closed'));
    const list = names === undefined ? this.list() : typeof names === 'string' ? [names] : [...names];
    const waiting = new Set<string>();
    for (const name of list) {
      if (!this.members.has(name)) {
        return Promise.reject(new InvalidArgumentError('names', `no session named '${name}'`));
      }
      if (!this.isReady(name)) waiting.add(name);
    }
    if (waiting.size === 0) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortError(signal));
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => waiter.reject(abortError(signal as AbortSignal));
      const finish = () => {
        this.waiters.delete(waiter);
        if (timer !== undefined) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const waiter: ReadyWaiter = {
        names: waiting,
        resolve: () => {
          finish();
          resolve();
        },
        reject: (e) => {
          finish();
          reject(e);
        },
      };
      this.waiters.add(waiter);
      if (timeout > 0) {
        timer = setTimeout(() => {
          const left = [...waiting];
          const shown =
            left.slice(0, 10).join(', ') + (left.length > 10 ? ` and ${left.length - 10} more` : '');
          waiter.reject(new TimeoutError(`${left.length} sessions not ready after ${timeout} ms: ${shown}`));
        }, timeout);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Publishes through the named session (see `Session.publish`). */
  publishTo(
    name: string,
    topic: string,
    payload: string | Uint8Array,
    options?: PublishOptions,
  ): Promise<PublishResult> {
    const s = this.members.get(name)?.session;
    if (s === undefined)
      return Promise.reject(new InvalidArgumentError('name', `no session named '${name}'`));
    return s.publish(topic, payload, options);
  }

  // ---------------------------------------------------------------------------
  // routes

  /** Calls `fn` with every message matching `filter` on every session, present and future. */
  handle(filter: string, fn: FleetHandler, options: RouteOptions = {}): Route {
    return this.route(undefined, filter, checkHandler(fn), options, undefined);
  }

  /** Calls `fn` with every message matching `filter` on the session `name` (or a later one of that name). */
  handleTo(name: string, filter: string, fn: FleetHandler, options: RouteOptions = {}): Route {
    return this.route(checkName(name), filter, checkHandler(fn), options, undefined);
  }

  /**
   * Messages matching `filter` on every session, as an async iterable with
   * a bounded buffer (`buffer`, default 1000) and a drop policy (`drop`,
   * default `'drop-oldest'`); `received` and `dropped` count them. Breaking
   * out of `for await` or `stop()` ends the route.
   */
  listen(filter: string, options: ListenOptions = {}): RouteStream {
    return this.stream(undefined, filter, options);
  }

  /** `listen` on one session. */
  listenTo(name: string, filter: string, options: ListenOptions = {}): RouteStream {
    return this.stream(checkName(name), filter, options);
  }

  // ---------------------------------------------------------------------------
  // forwarding

  /**
   * A forwarder from the `from` sessions to the `to` session (see
   * `Forwarder`); call `start()` once they are connected. It stops when the
   * manager closes.
   */
  forward(options: ForwarderOptions): Forwarder {
    if (this.closing !== undefined) throw new ClosedError('the session manager is closed');
    const f = new Forwarder(this, options);
    this.forwarderSet.add(f);
    return f;
  }

  /** The forwarders made by `forward()` (and `fromConfig`), in the order they were made, until `close()`. */
  forwarders(): Forwarder[] {
    return [...this.forwarderSet];
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
    return this.fleetMetrics().snapshot();
  }

  /**
   * A prom-client registry with the fleet's metrics, computed at each scrape
   * (made at the first call; `options` apply then). Every per-session series
   * has a `session` label; removed sessions disappear. Needs the optional
   * package prom-client (`npm install prom-client`): without it, this throws
   * `MissingPeerError`.
   */
  registry(options?: Pick<PrometheusOptions, 'prefix' | 'defaultLabels'>): PrometheusRegistry {
    this.promRegistry ??= createRegistry(this.fleetMetrics(), {
      prefix: options?.prefix,
      defaultLabels: options?.defaultLabels,
    });
    return this.promRegistry;
  }

  /** A `node:http` request handler answering with `registry()` in the text format. */
  metricsHandler(): MetricsHandler {
    return metricsHandler(this.registry());
  }

  /**
   * Serves `registry()` at `http://host:port/metrics` (defaults: 127.0.0.1,
   * port 9464; 0 picks a free port). The server closes with the manager.
   */
  async serveMetrics(options: Omit<ServeMetricsOptions, 'registry'> = {}): Promise<MetricsServer> {
    if (this.closing !== undefined) throw new ClosedError('the session manager is closed');
    const server = await serveMetrics({ ...options, registry: this.registry() });
    this.servers.add(server);
    return server;
  }

  private fleetMetrics(): FleetMetrics {
    this.sampler ??= new FleetMetrics(this, { interval: this.metricsInterval });
    return this.sampler;
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
    if (this.closing === undefined) this.closing = this.closeNow(options);
    return this.closing;
  }

  // ---------------------------------------------------------------------------
  // internals

  /** @internal A message for the routes on one filter of one session. */
  _dispatch(fs: FilterSub, message: Message): void {
    const m = new RoutedMessage(message, fs.member.name);
    for (const r of fs.routes) {
      try {
        r.deliver(m);
      } catch (err) {
        this.sessionError(fs.member, err, `the route for '${r.filter}' threw`);
      }
    }
  }

  private async closeNow(options: { timeout?: number }): Promise<void> {
    for (const w of this.waiters) w.reject(new ClosedError('the session manager is closed'));
    this.sampler?.stop();
    await Promise.all([...this.forwarderSet].map((f) => f.stop()));
    this.forwarderSet.clear();
    await Promise.all([...this.servers].map((s) => s.close()));
    this.servers.clear();
    for (const r of this.routes) {
      r.active = false;
      r.end?.();
    }
    this.routes.clear();
    const members = [...this.members.values()];
    await Promise.all(members.map((m) => m.session.close(options)));
    for (const m of members) {
      m.unbind();
      m.subs.clear();
      if (this.members.get(m.name) === m) this.members.delete(m.name);
    }
    for (const store of this.stores) {
      try {
        await store.close();
      } catch (err) {
        const error = new StoreError('closing a session store failed', { cause: err });
        this.emit('session_error', { name: '', error });
      }
    }
    this.stores.clear();
  }

  private stream(target: string | undefined, filter: string, options: ListenOptions): RouteStream {
    const buffer = intOption(options.buffer ?? 1000, 'options.buffer', 1);
    const drop = options.drop ?? 'drop-oldest';
    if (drop !== 'drop-oldest' && drop !== 'drop-newest') {
      throw new InvalidArgumentError(
        'options.drop',
        `must be 'drop-oldest' or 'drop-newest', got ${String(drop)}`,
      );
    }
    let route!: Route;
    const stream = new RouteStream(filter, target, buffer, drop, () => route);
    route = this.route(
      target,
      filter,
      (m) => stream.push(m),
      options,
      () => stream.end(),
    );
    if (this.closing !== undefined) stream.end();
    return stream;
  }

  private route(
    target: string | undefined,
    filter: string,
    deliver: FleetHandler,
    options: RouteOptions,
    end: (() => void) | undefined,
  ): Route {
    if (options === null || typeof options !== 'object')
      throw new InvalidArgumentError('options', 'must be an object');
    const entry: RouteEntry = {
      filter: checkFilter(filter, 'filter'),
      target,
      qos: qosOption(options.qos ?? 0, 'options.qos'),
      options,
      deliver,
      active: this.closing === undefined,
      owner: undefined,
      end,
    };
    if (entry.active) {
      this.routes.add(entry);
      for (const m of this.members.values())
        if (target === undefined || target === m.name) this.attach(m, entry);
    }
    return {
      filter: entry.filter,
      session: target,
      get active() {
        return entry.active;
      },
      stop: () => this.stopRoute(entry),
    };
  }

  private stopRoute(entry: RouteEntry): Promise<void> {
    if (!entry.active) return Promise.resolve();
    entry.active = false;
    this.routes.delete(entry);
    entry.end?.();
    const pending: Promise<void>[] = [];
    for (const m of this.members.values()) {
      const fs = m.subs.get(entry.filter);
      if (fs === undefined || !fs.routes.delete(entry)) continue;
      const p = this.sync(fs);
      if (p !== undefined) pending.push(p);
      // the filter that kept the session from being ready may be the one that went
      this.checkReady(m);
    }
    return Promise.all(pending).then(noop);
  }

  /** Adds a route to a session's filter, subscribing when needed. */
  private attach(m: Member, entry: RouteEntry): void {
    let fs = m.subs.get(entry.filter);
    if (fs === undefined) {
      fs = new FilterSub(m, entry.filter, this);
      m.subs.set(entry.filter, fs);
    }
    fs.routes.add(entry);
    if (!fs.settled) m.ready = false;
    this.sync(fs);
  }

  /**
   * Brings a filter's session subscription in line with its routes:
   * subscribes (again, at a higher QoS) when connected, unsubscribes when
   * the last route left. One operation at a time per filter; the result
   * settles when an unsubscribe it started is done.
   */
  private sync(fs: FilterSub): Promise<void> | undefined {
    if (fs.busy) {
      // a subscribe is in flight: a route that stops waits for the unsubscribe that follows it
      if (fs.routes.size === 0) return new Promise<void>((resolve) => (fs.unsubscribed ??= []).push(resolve));
      return undefined;
    }
    const m = fs.member;
    const s = m.session;
    if (fs.routes.size === 0) {
      const sub = fs.subscription;
      fs.subscription = undefined;
      if (sub === undefined) {
        m.subs.delete(fs.filter);
        return undefined;
      }
      fs.busy = true;
      return sub.unsubscribe().then(
        () => this.synced(fs),
        (err: unknown) => {
          if (!(err instanceof ClosedError)) this.sessionError(m, err, `unsubscribing '${fs.filter}' failed`);
          this.synced(fs);
        },
      );
    }
    const qos = fs.wantedQos();
    if (fs.refused || (fs.subscription !== undefined && fs.subscribedQos >= qos)) return undefined;
    if (s.state !== 'connected') return undefined; // the next CONNACK subscribes it
    fs.busy = true;
    const first = [...fs.routes][0].options;
    const old = fs.subscription;
    if (fs.id === 0 && s.protocolVersion === 5 && s.serverLimits.subscriptionIdentifiersAvailable) {
      fs.id = m.lastId = (m.lastId % MAX_SUBSCRIPTION_ID) + 1;
    }
    s.subscribe(
      fs.filter,
      {
        qos,
        noLocal: first.noLocal,
        retainAsPublished: first.retainAsPublished,
        retainHandling: first.retainHandling,
        subscriptionIdentifier: fs.id === 0 ? undefined : fs.id,
      },
      fs.dispatch,
    ).then(
      (sub) => {
        fs.subscription = sub;
        fs.subscribedQos = qos;
        // the new subscription replaced the old one at the broker: drop only the old handler
        if (old !== undefined) old.unsubscribe().catch(noop);
        this.synced(fs);
      },
      (err: unknown) => {
        // refused, invalid for this session (an MQTT 5 option on 3.1.1), timed out or cut off: no
        // immediate retry (that would spin); the next CONNACK tries again
        fs.refused = true;
        if (!(err instanceof ClosedError) && s.state === 'connected') {
          this.sessionError(m, err, `subscribing '${fs.filter}' failed`);
        }
        this.synced(fs);
      },
    );
    return undefined;
  }

  /** An operation on `fs` ended: catch up with route changes made meanwhile. */
  private synced(fs: FilterSub): void {
    fs.busy = false;
    const m = fs.member;
    if (fs.routes.size === 0 && fs.subscription === undefined) {
      if (m.subs.get(fs.filter) === fs) m.subs.delete(fs.filter);
      releaseStops(fs);
      return;
    }
    if (this.members.get(m.name) !== m) {
      releaseStops(fs); // removed: its session closed, subscriptions and all
      return;
    }
    this.sync(fs);
    this.checkReady(m);
  }

  /** Emits `session_ready` once per connection, when the session and all its filters are ready. */
  private checkReady(m: Member): void {
    if (m.ready || !m.session.ready || this.members.get(m.name) !== m) return;
    for (const fs of m.subs.values()) if (fs.routes.size > 0 && !fs.settled) return;
    m.ready = true;
    if (m.readyEmittedFor !== m.connections) {
      m.readyEmittedFor = m.connections;
      this.emit('session_ready', { name: m.name });
    }
    for (const w of this.waiters) {
      if (w.names.delete(m.name) && w.names.size === 0) w.resolve();
    }
  }

  /** Turns a session's events into the manager's; returns the function that undoes it. */
  private bind(m: Member): () => void {
    const s = m.session;
    const name = m.name;
    const onState = (state: SessionState, previous: SessionState) => {
      if (state !== 'connected') m.ready = false;
      this.emit('session_state_changed', { name, previous, state });
      if (state === 'connecting') this.emit('session_connecting', { name });
      if (previous === 'connected' && (state === 'closing' || state === 'closed')) {
        this.emit('session_disconnected', { name, error: undefined });
      }
    };
    const onConnect = (connack: ConnackInfo) => {
      m.ready = false;
      m.connections++;
      for (const fs of m.subs.values()) {
        fs.refused = false;
        this.sync(fs);
      }
      this.emit('session_connected', { name, connack });
    };
    const onReady = () => this.checkReady(m);
    const onDisconnect = (error: MqttError | undefined) => {
      m.ready = false;
      this.emit('session_disconnected', { name, error });
    };
    const onReconnecting = (attempt: number, delay: number) =>
      this.emit('session_reconnecting', { name, attempt, delay });
    const onError = (error: MqttError) => this.emit('session_error', { name, error });
    s.on('state', onState);
    s.on('connect', onConnect);
    s.on('ready', onReady);
    s.on('disconnect', onDisconnect);
    s.on('reconnecting', onReconnecting);
    s.on('error', onError);
    return () => {
      s.off('state', onState);
      s.off('connect', onConnect);
      s.off('ready', onReady);
      s.off('disconnect', onDisconnect);
      s.off('reconnecting', onReconnecting);
      s.off('error', onError);
    };
  }

  private sessionError(m: Member, err: unknown, what: string): void {
    const error =
      err instanceof MqttError
        ? err
        : new MqttError(ErrorCode.Handler, `${what}: ${(err as Error)?.message}`, undefined, { cause: err });
    this.emit('session_error', { name: m.name, error });
  }

  /**
   * A `FileStore` of the config file skipped damage in a log: `session_error`
   * for the session with that client id. A torn tail alone (what a crash
   * leaves) is only counted by the store.
   */
  private storeDamaged(d: FileStoreDamage): void {
    if (d.skipped.length === 0 && !d.headerDamaged) return;
    let name = '';
    for (const [n, member] of this.members) if (member.session.clientId === d.clientId) name = n;
    const bytes = d.skipped.reduce((sum, r) => sum + r.bytes, 0);
    const what = d.headerDamaged
      ? `${bytes} damaged bytes (the header among them)`
      : `${bytes} damaged bytes`;
    const saved = d.savedTo === undefined ? 'they stay in the log' : `the log as it was is ${d.savedTo}`;
    const error = new StoreError(`FileStore skipped ${what} of ${d.path}; ${saved}`);
    this.emit('session_error', { name, error });
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
    this.emit('session_error', { name: '', error });
  }
}

/**
 * The async iterable `listen` and `listenTo` return: a bounded buffer of
 * messages (see `MessageStream`) that is also a `Route`.
 */
export class RouteStream extends MessageStream<FleetMessage> implements Route {
  readonly session: string | undefined;
  private readonly getRoute: () => Route;

  constructor(
    filter: string,
    session: string | undefined,
    buffer: number,
    drop: 'drop-oldest' | 'drop-newest',
    route: () => Route,
  ) {
    super(filter, buffer, () => route().stop().catch(noop), drop);
    this.session = session;
    this.getRoute = route;
  }

  /** The topic filter the stream receives messages for. */
  declare readonly filter: string;

  get active(): boolean {
    return this.getRoute().active;
  }

  /** Ends the iteration (buffered messages are dropped) and the route. */
  stop(): Promise<void> {
    const done = this.getRoute().stop();
    void this.return();
    return done;
  }
}

/** Resolves the `stop()` calls that waited on `fs`. */
function releaseStops(fs: FilterSub): void {
  const waiting = fs.unsubscribed;
  fs.unsubscribed = undefined;
  if (waiting !== undefined) for (const resolve of waiting) resolve();
}

function checkFilter(filter: unknown, field: string): string {
  if (typeof filter !== 'string' || !isValidTopicFilter(filter)) {
    throw new InvalidArgumentError(field, `'${String(filter)}' is not a valid topic filter`);
  }
  return filter;
}

function checkHandler(fn: unknown): FleetHandler {
  if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'must be a function');
  return fn as FleetHandler;
}

function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0)
    throw new InvalidArgumentError('name', 'must be a non-empty string');
  return name;
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof AbortError ? reason : new AbortError('waitReady was aborted', { cause: reason });
}
