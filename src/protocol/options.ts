/**
 * What the engine is made with: the fields of CONNECT (taken from the packet
 * type, so the two cannot drift) and the limits this client keeps on either
 * side. The session passes its resolved options, which carry these fields
 * under the same names.
 */

import type { ConnectPacket, ConnectProperties, ProtocolVersion } from '../codec/types.js';

/** The client's side of the session: what goes into CONNECT, and the limits it keeps. */
export interface EngineOptions
  extends Pick<ConnectPacket, 'clientId' | 'clean' | 'keepalive' | 'username' | 'password' | 'will'> {
  protocolVersion: ProtocolVersion;
  /**
   * CONNECT properties (MQTT 5). `receiveMaximum`, `maximumPacketSize` and
   * `topicAliasMaximum` here are the limits this client enforces on the
   * server's packets.
   */
  connectProperties?: ConnectProperties;
  /** Assign outgoing topic aliases when the server allows them. @default true */
  topicAliases?: boolean;
  /** Largest packet accepted from the server (3.1.1; MQTT 5 takes it from `connectProperties`). */
  maximumPacketSize?: number;
  /**
   * QoS 1/2 publishes in flight at once. MQTT 3.1.1 has no Receive Maximum:
   * without this, QoS 2 publishes there are held to `DEFAULT_MAX_INFLIGHT`
   * (`send-window.ts`) and QoS 1 to none. With MQTT 5 it only lowers the server's Receive Maximum.
   */
  maxInflight?: number;
  /** Highest QoS the server takes, when it cannot say so itself (3.1.1). @default 2 */
  maximumQoS?: 0 | 1 | 2;
  /**
   * A QoS 1/2 publish sent on this many connections that all ended before
   * acknowledging it is given up (`handler.abandoned`); 0: never. @default 0
   */
  maxDeliveryAttempts?: number;
}
