/**
 * This client's operations, from the call to the wire: QoS 0/1/2 PUBLISH,
 * SUBSCRIBE and UNSUBSCRIBE. Their acknowledgements are `acks.ts`.
 *
 * Theory of operation: an operation is sent at once when the connection is
 * up, nothing waits before it, and there is a packet id and (for a QoS 1/2
 * publish) room in the send window (`send-window.ts`); otherwise it waits in
 * `pending`, a FIFO, and `sendPending` sends from its head, in order, when
 * CONNACK or an acknowledgement frees what it waited for. Once sent with a
 * packet id it is in flight, in `inflight` (a table by packet id), until
 * acknowledged. Both are MQTT session state (4.1) and outlive connections.
 *
 *   publish()/control() --> pending --(connected, id, room)--> inflight --ack--> done
 *         \------------------(all of that now)---------------/
 *
 * After a reconnect, what was in flight is resent first, oldest first
 * (`replay`): PUBLISH with DUP for a publish awaiting PUBACK or PUBREC,
 * PUBREL for one awaiting PUBCOMP, SUBSCRIBE and UNSUBSCRIBE as they were.
 * Publishes beyond the window wait at the head of `pending` with their
 * packet ids. Each connection that ends without this client closing it
 * counts a delivery attempt against the publishes sent on it and not
 * acknowledged (`connectionFailed`), and the next connection probes.
 */

import { encode, encodedSize } from '../codec/encode.js';
import type { ProtocolVersion, PublishPacket, SubscribePacket, UnsubscribePacket } from '../codec/types.js';
import { Fifo } from '../core/fifo.js';
import { MAX_PACKET_ID, PacketIds } from './inflight.js';
import { EngineState, type Link } from './link.js';
import type { EngineOptions } from './options.js';
import type { PublishWriter } from './publish-writer.js';
import { SendWindow } from './send-window.js';

/** A PUBLISH the engine is sending. The owner creates it; the engine fills in the rest. */
export interface PublishOp {
  /** The message. For QoS > 0 the engine sets `packetId` and, on a resend, `dup`. */
  readonly packet: PublishPacket;
  /** 0 while waiting; the packet id once sent (QoS > 0). */
  packetId: number;
  /** 0 waiting, 1 sent (awaiting PUBACK or PUBREC), 2 PUBREL sent (awaiting PUBCOMP). */
  stage: number;
  /** Connections that ended after this stage was sent on them and before it was acknowledged. */
  attempts?: number;
  /** The connection (engine's count) this stage was last sent on; 0 before the first send. */
  sentOn?: number;
  /** Epoch ms after which the message is dropped if still waiting (message expiry); 0 or absent: never. */
  expiresAt?: number;
}

/** A SUBSCRIBE or UNSUBSCRIBE the engine is sending. */
export interface ControlOp {
  readonly packet: SubscribePacket | UnsubscribePacket;
  packetId: number;
  stage: number;
}

export type Op = PublishOp | ControlOp;

/** `stage` of an operation sent and awaiting its acknowledgement (PUBACK, PUBREC, SUBACK, UNSUBACK). */
export const SENT = 1;
/** `stage` of a QoS 2 publish whose PUBREL is sent (awaiting PUBCOMP). */
export const RELEASED = 2;

export class Outgoing {
  readonly link: Link;
  /** Operations in flight (sent, not completely acknowledged), by packet id. */
  readonly inflight = new PacketIds<Op>();
  /** Operations waiting for a packet id, send quota or a connection, in order. */
  readonly pending = new Fifo<Op>();
  readonly window = new SendWindow();
  /** Payload and topic bytes of the publishes waiting. */
  waitingBytes = 0;
  private readonly writer: PublishWriter;
  private readonly options: EngineOptions;
  /** The connection whose end was last counted against the publishes sent on it. */
  private counted = 0;

  constructor(link: Link, writer: PublishWriter, options: EngineOptions) {
    this.link = link;
    this.writer = writer;
    this.options = options;
  }

  /** Publishes a store kept: those with a packet id and stage go in flight, the rest wait in order. */
  restore(ops: readonly PublishOp[]): void {
    for (const op of ops) {
      if (op.stage > 0 && op.packetId > 0 && this.inflight.set(op.packetId, op)) continue;
      op.stage = 0;
      op.packetId = 0;
      this.queue(op);
    }
  }

