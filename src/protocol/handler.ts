/**
 * How the engine talks back to its owner (`session/`): an object whose
 * methods it calls synchronously from within `receive`, `tick`, `publish`
 * and the other calls, so the owner learns of each event as it happens and
 * the engine needs neither promises nor events of its own.
 */

import type {
  AckProperties,
  AuthPacket,
  ConnackPacket,
  PublishPacket,
  SubackPacket,
  UnsubackPacket,
} from '../codec/types.js';
import type { MqttError } from '../core/errors.js';
import type { ControlOp, PublishOp } from './outgoing.js';

export interface EngineHandler {
  /** Output went from empty to not empty: call `takeOutput` at the end of this turn. */
  wantsFlush(): void;
  /** A CONNACK arrived; `reasonCode >= 0x80` (or 1..5 in 3.1.1) means refused. */
  connack(packet: ConnackPacket): void;
  /**
   * An application message, topic alias resolved. Acknowledged when this
   * returns, unless the handler called `engine.deferAck()` meanwhile.
   */
  message(packet: PublishPacket): void;
  /** A QoS 1/2 publish completed: PUBACK, PUBCOMP, or PUBREC with an error (`reasonCode >= 0x80`). */
  published(op: PublishOp, reasonCode: number, properties: AckProperties | undefined): void;
  subscribed(op: ControlOp, packet: SubackPacket): void;
  unsubscribed(op: ControlOp, packet: UnsubackPacket): void;
  /** An AUTH from the server (enhanced authentication). Answer with `engine.auth()`. */
  auth(packet: AuthPacket): void;
  /** A publish got its packet id or moved to PUBREL (`op.stage`): persist it before the output is written. */
  stored?(op: PublishOp): void;
  /** An incoming QoS 2 id was added (PUBREC queued) or released (PUBCOMP queued). */
  incomingQoS2?(packetId: number, added: boolean): void;
  /** A waiting publish passed its `expiresAt` and was dropped unsent. */
  expired?(op: PublishOp): void;
  /**
   * A publish reached `maxDeliveryAttempts`: every connection it was sent on
   * ended before acknowledging it. It is out of the engine (packet id freed).
   */
  abandoned?(op: PublishOp): void;
  /**
   * The connection must end: the server sent DISCONNECT, broke the protocol
   * (a DISCONNECT with the reason is already in the output), or stopped
   * answering. Flush the output, then close the transport.
   */
  closing(error: MqttError): void;
}
