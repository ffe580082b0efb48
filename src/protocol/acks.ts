/**
 * The server's answers to this client's operations (`outgoing.ts`):
 * PUBACK for QoS 1; PUBREC, then PUBCOMP after our PUBREL, for QoS 2;
 * SUBACK and UNSUBACK. An answer completes the operation (or moves a QoS 2
 * publish to PUBREL), frees its packet id and its room in the send window,
 * and lets what waits go out.
 *
 * An answer that does not fit what is in flight under its packet id is a
 * protocol error, with two exceptions: PUBREC for an id this client does
 * not know is released with PUBREL 0x92 (Packet Identifier not found), so
 * the server can finish it; and a PUBACK for a QoS 2 publish comes from a
 * server that takes QoS 1 at most (RabbitMQ 3): the publish is done, and
 * this server gets QoS 1 at most from then on.
 */

import { encode } from '../codec/encode.js';
import type { AckPacket, SubackPacket, UnsubackPacket } from '../codec/types.js';
import { type ControlOp, type Outgoing, type PublishOp, RELEASED, SENT } from './outgoing.js';

/** PUBACK, PUBREC or PUBCOMP. */
export function publishAck(out: Outgoing, p: AckPacket): void {
  const link = out.link;
  const op = out.inflight.get(p.packetId);
  if (op !== undefined && op.packet.type !== 'publish') {
    return link.protocolError(
      `${p.type.toUpperCase()} for packet id ${p.packetId} of a ${op.packet.type.toUpperCase()}`,
    );
  }
  if (op === undefined || op.packet.type !== 'publish') {
    if (p.type === 'pubrec') {
      // the server has a message we do not know: release it so it can finish
      link.send(
        encode(
          { type: 'pubrel', packetId: p.packetId, reasonCode: link.version === 5 ? 0x92 : 0 },
          link.version,
        ),
      );
    }
    return;
  }
  const pub = op as PublishOp;
  const rc = p.reasonCode ?? 0;
  const qos = pub.packet.qos;
  if (p.type === 'puback') {
    if (qos === 2 && pub.stage === SENT) {
      // a server without QoS 2 (RabbitMQ 3) takes it as QoS 1 and says so with PUBACK: the
      // message is delivered, and this server is sent QoS 1 at most from now on
      link.maxQoS = 1;
      if (link.limits.maximumQoS > 1) link.limits.maximumQoS = 1;
    } else if (qos !== 1) return link.protocolError(`PUBACK for QoS ${qos} message ${p.packetId}`);
  } else if (p.type === 'pubrec') {
    if (qos !== 2) return link.protocolError(`PUBREC for QoS ${qos} message ${p.packetId}`);
    if (rc < 0x80) {
      pub.stage = RELEASED;
      pub.attempts = 0;
      out.window.progressed();
      link.handler.stored?.(pub);
      link.send(encode({ type: 'pubrel', packetId: p.packetId }, link.version));
      return;
    }
  } else if (qos !== 2 || pub.stage !== RELEASED) {
    return link.protocolError(`PUBCOMP for message ${p.packetId} before its PUBREL`);
  }
  out.inflight.release(p.packetId);
  out.window.give(qos);
  out.window.progressed();
  link.handler.published(pub, rc, p.properties);
  if (out.pending.length > 0) out.sendPending();
}

/** SUBACK or UNSUBACK: one reason code per filter of the request. */
export function controlAck(out: Outgoing, p: SubackPacket | UnsubackPacket): void {
  const link = out.link;
  const op = out.inflight.get(p.packetId);
  const expected = p.type === 'suback' ? 'subscribe' : 'unsubscribe';
  if (op === undefined || op.packet.type !== expected) {
    return link.protocolError(
      `${p.type.toUpperCase()} for packet id ${p.packetId}, which has no ${expected}`,
    );
  }
  const ctl = op as ControlOp;
  const count =
    ctl.packet.type === 'subscribe' ? ctl.packet.subscriptions.length : ctl.packet.topicFilters.length;
  if (p.reasonCodes !== undefined && p.reasonCodes.length !== count) {
    return link.protocolError(
      `${p.type.toUpperCase()} has ${p.reasonCodes.length} reason codes for ${count} filters`,
    );
  }
  out.inflight.release(p.packetId);
  if (p.type === 'suback') link.handler.subscribed(ctl, p);
  else link.handler.unsubscribed(ctl, p);
  if (out.pending.length > 0) out.sendPending();
}