  /** Removes the oldest publish that waits and was never sent; undefined when there is none. */
  dropOldest(): PublishOp | undefined {
    const pending = this.pending;
    for (let i = 0; i < pending.length; i++) {
      const op = pending.at(i) as Op;
      if (op.packet.type === 'publish' && op.packetId === 0) {
        pending.removeAt(i);
        this.waitingBytes -= weight(op as PublishOp);
        return op as PublishOp;
      }
    }
    return undefined;
  }

  /** See `ClientEngine.publish`. */
  publish(op: PublishOp): boolean {
    const link = this.link;
    const p = op.packet;
    if (link.state !== EngineState.Connected) {
      encodedLength(p, link.version, link.limits.maximumPacketSize);
      this.queue(op);
      return false;
    }
    if (p.qos === 0) {
      this.writer.send(p, this.writer.encode(p));
      return true;
    }
    if (this.pending.length > 0 || this.window.full(p.qos)) {
      encodedLength(p, link.version, link.limits.maximumPacketSize);
      this.queue(op);
      return false;
    }
    return this.sendPublish(op);
  }

  /** See `ClientEngine.control`. */
  control(op: ControlOp, ahead: boolean): boolean {
    const link = this.link;
    encodedLength(op.packet, link.version, link.limits.maximumPacketSize);
    if (link.state !== EngineState.Connected || (this.pending.length > 0 && !ahead)) {
      this.pending.push(op);
      return false;
    }
    return this.sendControl(op);
  }

  /** Removes an operation that waits; false when it is in flight or unknown. */
  cancel(op: Op): boolean {
    if (op.stage !== 0) return false;
    if (!this.pending.remove(op)) return false;
    if (op.packet.type === 'publish') this.waitingBytes -= weight(op as PublishOp);
    return true;
  }

  /** Takes every operation in flight or waiting, in flight first. */
  drain(): Op[] {
    const ops = this.inflight.values();
    for (const op of this.pending.drain()) ops.push(op);
    this.inflight.clear();
    this.waitingBytes = 0;
    return ops;
  }

  /**
   * The connection ended without this client closing it: each publish sent
   * on it and not acknowledged counts an attempt, and is abandoned at
   * `maxDeliveryAttempts`; the next connection probes when there was any.
   * Counted once per connection.
   */
  connectionFailed(): void {
    const seq = this.link.seq;
    if (this.counted === seq) return;
    this.counted = seq;
    const max = this.options.maxDeliveryAttempts ?? 0;
    let struck = false;
    for (const op of this.inflight.size === 0 ? NO_OPS : this.inflight.values()) {
      if (op.packet.type !== 'publish') continue;
      const pub = op as PublishOp;
      if (pub.sentOn !== seq) continue;
      struck = true;
      pub.attempts = (pub.attempts ?? 0) + 1;
      if (max > 0 && pub.attempts >= max) {
        this.inflight.release(pub.packetId);
        this.link.handler.abandoned?.(pub);
      }
    }
    this.window.probing = struck;
  }

  /**
   * Resends `ops` (what was in flight before this CONNACK), oldest first.
   * Publishes beyond the send window wait at the head of the queue.
   */
  replay(ops: Op[]): void {
    const link = this.link;
    const window = this.window;
    const wait: Op[] = [];
    for (const op of ops) {
      if (op.packet.type !== 'publish') {
        link.send(encode(op.packet, link.version));
        continue;
      }
      const qos = (op as PublishOp).packet.qos;
      if (window.full(qos)) {
        wait.push(op);
        continue;
      }
      window.take(qos);
      this.resend(op as PublishOp);
    }
    // what an earlier replay left waiting is in `ops` again: keep only what never got a packet id
    const pending = this.pending;
    const rest = pending.drain();
    for (const op of wait) pending.push(op);
    for (const op of rest) if (op.packetId === 0) pending.push(op);
  }

