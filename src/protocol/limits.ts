/**
 * The server's limits on a connection, as the session shows them
 * (`Session.serverLimits`). An MQTT 5 server announces them in CONNACK's
 * properties; a 3.1.1 server announces none, and the protocol's defaults
 * stand, with the client's own `maximumQoS` as the highest QoS. Every `open`
 * starts again from the defaults, and every accepted CONNACK applies its
 * properties to them.
 */

import type { ConnackProperties } from '../codec/types.js';
import { MAX_PACKET_ID } from './inflight.js';

/** Limits the server announced in CONNACK (MQTT 5), or the protocol's defaults. */
export interface ServerLimits {
  /** QoS 1/2 publishes the server accepts unacknowledged at once (its Receive Maximum). @default 65535 */
  receiveMaximum: number;
  /** Largest packet the server accepts, bytes; undefined when it set no limit. */
  maximumPacketSize: number | undefined;
  /** Topic aliases this client may use towards the server; 0 when none (or `topicAliases: false`). */
  topicAliasMaximum: number;
  /** Highest QoS the server supports. @default 2 */
  maximumQoS: 0 | 1 | 2;
  /** The server supports retained messages. @default true */
  retainAvailable: boolean;
  /** The server supports wildcard subscriptions. @default true */
  wildcardSubscriptionAvailable: boolean;
  /** The server supports subscription identifiers. @default true */
  subscriptionIdentifiersAvailable: boolean;
  /** The server supports shared subscriptions. @default true */
  sharedSubscriptionAvailable: boolean;
  /** Seconds; the keepalive in force (Server Keep Alive overrides ours). */
  keepalive: number;
}

/** The limits before any CONNACK: the protocol's defaults, our keepalive and highest QoS. */
export function defaultLimits(keepalive: number, maximumQoS: 0 | 1 | 2): ServerLimits {
  return {
    receiveMaximum: MAX_PACKET_ID,
    maximumPacketSize: undefined,
    topicAliasMaximum: 0,
    maximumQoS,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    subscriptionIdentifiersAvailable: true,
    sharedSubscriptionAvailable: true,
    keepalive,
  };
}

/**
 * Applies an accepted CONNACK's properties to `limits`. `topicAliases`
 * false: no outgoing aliases whatever the server allows. The highest QoS
 * never rises above `maxQoS` (what this client knows the server takes).
 */
export function applyConnack(
  limits: ServerLimits,
  props: ConnackProperties | undefined,
  topicAliases: boolean,
  maxQoS: 0 | 1 | 2,
): void {
  if (props !== undefined) {
    if (props.receiveMaximum !== undefined) limits.receiveMaximum = props.receiveMaximum;
    limits.maximumPacketSize = props.maximumPacketSize;
    limits.topicAliasMaximum = topicAliases ? (props.topicAliasMaximum ?? 0) : 0;
    if (props.maximumQoS !== undefined) limits.maximumQoS = props.maximumQoS;
    if (props.retainAvailable !== undefined) limits.retainAvailable = props.retainAvailable;
    if (props.wildcardSubscriptionAvailable !== undefined) {
      limits.wildcardSubscriptionAvailable = props.wildcardSubscriptionAvailable;
    }
    if (props.subscriptionIdentifiersAvailable !== undefined) {
      limits.subscriptionIdentifiersAvailable = props.subscriptionIdentifiersAvailable;
    }
    if (props.sharedSubscriptionAvailable !== undefined) {
      limits.sharedSubscriptionAvailable = props.sharedSubscriptionAvailable;
    }
    if (props.serverKeepAlive !== undefined) limits.keepalive = props.serverKeepAlive;
  }
  if (limits.maximumQoS > maxQoS) limits.maximumQoS = maxQoS;
}
