/** Public types of `Session`. */
import type {
  AckProperties,
  ConnackProperties,
  PublishProperties,
  QoS,
  SubscribeProperties,
} from '../codec/types.js';
import type { MqttError } from '../core/errors.js';
import type { UserPropertiesInit } from '../core/user-properties.js';
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
  /** The topic it was published to (an MQTT 5 topic alias is already resolved). */
  readonly topic: string;
  /** A view of the received bytes; copy it to keep it beyond the handler if you reuse memory. */
  readonly payload: Buffer;
  /** QoS it was delivered with: the lower of the publisher's and the subscription's. */
  readonly qos: QoS;
  /**
   * A retained message the broker sent because of a new subscription (or, with `retainAsPublished`,
   * the publisher's flag).
   */
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

/**
 * Receives the messages of a subscription. Called synchronously as each arrives; a handler that
 * throws is reported as the session's `error` event and the message is still acknowledged (without
 * `manualAck`).
 */
export type MessageHandler = (message: Message) => void;

/**
 * What the broker answered to a successful CONNECT: `connect()`'s result, the `connect` and `ready`
 * events, {@link Session.connack}.
 */
export interface ConnackInfo {
  /**
   * The broker resumed a session it kept for this client id; subscriptions the broker lost are
   * restored by the session either way.
   */
  sessionPresent: boolean;
  /** 0 for a successful connection (MQTT 5 reason code, or the 3.1.1 return code). */
  reasonCode: number;
  /**
   * MQTT 5 CONNACK properties: Assigned Client Identifier, Server Keep Alive, Receive Maximum,
   * Response Information, ...; undefined for 3.1.1.
   */
  properties: ConnackProperties | undefined;
  /** The protocol level in use: 5, or 4 (3.1.1; also after `protocolVersion: 'auto'` fell back). */
  protocolVersion: 4 | 5;
}

/** Options of every operation that waits for the broker: `publish`, `subscribe`, `unsubscribe`. */
export interface OperationOptions {
  /** ms to wait for the acknowledgement; 0 waits forever. @default the session's `operationTimeout` */
  timeout?: number;
  /** Cancels the operation: it rejects with `AbortError` (a message already sent stays in flight). */
  signal?: AbortSignal;
}

/**
 * MQTT 5 properties of a message to publish: those of a received message's
 * `properties`, with `userProperties` given as `[name, value]` pairs or as
 * MQTT.js's object (see {@link UserPropertiesInit}).
 */
export type PublishPropertiesInit = Omit<PublishProperties, 'userProperties'> & {
  /** Sent in order; `{ name: 'value' }` and `{ name: ['a', 'b'] }` are taken too. */
  userProperties?: UserPropertiesInit;
};

/** Options of {@link Session.publish}. */
export interface PublishOptions extends OperationOptions {
  /** @default 0 */
  qos?: QoS;
  /** @default false */
  retain?: boolean;
  /**
   * MQTT 5 properties: contentType, responseTopic, correlationData, messageExpiryInterval, ...
   * `subscriptionIdentifier` (a client must not send one, MQTT-3.3.4-6) and `topicAlias` (the
   * session assigns aliases, see `topicAliases`) are refused with `InvalidArgumentError`.
   * `userProperties` may be `[name, value]` pairs or MQTT.js's object.
   */
  properties?: PublishPropertiesInit;
}

/** How a QoS 1/2 publish ended (QoS 0: reason code 0 once written). */
export interface PublishResult {
  /** 0x00 Success or 0x10 No matching subscribers (MQTT 5). */
  reasonCode: number;
  /**
   * MQTT 5 properties of the PUBACK/PUBREC (a Reason String, user properties); undefined when there
   * were none.
   */
  properties: AckProperties | undefined;
  /**
   * 1 when a QoS 2 publish was acknowledged at QoS 1: the broker has no QoS 2
   * (RabbitMQ 3 answers it with PUBACK). The message is delivered; later QoS 2
   * publishes to this broker reject with `RejectedError` 0x9B. Absent otherwise.
   */
  qos?: 1;
}

/** Options of {@link Session.subscribe}. */
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
  /** MQTT 5 user properties sent with the SUBSCRIBE: `[name, value]` pairs or MQTT.js's object. */
  userProperties?: UserPropertiesInit;
}