  /** Sends waiting operations, in order, while ids and room last. */
  sendPending(): void {
    const link = this.link;
    const pending = this.pending;
    const window = this.window;
    while (pending.length > 0 && link.state === EngineState.Connected) {
      const op = pending.peek() as Op;
      if (op.packet.type !== 'publish') {
        if (this.inflight.size === MAX_PACKET_ID) break;
        pending.shift();
        this.sendControl(op as ControlOp);
        continue;
      }
      const pub = op as PublishOp;
      const qos = pub.packet.qos;
      if (qos > 0 && window.full(qos)) break;
      if (pub.packetId !== 0) {
        // replayed at the head of the queue: it has its packet id
        window.take(qos);
        pending.shift();
        this.resend(pub);
        continue;
      }
      if (qos > 0 && this.inflight.size === MAX_PACKET_ID) break;
      pending.shift();
      this.waitingBytes -= weight(pub);
      if (pub.expiresAt && !this.refreshExpiry(pub)) {
        link.handler.expired?.(pub);
        continue;
      }
      try {
        if (qos === 0) {
          this.writer.send(pub.packet, this.writer.encode(pub.packet));
          link.handler.published(pub, 0, undefined);
        } else this.sendPublish(pub);
      } catch (err) {
        // limits changed since it was queued (a new connection's maximum packet size)
        link.handler.published(pub, 0x95, { reasonString: (err as Error).message });
      }
    }
  }

  private queue(op: Op): void {
    this.pending.push(op);
    if (op.packet.type === 'publish') this.waitingBytes += weight(op as PublishOp);
  }

  private sendPublish(op: PublishOp): boolean {
    const id = this.inflight.acquire(op);
    if (id === 0) {
      this.queue(op);
      return false;
    }
    op.packetId = id;
    op.packet.packetId = id;
    let bytes: Uint8Array;
    try {
      bytes = this.writer.encode(op.packet);
    } catch (err) {
      this.inflight.release(id);
      op.packetId = 0;
      throw err;
    }
    op.stage = SENT;
    op.sentOn = this.link.seq;
    this.window.take(op.packet.qos);
    this.link.handler.stored?.(op);
    this.writer.send(op.packet, bytes);
    return true;
  }

  /** A publish in flight, again on a new connection: PUBLISH with DUP, or PUBREL once released. */
  private resend(op: PublishOp): void {
    const link = this.link;
    op.sentOn = link.seq;
    if (op.stage === RELEASED) {
      link.send(encode({ type: 'pubrel', packetId: op.packetId }, link.version));
      return;
    }
    op.packet.dup = true;
    this.writer.send(op.packet, this.writer.encode(op.packet));
  }

  /**
   * A waiting message with an expiry: false once it has expired, otherwise
   * its Message Expiry Interval is lowered by the time it waited (3.3.2.3.3).
   */
  private refreshExpiry(op: PublishOp): boolean {
    const left = Math.ceil(((op.expiresAt as number) - this.link.now) / 1000);
    if (left <= 0) return false;
    const p = op.packet;
    if (this.link.version === 5 && p.properties?.messageExpiryInterval !== undefined) {
      p.properties = { ...p.properties, messageExpiryInterval: left };
    }
    return true;
  }

  private sendControl(op: ControlOp): boolean {
    const id = this.inflight.acquire(op);
    if (id === 0) {
      this.pending.push(op);
      return false;
    }
    op.packetId = id;
    op.packet.packetId = id;
    op.stage = SENT;
    this.link.send(encode(op.packet, this.link.version));
    return true;
  }
}

const NO_OPS: Op[] = [];

/**
 * Validates a packet that waits for its packet id, and checks its size
 * against the server's limit, without encoding it.
 */
function encodedLength(
  p: PublishPacket | SubscribePacket | UnsubscribePacket,
  version: ProtocolVersion,
  max: number | undefined,
): number {
  const id = p.packetId;
  const needsId = p.type !== 'publish' || p.qos > 0;
  if (needsId && !id) p.packetId = MAX_PACKET_ID;
  try {
    return encodedSize(p, version, max === undefined ? undefined : { maximumPacketSize: max });
  } finally {
    p.packetId = id as number;
  }
}

/** What a waiting publish counts for against the offline queue's byte limit. */
function weight(op: PublishOp): number {
  return op.packet.payload.byteLength + op.packet.topic.length;
}
