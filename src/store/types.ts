/**
 * `SessionStore`: where a session keeps what a new process with the same
 * client id needs to resume (MQTT session state, 4.1, plus the offline
 * queue and the subscriptions).
 *
 * Mutations are synchronous and buffered by the store; `flush()` is the
 * durability barrier: it resolves once every change made before the call is
 * durable (written, and fsynced where the store says so) and rejects with
 * the store's error otherwise. A session with a durable store waits for
 * `flush()` before it writes a QoS 1/2 PUBLISH to the socket, so a message
 * the broker may have seen is always one the store can replay. A flush that
 * fails loses nothing: the changes it did not make durable are applied, in
 * order, by the next flush.
 *
 * One store may serve many sessions: every call names the client id.
 */
import type { PublishPacket, QoS, UserProperty } from '../codec/types.js';

/** An outgoing message the session is responsible for, until acknowledged, dropped or expired. */
export interface StoredMessage {
  /** The message's place in the session's order: strictly increasing, assigned by the session. */
  seq: number;
  /** The message as published: topic, payload, qos, retain, properties (its packetId is not used). */
  packet: PublishPacket;
  /** The packet id it was sent under; 0 while queued. */
  packetId: number;
  /** 0 queued (not sent yet), 1 sent and awaiting PUBACK/PUBREC, 2 PUBREL sent and awaiting PUBCOMP. */
  stage: 0 | 1 | 2;
  /** Epoch ms after which an unsent message is dropped (MQTT 5 message expiry); 0 for never. */
  expiresAt: number;
}

/** A subscription to restore when the broker has no session. */
export interface StoredSubscription {
  /** The filter as subscribed; the key: one stored subscription per filter. */
  topicFilter: string;
  /** Maximum QoS subscribed with. */
  qos: QoS;
  /** MQTT 5 No Local option, as subscribed. */
  noLocal?: boolean;
  /** MQTT 5 Retain As Published option, as subscribed. */
  retainAsPublished?: boolean;
  /** MQTT 5 Retain Handling option, as subscribed. */
  retainHandling?: 0 | 1 | 2;
  /** MQTT 5 Subscription Identifier the filter was subscribed with. */
  subscriptionIdentifier?: number;
  /** MQTT 5 user properties the SUBSCRIBE carried. */
  userProperties?: UserProperty[];
}

/** What `load()` returns: everything saved for one client id. */
export interface PersistedSession {
  /** In `seq` order. */
  messages: StoredMessage[];
  /** Incoming QoS 2 packet ids acknowledged with PUBREC and not yet released. */
  incomingQoS2: number[];
  /** Subscriptions to restore when the broker has no session for the client; in no particular order. */
  subscriptions: StoredSubscription[];
}

/**
 * Where a session keeps what a new process with the same client id needs to
 * resume: the MQTT session state (unacknowledged messages, incoming QoS 2
 * packet ids), the offline queue and the subscriptions. Pass one as
 * {@link SessionOptions.store}; {@link MemoryStore} is the default,
 * {@link FileStore} and {@link RedisStore} survive a crash of the process.
 *
 * Mutations are synchronous and buffered by the store; `flush()` is the
 * durability barrier: it resolves once every change made before the call is
 * durable and rejects with the store's error otherwise. A session with a
 * durable store waits for `flush()` before it writes any packet that depends
 * on a change (a QoS 1/2 PUBLISH, PUBREL, PUBREC, PUBCOMP), so a message the
 * broker may have seen is always one the store can replay, and resolves a
 * `publish()` once the deletion of its message is flushed. A flush that
 * rejects must keep the changes it did not make durable and apply them, in
 * order, with the next flush. One store may serve many sessions: every call
 * names the client id.
 *
 * Implement it to keep sessions elsewhere.
 */
export interface SessionStore {
  /** True when `flush()` makes changes survive a crash of this process (file, Redis). */
  readonly durable: boolean;
  /** Everything saved for `clientId`; empty lists when nothing is. */
  load(clientId: string): Promise<PersistedSession>;
  /** Adds the message, or replaces the one with the same `seq` (packet id assigned, stage changed). */
  putMessage(clientId: string, message: StoredMessage): void;
  /** Forgets the message with this `seq` (acknowledged, dropped or expired); nothing when there is none. */
  deleteMessage(clientId: string, seq: number): void;
  /**
   * Records an incoming QoS 2 packet id answered with PUBREC, so a resent PUBLISH with it is not
   * delivered twice.
   */
  addIncomingQoS2(clientId: string, packetId: number): void;
  /** Forgets an incoming QoS 2 packet id: its PUBREL arrived and the flow is complete. */
  deleteIncomingQoS2(clientId: string, packetId: number): void;
  /** Adds the subscription, or replaces the one with the same filter. */
  putSubscription(clientId: string, subscription: StoredSubscription): void;
  /** Forgets the subscription to `topicFilter` (unsubscribed); nothing when there is none. */
  deleteSubscription(clientId: string, topicFilter: string): void;
  /**
   * Resolves once every change made before the call is durable. When it rejects, the changes it
   * did not make durable are kept and applied, in order, by the next flush. A session passes its
   * `clientId`: a store that refuses one client's changes for good while applying the others'
   * (RedisStore with a stale fencing token) then rejects only that client's flushes with it.
   * Stores without such refusals ignore the argument.
   */
  flush(clientId?: string): Promise<void>;
  /** Forgets everything saved for `clientId` (a clean start). */
  clear(clientId: string): Promise<void>;
  /** Flushes and releases files, connections and timers. */
  close(): Promise<void>;
}
