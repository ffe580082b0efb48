/**
 * Messages from the server: delivery to the handler, acknowledgement in
 * arrival order, and QoS 2 delivered exactly once.
 *
 * Theory of operation: a received PUBLISH (its topic alias already resolved)
 * goes to `handler.message`. QoS 0 needs nothing more. A QoS 1/2 message is
 * acknowledged (PUBACK, PUBREC) when the handler returns, unless the handler
 * called `deferAck()` and got a token: then its acknowledgement waits for
 * `acknowledge(token)`, and the acknowledgements of the messages after it
 * queue behind it (`acks`), because MQTT 4.6 wants PUBACK and PUBREC in the
 * order the PUBLISH packets came. A message that is acknowledged at once
 * allocates nothing: one `Delivery` record is reused for every message, and
 * a token is made only when asked for.
 *
 *   PUBLISH --> handler.message --returns--> PUBACK / PUBREC, or into `acks` behind a deferred one
 *                    \--deferAck()--> token --acknowledge(token)--> it and those done behind it
 *
 * QoS 2: the id is held (`qos2`) from the PUBREC until the server's PUBREL,
 * answered with PUBCOMP. A PUBLISH under a held id is a resend of a message
 * already delivered: it gets PUBREC again and is not delivered again. The
 * ids are session state: they outlive connections, but not a server that
 * comes back without the session.
 *
 * Messages received and not yet acknowledged, plus the held QoS 2 ids, are
 * limited by the Receive Maximum this client sent in CONNECT.
 */

import { encode } from '../codec/encode.js';
import type { PublishPacket } from '../codec/types.js';
import { Fifo } from '../core/fifo.js';
import { MAX_PACKET_ID, PacketIdSet } from './inflight.js';
import type { Link } from './link.js';
import type { EngineOptions } from './options.js';

/** A received QoS 1/2 message's acknowledgement (the token `deferAck` returns). */
export class IncomingAck {
  done = false;
  constructor(
    readonly id: number,
    readonly qos: 1 | 2,
    readonly connection: number,
  ) {}
}

/** The QoS 1/2 message being delivered now. */
interface Delivery {
  id: number;
  qos: 1 | 2;
  token: IncomingAck | undefined;
}

export class Incoming {
  /** QoS 2 ids whose PUBREC is sent and PUBREL not yet received. */
  readonly qos2 = new PacketIdSet();
  private readonly link: Link;
  private readonly options: EngineOptions;
  /** QoS 1/2 messages received on this connection and not yet acknowledged. */
  private unacked = 0;
  /**
   * Acknowledgements that wait for an earlier deferred one, in arrival
   * order. Undefined unless `deferAck` was used.
   */
  private acks: Fifo<IncomingAck> | undefined = undefined;
  /** The message being delivered now, for `deferAck`; undefined outside `handler.message`. */
  private delivering: Delivery | undefined = undefined;
  private readonly delivery: Delivery = { id: 0, qos: 1, token: undefined };

  constructor(link: Link, options: EngineOptions) {
    this.link = link;
    this.options = options;
  }

  /** Ids a store kept: they await their PUBREL. */
  restore(ids: readonly number[]): void {
    for (const id of ids) this.qos2.add(id);
  }

  /** A new connection: nothing received on it yet. */
  open(): void {
    this.unacked = 0;
    this.acks = undefined;
  }

  /** The connection is gone: what waited to be acknowledged on it is void (the server sends it again). */
  lost(): void {
    this.acks = undefined;
    this.delivering = undefined;
  }

  /**
   * The server has no session: the QoS 2 ids it had not released went with
   * it, and it may reuse them for new messages, which must not be taken for
   * resends.
   */
  forgetQoS2(): void {
    if (this.qos2.size === 0) return;
    for (const id of this.qos2.values()) this.link.handler.incomingQoS2?.(id, false);
    this.qos2.clear();
  }

  /** A PUBLISH from the server, topic alias resolved. */
  publish(p: PublishPacket): void {
    const link = this.link;
    const qos = p.qos;
    if (qos === 0) {
      link.handler.message(p);
      return;
    }
    const id = p.packetId as number;
    if (qos === 2 && this.qos2.has(id)) {
      // a resend of a message already delivered: acknowledge again, deliver never
      link.send(encode({ type: 'pubrec', packetId: id }, link.version));
      return;
    }
    const max = this.options.connectProperties?.receiveMaximum ?? MAX_PACKET_ID;
    if (++this.unacked + this.qos2.size > max) {
      return link.protocolError('the server exceeded this client’s Receive Maximum', 0x93);
    }
    const d = this.delivery;
    d.id = id;
    d.qos = qos;
    d.token = undefined;
    this.delivering = d;
    try {
      link.handler.message(p);
    } finally {
      this.delivering = undefined;
    }
    const token = d.token as IncomingAck | undefined; // the handler may have set it
    d.token = undefined;
    if (token !== undefined && !token.done) {
      (this.acks ??= new Fifo()).push(token);
    } else if (this.acks === undefined) {
      this.sendAck(id, qos);
    } else {
      // behind a deferred one
      const done = new IncomingAck(id, qos, link.seq);
      done.done = true;
      this.acks.push(done);
    }
  }

  /** See `ClientEngine.deferAck`. */
  deferAck(): IncomingAck | undefined {
    const d = this.delivering;
    if (d === undefined) return undefined;
    // the delivery's own token, made only now: messages acknowledged at once allocate nothing
    d.token ??= new IncomingAck(d.id, d.qos, this.link.seq);
    return d.token;
  }

  /** See `ClientEngine.acknowledge`. */
  acknowledge(token: IncomingAck): void {
    if (token.done || token.connection !== this.link.seq) return;
    token.done = true;
    const acks = this.acks;
    if (acks === undefined) return;
    let next = acks.peek();
    while (next?.done) {
      acks.shift();
      this.sendAck(next.id, next.qos);
      next = acks.peek();
    }
    if (acks.length === 0) this.acks = undefined;
  }

  /** PUBREL: the server releases a QoS 2 id; PUBCOMP answers, 0x92 when the id is unknown (MQTT 5). */
  pubrel(id: number): void {
    const link = this.link;
    const known = this.qos2.delete(id);
    if (known) link.handler.incomingQoS2?.(id, false);
    link.send(
      encode(
        { type: 'pubcomp', packetId: id, reasonCode: known || link.version === 4 ? 0 : 0x92 },
        link.version,
      ),
    );
  }

  /** Sends the PUBACK or PUBREC of a received message (QoS 2: its id is held from now on). */
  private sendAck(id: number, qos: 1 | 2): void {
    const link = this.link;
    this.unacked--;
    if (qos === 1) {
      link.send(encode({ type: 'puback', packetId: id }, link.version));
      return;
    }
    if (!this.qos2.has(id)) {
      this.qos2.add(id);
      link.handler.incomingQoS2?.(id, true);
    }
    link.send(encode({ type: 'pubrec', packetId: id }, link.version));
  }
}
