/** Public types of `Session`. */
import type {
  AckProperties,
  ConnackProperties,
  PublishProperties,
  QoS,
  SubscribeProperties,
  UserProperty,
} from '../codec/types.js';
import type { MqttError } from '../errors.js';
import type { LatencySnapshot } from './latency.js';

/**
 * - `new`: constructed, never connected
 * - `connecting`: network connection and CONNECT under way
 * - `connected`: CONNACK received
 * - `reconnecting`: the connection was lost; the next attempt is scheduled
 *   (publishes wait in the offline queue)
 * - `disconnected`: the connection ended and no reconnect is scheduled;
 *   `connect()` may be called again
 * - `closing` / `closed`: `close()` was called; the session is done
 */
export type SessionState =
  | 'new'
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'disconnected'
  | 'closing'
  | 'closed';

/** A received application message. */
export interface Message {
  readonly topic: string;
  /** A view of the received bytes; copy it to keep it beyond the handler if you reuse memory. */
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  /** Set when the broker re-sends a QoS 1/2 message it is not sure arrived. */
  readonly dup: boolean;
  /** MQTT 5 properties (topic alias already resolved into `topic`). */
  readonly properties: PublishProperties | undefined;
  /**
   * Present on messages that reached a `manualAck` subscription: each
   * manual-ack handler the message reached calls it once when done, and the
   * PUBACK (PUBREC) goes out after the last (a manual handler that throws
   * counts as done). Until then, the acknowledgements of this and of every
   * later QoS 1/2 message wait (MQTT sends them in arrival order). Extra
   * calls do nothing; for QoS 0 it does nothing.
   */
  readonly ack?: () => void;
}

export type MessageHandler = (message: Message) => void;

export interface ConnackInfo {
  sessionPresent: boolean;
  reasonCode: number;
  properties: ConnackProperties | undefined;
}

export interface OperationOptions {
  /** ms to wait for the acknowledgement; 0 waits forever. @default the session's `operationTimeout` */
  timeout?: number;
  /** Cancels the operation: it rejects with `AbortError` (a message already sent stays in flight). */
  signal?: AbortSignal;
}

export interface PublishOptions extends OperationOptions {
  /** @default 0 */
  qos?: QoS;
  /** @default false */
  retain?: boolean;
  /** MQTT 5 properties: contentType, responseTopic, correlationData, messageExpiryInterval, ... */
  properties?: PublishProperties;
}

/** How a QoS 1/2 publish ended (QoS 0: reason code 0 once written). */
export interface PublishResult {
  /** 0x00 Success or 0x10 No matching subscribers (MQTT 5). */
  reasonCode: number;
  properties: AckProperties | undefined;
}

export interface SubscribeOptions extends OperationOptions {
  /** Maximum QoS. @default 0 */
  qos?: QoS;
  /** MQTT 5: do not receive own publishes. */
  noLocal?: boolean;
  /** MQTT 5: keep the retain flag as published. */
  retainAsPublished?: boolean;
  /** MQTT 5: 0 send retained messages, 1 only for a new subscription, 2 never. @default 0 */
  retainHandling?: 0 | 1 | 2;
  /**
   * Do not acknowledge the messages of this subscription when the handler
   * returns: the handler calls `message.ack()` when it is done with one (for
   * instance once it is stored or forwarded). A message not acknowledged
   * before the connection is lost is sent again by the broker. Keep the
   * number unacknowledged below Receive Maximum.
   */
  manualAck?: boolean;
  /**
   * MQTT 5 Subscription Identifier, 1..268,435,455. The handler then gets
   * only the messages the broker sends for this subscription: with
   * overlapping subscriptions a broker may send one copy per subscription,
   * and each handler sees each message once.
   */
  subscriptionIdentifier?: number;
  userProperties?: UserProperty[];
}

/** The result of `subscribe()`. */
export interface Subscription {
  readonly filters: readonly string[];
  /** One per filter: the granted QoS (0..2) or a failure code (>= 0x80). */
  readonly reasonCodes: readonly number[];
  readonly properties: AckProperties | undefined;
  /** Removes this subscription's handler; unsubscribes filters no other subscription uses. */
  unsubscribe(options?: OperationOptions): Promise<void>;
}

/** A snapshot of a session's counters (`session.metrics()`). */
export interface SessionMetrics {
  /** Application messages received / accepted for publishing. */
  messagesIn: number;
  messagesOut: number;
  /** Bytes read from / written to the network. */
  bytesIn: number;
  bytesOut: number;
  /** Successful reconnects (not counting the first connect). */
  reconnects: number;
  /** Connections lost, attempts failed, handler and store errors. */
  errors: number;
  /** Publishes dropped from the offline queue (overflow, expiry, QoS 0 offline). */
  dropped: number;
  /** QoS 1/2 operations sent and not yet acknowledged. */
  inflight: number;
  /** Operations waiting (offline queue, send quota). */
  queued: number;
  queuedBytes: number;
  /** ms the latest keepalive PINGREQ took to be answered; undefined before the first. */
  roundTrip: number | undefined;
  /** Time from `publish()` to the broker's acknowledgement of QoS 1/2 publishes. */
  publishLatency: LatencySnapshot;
}

export interface SessionEvents {
  connect: [info: ConnackInfo];
  /**
   * After `connect`: the subscriptions the broker had lost are restored
   * (their SUBACKs came back; a refusal is reported as `error`). Right after
   * `connect` when the broker kept the session or there was nothing to restore.
   */
  ready: [info: ConnackInfo];
  /** A reconnect is scheduled: `attempt` counts from 1, `delay` in ms. */
  reconnecting: [attempt: number, delay: number];
  /** The connection was lost and the session now queues publishes. */
  offline: [];
  disconnect: [error: MqttError | undefined];
  message: [message: Message];
  error: [error: MqttError];
  state: [state: SessionState, previous: SessionState];
}

export type { SubscribeProperties };
