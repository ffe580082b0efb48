/**
 * The send window: how many QoS 1/2 publishes may be in flight on this
 * connection, and the probe that keeps a poison message from taking others
 * down with it.
 *
 * Theory of operation: the window is the server's Receive Maximum (the QoS
 * 1/2 publishes it takes unacknowledged at once), lowered by `maxInflight`.
 * A publish takes room in it when it is sent and gives the room back when it
 * completes (PUBACK, PUBCOMP, or PUBREC with an error); while there is no
 * room, publishes wait in order (`outgoing.ts`). QoS 2 has a second,
 * smaller count on MQTT 3.1.1 (see {@link DEFAULT_MAX_INFLIGHT}).
 * SUBSCRIBE and UNSUBSCRIBE take no room.
 *
 * Probing: when a connection ended with publishes sent on it and not
 * acknowledged, the next one opens with room for one, so the oldest goes
 * alone; the whole window opens as soon as that one moves forward (PUBACK,
 * PUBREC, PUBCOMP). A message the server kills connections over is then the
 * only one its deaths count against (`maxDeliveryAttempts`).
 */

import type { ProtocolVersion } from '../codec/types.js';
import { MAX_PACKET_ID } from './inflight.js';

/**
 * QoS 2 publishes an MQTT 3.1.1 session has in flight when `maxInflight` is
 * not set. 3.1.1 brokers announce no limit but have one for the QoS 2
 * messages they hold until PUBREL: mosquitto 2 takes 20 per client by
 * default (`max_inflight_messages`) and answers the rest with PUBREC while
 * dropping them; EMQX holds 100 (`max_awaiting_rel`). QoS 1 messages are
 * done at PUBACK and held by neither, so they are not limited.
 */
export const DEFAULT_MAX_INFLIGHT = 20;

export class SendWindow {
  /** The connection opens with room for one publish (see the header). */
  probing = false;
  /** QoS 1/2 publishes this connection may have in flight: the server's Receive Maximum and `maxInflight`. */
  private size = MAX_PACKET_ID;
  /** Room left in the window. */
  private room = MAX_PACKET_ID;
  /** Room left for QoS 2 publishes; never more than the window. */
  private room2 = MAX_PACKET_ID;

  /** A new connection, before its CONNACK. */
  reset(): void {
    this.room = MAX_PACKET_ID;
    this.room2 = MAX_PACKET_ID;
  }

  /** CONNACK accepted: the window from the server's Receive Maximum and the client's `maxInflight`. */
  open(receiveMaximum: number, maxInflight: number | undefined, version: ProtocolVersion): void {
    this.size = Math.min(receiveMaximum, maxInflight ?? MAX_PACKET_ID);
    this.room = this.probing ? 1 : this.size;
    this.room2 = version === 4 && maxInflight === undefined ? DEFAULT_MAX_INFLIGHT : this.size;
  }

  /** No room to send a publish at `qos` now. */
  full(qos: number): boolean {
    return this.room === 0 || (qos === 2 && this.room2 === 0);
  }

  /** A QoS 1/2 publish goes out. */
  take(qos: number): void {
    this.room--;
    if (qos === 2) this.room2--;
  }

  /** A QoS 1/2 publish completed. */
  give(qos: number): void {
    this.room++;
    if (qos === 2) this.room2++;
  }

  /** A publish moved forward on this connection: a probing connection opens its whole window. */
  progressed(): void {
    if (this.probing) {
      this.probing = false;
      this.room += this.size - 1;
    }
  }
}