/** The result of `subscribe()`. */
export interface Subscription {
  /** The filters subscribed, in the order given. */
  readonly filters: readonly string[];
  /** One per filter: the granted QoS (0..2) or a failure code (>= 0x80). */
  readonly reasonCodes: readonly number[];
  /** MQTT 5 properties of the SUBACK (a Reason String, user properties), undefined when none. */
  readonly properties: AckProperties | undefined;
  /** Removes this subscription's handler; unsubscribes filters no other subscription uses. */
  unsubscribe(options?: OperationOptions): Promise<void>;
}

/** A snapshot of a session's counters (`session.metrics()`). */
export interface SessionMetrics {
  /** Application messages received / accepted for publishing. */
  messagesIn: number;
  /** Application messages accepted by `publish()` (counted with `messagesIn`). */
  messagesOut: number;
  /** Bytes read from / written to the network. */
  bytesIn: number;
  /** Bytes written to the network (counted with `bytesIn`). */
  bytesOut: number;
  /** Successful reconnects (not counting the first connect). */
  reconnects: number;
  /** Connections lost, attempts failed, and every `error` event: handlers that threw, store failures, refused restores. */
  errors: number;
  /** Publishes dropped from the offline queue (overflow, expiry, QoS 0 offline). */
  dropped: number;
  /** QoS 1/2 operations sent and not yet acknowledged. */
  inflight: number;
  /** Operations waiting (offline queue, send quota). */
  queued: number;
  /**
   * Payload and topic bytes of the publishes waiting (the offline queue's size, bounded by
   * `offlineQueue.maxBytes`).
   */
  queuedBytes: number;
  /** ms the latest keepalive PINGREQ took to be answered; undefined before the first. */
  roundTrip: number | undefined;
  /** Time from `publish()` to the broker's acknowledgement of QoS 1/2 publishes. */
  publishLatency: LatencySnapshot;
}

/** What `JSON.stringify` and `util.inspect` show of a {@link Session} (see {@link Session.toJSON}). */
export interface SessionView {
  /** Where the session connects, without credentials, query or fragment ({@link Session.url}). */
  url: string;
  /** The client identifier in use. */
  clientId: string;
  /** 5 (MQTT 5.0) or 4 (MQTT 3.1.1). */
  protocolVersion: 4 | 5;
  /** The session's state. */
  state: SessionState;
  /** QoS 1/2 operations sent and not yet acknowledged. */
  inflight: number;
}

/**
 * The events of {@link Session} (a typed {@link SafeEmitter}): the event name and
 * its listener's arguments. Listeners run synchronously; one that throws is
 * reported as `error` and cannot stop the others.
 */
export interface SessionEvents {
  /** A CONNACK accepted a connection (the first or a reconnect). */
  connect: [info: ConnackInfo];
  /**
   * After `connect`: the subscriptions the broker had lost are restored
   * (their SUBACKs came back; a refusal is reported as `error`). Right after
   * `connect` when the broker kept the session or there was nothing to restore.
   */
  ready: [info: ConnackInfo];
  /**
   * `protocolVersion: 'auto'`: the broker refused MQTT 5 (`reason` says how: a
   * CONNACK 0x84, or the connection closed before CONNACK), and the session
   * tries MQTT 3.1.1 at once.
   */
  fallback: [reason: MqttError];
  /** A reconnect is scheduled: `attempt` counts from 1, `delay` in ms. */
  reconnecting: [attempt: number, delay: number];
  /** The connection was lost and the session now queues publishes. */
  offline: [];
  /**
   * The connection was lost (`error` says why): the session reconnects, or ends in state
   * `disconnected` without `reconnect`. Not emitted by `close()`.
   */
  disconnect: [error: MqttError | undefined];
  /**
   * Every received message, whichever subscription it is for (also delivered to handlers and
   * `messages()` iterators).
   */
  message: [message: Message];
  /**
   * A failure with nobody else to tell: a handler or listener that threw, a subscription that could
   * not be restored, a store error.
   */
  error: [error: MqttError];
  /** The {@link SessionState} changed. */
  state: [state: SessionState, previous: SessionState];
}

export type { SubscribeProperties };
