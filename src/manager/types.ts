/** Public types of `SessionManager`. */
import type { QoS } from '../codec/types.js';
import type { MqttError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type {
  ConnackInfo,
  Message,
  Session,
  SessionOptions,
  SessionState,
  SubscribeOptions,
} from '../session/index.js';

/** A message received by one of the manager's sessions. */
export interface FleetMessage extends Message {
  /** The name of the session that received it. */
  readonly session: string;
}

/**
 * Receives the messages of a route (`handle`, `handleTo`) or of a session's own `subscriptions`.
 * Called synchronously; one that throws is reported as `session_error`.
 */
export type FleetHandler = (message: FleetMessage) => void;

/**
 * A route across sessions, as `handle` and `handleTo` return it (`listen`'s
 * `RouteStream` is one too): `stop()` ends it and unsubscribes filters
 * no other route uses. Exported as `Route` as well, its former name.
 */
export interface FleetRoute {
  /** The topic filter the route receives messages for. */
  readonly filter: string;
  /** The session it is bound to (`handleTo`, `listenTo`), or undefined for every session. */
  readonly session: string | undefined;
  /** False once stopped (or the manager closed). */
  readonly active: boolean;
  /** Resolves when the unsubscribes it caused are done (failures are reported as `session_error`). */
  stop(): Promise<void>;
}

/** A subscription a managed session holds from its first connect on (as a `handleTo` route). */
export interface SessionSubscription {
  /** Topic filter, wildcards and `$share/` included. */
  filter: string;
  /** @default 0 */
  qos?: QoS;
  /** Receives the messages; without one they still reach `handle`/`listen` routes and `message` listeners. */
  handler?: FleetHandler;
}

/** `SessionOptions` plus what the manager needs: a name, and subscriptions to hold. */
export interface ManagedSessionOptions extends SessionOptions {
  /** Unique within the manager: `get(name)`, `handleTo(name, …)`, the `session` label of metrics. */
  name: string;
  /**
   * Subscriptions the session holds from its first connect on, each as a `handleTo` route that ends
   * when the session is removed.
   */
  subscriptions?: readonly SessionSubscription[];
}

/** Anything with a `build()` giving managed session options: the fluent `session('name')…` builder. */
export interface SessionOptionsBuilder {
  /** The options to add the session with; called once by {@link SessionManager.add}. */
  build(): ManagedSessionOptions;
}

/** Options of `new SessionManager()`. */
export interface SessionManagerOptions {
  /** Sessions `connectAll()` connects at once. @default 50 */
  concurrency?: number;
  /** ms between the samples `metrics()` computes current rates from. @default 1000 */
  metricsInterval?: number;
  /**
   * Where the manager and its sessions log (a pino logger, or anything with its
   * `debug`/`info`/`warn`/`error` methods): each session added without a `logger` of its own
   * logs here, its lines carrying `session: <name>` (through `child()` when the logger has it).
   * The manager itself logs sessions added and removed (`debug`), the cluster's events
   * (`session_acquired`, `session_released`, `node_joined`, `node_left`: `info`, a release that
   * was not a handoff or a leave and `cluster_error`: `warn`) and the failures of routes,
   * forwarders and stores it reports as `session_error` (`error`). See docs/observability.md.
   * @default none: nothing is logged
   */
  logger?: Logger;
}

/** Options of a route (`handle`, `handleTo`, `listen`, `listenTo`). */
export interface RouteOptions
  extends Pick<SubscribeOptions, 'noLocal' | 'retainAsPublished' | 'retainHandling'> {
  /** The QoS subscribed with. When several routes share a filter the session subscribes with the highest. @default 0 */
  qos?: QoS;
}

/** Options of `listen` and `listenTo`. */
export interface ListenOptions extends RouteOptions {
  /** Messages buffered for a slow consumer. @default 1000 */
  buffer?: number;
  /** Which message is dropped when the buffer is full. @default 'drop-oldest' */
  drop?: 'drop-oldest' | 'drop-newest';
}

/**
 * The events of {@link SessionManager}, by name, with the object each
 * listener receives: every session's events, named by the session's `name`.
 * Listen with {@link SessionManager.on}. Listeners run synchronously; one
 * that throws is reported as `session_error` and cannot stop the others.
 */
export interface ManagerEvents {
  /** A session was added (`add()`, or a config file's sessions). */
  session_added: {
    /** The session's name. */
    name: string;
    /** The session, not yet connected. */
    session: Session;
  };
  /** A session was closed and removed by `remove()`. */
  session_removed: {
    /** The removed session's name. */
    name: string;
  };
  /** `connect()` starts connecting the session (reconnect attempts are `session_reconnecting`). */
  session_connecting: {
    /** The session's name. */
    name: string;
  };
  /**
   * A CONNACK accepted a connection of the session (subscriptions may still be on their way: see
   * `session_ready`).
   */
  session_connected: {
    /** The session's name. */
    name: string;
    /** What the broker answered. */
    connack: ConnackInfo;
  };
  /**
   * Connected, and every subscription the session holds (its own and the
   * manager's routes) is in place: once per connection (a route added later
   * makes `isReady` false until it is subscribed, without a second event).
   */
  session_ready: {
    /** The session's name. */
    name: string;
  };
  /** The connection was lost or ended; `error` is undefined after a clean close. */
  session_disconnected: {
    /** The session's name. */
    name: string;
    /** Why the connection was lost; undefined when the session was closed. */
    error: MqttError | undefined;
  };
  /** A reconnect is scheduled: `attempt` counts from 1, `delay` in ms. */
  session_reconnecting: {
    /** The session's name. */
    name: string;
    /** 1 for the first attempt after a loss, then 2, 3, ... until one connects. */
    attempt: number;
    /** ms until the attempt, backoff and jitter applied. */
    delay: number;
  };
  /** The session's {@link SessionState} changed. */
  session_state_changed: {
    /** The session's name. */
    name: string;
    /** The state it left. */
    previous: SessionState;
    /** The state it is in now. */
    state: SessionState;
  };
  /**
   * A failure with nobody else to tell: a session's `error` event (a
   * handler that threw, a subscription that could not be restored, a store
   * error), a route handler that threw, a route's subscribe or unsubscribe
   * that failed, a forwarder of a config file that did not start, a store
   * of a config file that failed to close, damage a file store of a config
   * file skipped in a session's log (a `StoreError`; see `FileStore`'s
   * `'damage'` event), or a manager event listener that threw.
   */
  session_error: {
    /** The session's name; `''` for a manager event listener that threw or a store that failed to close. */
    name: string;
    /**
     * What failed; `ERR_MQTT_HANDLER` for a handler or listener that threw (the thrown value is its
     * `cause`).
     */
    error: MqttError;
  };
  /** Cluster mode: this node took the session's lease and started it (added, connecting). */
  session_acquired: {
    /** The session's name. */
    name: string;
    /** Its client id. */
    clientId: string;
    /** This node's id. */
    node: string;
    /** The fencing token of its lease (Redis only). */
    token: number | undefined;
  };
  /**
   * Cluster mode: the session stopped running on this node. `handoff` (another
   * node takes it) and `leave` (this node stops): after a graceful close;
   * `unsafe` (the node could not renew its lease in time), `lost` (its lease
   * ran out) and `fenced` (a store write was refused for a newer owner's
   * token): at once, nothing published after; `worker` (the worker running
   * it died: only the primary of workers tells this).
   */
  session_released: {
    /** The session's name. */
    name: string;
    /** Its client id. */
    clientId: string;
    /** This node's id (the primary of workers: the worker's). */
    node: string;
    /** Why it stopped running here. */
    reason: 'handoff' | 'leave' | 'unsafe' | 'lost' | 'fenced' | 'worker';
  };
  /** Cluster mode: a node (this one too, at its join) became a live member. */
  node_joined: {
    /** The node's id. */
    node: string;
  };
  /** Cluster mode: a node is no longer a live member (it left, its lease ran out, its worker died). */
  node_left: {
    /** The node's id. */
    node: string;
  };
  /** Cluster mode: a failure of the cluster itself (Redis unreachable, a renewal failed, a worker that could not start). */
  cluster_error: {
    /** What failed. */
    error: Error;
  };
}

/** The name of a {@link SessionManager} event, e.g. `'session_ready'`. */
export type ManagerEventName = keyof ManagerEvents;

/** {@link ManagerEvents} as the listener arguments of an emitter: each listener gets the one event object. */
export type ManagerEventArgs = { [K in keyof ManagerEvents]: [event: ManagerEvents[K]] };
