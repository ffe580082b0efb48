/** Public types of `SessionManager`. */
import type { QoS } from '../codec/types.js';
import type { MqttError } from '../errors.js';
import type { SessionOptions } from '../session/options.js';
import type { Session } from '../session/session.js';
import type { ConnackInfo, Message, SessionState, SubscribeOptions } from '../session/types.js';

/** A message received by one of the manager's sessions. */
export interface FleetMessage extends Message {
  /** The name of the session that received it. */
  readonly session: string;
}

export type FleetHandler = (message: FleetMessage) => void;

/** A subscription a managed session holds from its first connect on (as a `handleTo` route). */
export interface SessionSubscription {
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
  subscriptions?: readonly SessionSubscription[];
}

/** Anything with a `build()` giving managed session options: the fluent `session('name')…` builder. */
export interface SessionOptionsBuilder {
  build(): ManagedSessionOptions;
}

export interface SessionManagerOptions {
  /** Sessions `connectAll()` connects at once. @default 50 */
  concurrency?: number;
  /** ms between the samples `metrics()` computes current rates from. @default 1000 */
  metricsInterval?: number;
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

export interface ManagerEvents {
  session_added: { name: string; session: Session };
  session_removed: { name: string };
  /** A connection attempt starts (the first connect or a reconnect). */
  session_connecting: { name: string };
  session_connected: { name: string; connack: ConnackInfo };
  /**
   * Connected, and every subscription the session holds (its own and the
   * manager's routes) is in place: once per connection (a route added later
   * makes `isReady` false until it is subscribed, without a second event).
   */
  session_ready: { name: string };
  /** The connection was lost or ended; `error` is undefined after a clean close. */
  session_disconnected: { name: string; error: MqttError | undefined };
  /** A reconnect is scheduled: `attempt` counts from 1, `delay` in ms. */
  session_reconnecting: { name: string; attempt: number; delay: number };
  session_state_changed: { name: string; previous: SessionState; state: SessionState };
  session_error: { name: string; error: MqttError };
}

export type ManagerEventName = keyof ManagerEvents;
