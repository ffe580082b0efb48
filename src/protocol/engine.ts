/**
 * The MQTT client engine, sans I/O.
 *
 * Theory of operation: the engine owns MQTT session state as the spec
 * defines it (4.1) and the state of the current network connection. It does
 * no I/O and reads no clock: the owner (`session/`) feeds it bytes with
 * `receive(chunk, now)`, calls `tick(now)` when `nextDeadline()` passes,
 * takes the bytes to send with `takeOutput(now)` (one socket write per turn
 * of the event loop), and hears back through an {@link EngineHandler}, called
 * synchronously from within those methods.
 *
 * Session state (kept across connections, for replay): the operations in
 * flight under each packet id (QoS 1/2 PUBLISH, SUBSCRIBE, UNSUBSCRIBE), the
 * queue of operations waiting for a packet id or for send quota, and the
 * incoming QoS 2 ids awaiting PUBREL.
 *
 * Connection state (reset by `open`): the server's limits from CONNACK
 * (Receive Maximum as a send quota, Maximum Packet Size, Topic Alias
 * Maximum, Server Keep Alive), both topic alias maps, keepalive times.
 *
 *   idle --open--> connecting --CONNACK 0--> connected --lost/closing--> idle
 *                       \--CONNACK >= 0x80--> idle
 *
 * Outgoing QoS 1: PUBLISH -> PUBACK.  QoS 2: PUBLISH -> PUBREC, PUBREL ->
 * PUBCOMP. Incoming QoS 2 is delivered once, on the PUBLISH; a duplicate of
 * an id awaiting PUBREL is answered with PUBREC and not delivered again.
 *
 * This file is the coordinator: it holds the CONNECT, the decoder and the
 * connection's state machine, and hands each packet and call to the part
 * whose job it is, one file each:
 *
 *   options.ts         EngineOptions: what the engine is made with
 *   handler.ts         EngineHandler: how it talks back to its owner
 *   link.ts            what the parts share: version, state, limits, output, handler
 *   outbox.ts          the turn's output: encoded packets joined into few chunks
 *   limits.ts          the server's limits, from CONNACK
 *   keepalive.ts       when PINGREQ is due, when the server is dead, round-trip time
 *   aliases.ts         topic aliases, both directions
 *   publish-writer.ts  a PUBLISH as it goes on this connection's wire
 *   send-window.ts     how many publishes may be in flight; probing after a failure
 *   inflight.ts        packet ids: the table of operations in flight by id, and
 *                      the bitmap of incoming QoS 2 ids awaiting PUBREL
 *   outgoing.ts        this client's operations: waiting queue, packet ids, replay
 *   acks.ts            the server's answers to them
 *   incoming.ts        the server's messages: delivery, ordered acks, QoS 2 once
 *   answer.ts          what a server that is not MQTT sent instead of CONNACK
 */

import { PacketDecoder } from '../codec/decode.js';
import { encode, encodedSize } from '../codec/encode.js';
import { reasonCodeName } from '../codec/reason-codes.js';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectProperties,
  Packet,
  ProtocolVersion,
  PublishPacket,
} from '../codec/types.js';
import { ConnectionError, type DecodeError, ProtocolError, TimeoutError } from '../core/errors.js';
import { controlAck, publishAck } from './acks.js';
import { TopicAliases } from './aliases.js';
import { describeAnswer, describeUnanswered, isMqttAnswer, keepHead } from './answer.js';
import type { EngineHandler } from './handler.js';
import { Incoming, type IncomingAck } from './incoming.js';
import { Keepalive, PINGREQ } from './keepalive.js';
import { applyConnack, type ServerLimits } from './limits.js';
import { EngineState, Link } from './link.js';
import type { EngineOptions } from './options.js';
import { type ControlOp, type Op, Outgoing, type PublishOp } from './outgoing.js';
import { PublishWriter } from './publish-writer.js';

export type { EngineHandler } from './handler.js';
export { IncomingAck } from './incoming.js';
export type { ServerLimits } from './limits.js';
export { EngineState } from './link.js';
export type { EngineOptions } from './options.js';
export type { ControlOp, PublishOp } from './outgoing.js';
export { DEFAULT_MAX_INFLIGHT } from './send-window.js';

export class ClientEngine {
  readonly options: EngineOptions;
  /** Client identifier in use (the server may assign one). */
  clientId: string;

  private readonly link: Link;
  private readonly decoder: PacketDecoder;
  private readonly keepalive = new Keepalive();
  private readonly aliases: TopicAliases;
  private readonly outgoing: Outgoing;
  private readonly incoming: Incoming;
  private connectPacket: ConnectPacket;
  /** The first bytes of the connection while waiting for CONNACK, to say what a server that is not MQTT sent. */
  private head: Buffer | undefined = undefined;

  constructor(options: EngineOptions, handler: EngineHandler) {
    this.options = options;
    this.clientId = options.clientId;
    const link = new Link(handler, options.protocolVersion, options.keepalive, options.maximumQoS ?? 2);
    this.link = link;
    this.decoder = new PacketDecoder({
      protocolVersion: options.protocolVersion,
      maximumPacketSize: options.connectProperties?.maximumPacketSize ?? options.maximumPacketSize,
    });
    this.aliases = new TopicAliases(link);
    this.outgoing = new Outgoing(link, new PublishWriter(link, this.aliases), options);
    this.incoming = new Incoming(link, options);
    const o = options;
    this.connectPacket = {
      type: 'connect',
      clientId: o.clientId,
      clean: o.clean,
      keepalive: o.keepalive,
      username: o.username,
      password: o.password,
      will: o.will,
      properties: link.version === 5 ? o.connectProperties : undefined,
    };
    // an invalid CONNECT (a bad will, user property, ...) throws EncodeError here, not at connect time
    encodedSize(this.connectPacket, link.version);
  }

  /** The protocol level of the next connection; changed only by {@link useVersion}. */
  get version(): ProtocolVersion {
    return this.link.version;
  }

  get state(): EngineState {
    return this.link.state;
  }

  /** The server's limits on this connection (the protocol's defaults until its CONNACK). */
  get limits(): ServerLimits {
    return this.link.limits;
  }

  /** ms the latest PINGREQ took to be answered (same clock as `now`), or undefined before the first. */
  get roundTrip(): number | undefined {
    return this.keepalive.roundTrip;
  }

  /** Operations in flight (sent, not completely acknowledged). */
  get inflightCount(): number {
    return this.outgoing.inflight.size;
  }

  /** Operations waiting for a packet id, send quota or a connection. */
  get pendingCount(): number {
    return this.outgoing.pending.length;
  }

  /** Payload and topic bytes of the publishes waiting (the offline queue's size). */
  get pendingBytes(): number {
    return this.outgoing.waitingBytes;
  }

  /** Incoming QoS 2 messages received and not yet released (PUBREL). */
  get incomingQoS2Count(): number {
    return this.incoming.qos2.size;
  }

  /** Bytes of an incomplete packet held by the decoder. */
  get bufferedBytes(): number {
    return this.decoder.buffered;
  }

  /**
   * While no CONNACK came on this connection: what the server sent instead,
   * described for an error message (`it sent "HTTP/1.1 ..."; is this an
   * MQTT port?`); undefined when it sent nothing, or CONNACK came.
   */
  get unansweredConnect(): string | undefined {
    const head = this.head;
    return head === undefined ? undefined : describeUnanswered(head);
  }

  /**
   * Switches the protocol level for the next connection (`protocolVersion:
   * 'auto'` falling back to 3.1.1). Only while idle; session state stays.
   * False when the CONNECT cannot be sent with that version (3.1.1 refuses
   * a password without a user name, and an empty client id without a clean
   * session): nothing changes then.
   */
  useVersion(version: ProtocolVersion): boolean {
    const link = this.link;
    if (link.state !== EngineState.Idle) return false;
    if (version === link.version) return true;
    const will = this.options.will;
    const next: ConnectPacket = {
      ...this.connectPacket,
      will: will === undefined || version === 5 ? will : { ...will, properties: undefined },
      properties: version === 5 ? this.options.connectProperties : undefined,
    };
    try {
      encodedSize(next, version);
    } catch {
      return false;
    }
    link.version = version;
    this.decoder.protocolVersion = version;
    this.connectPacket = next;
    return true;
  }

  /** Username and password for the next CONNECT (a credentials hook, a fresh JWT). */
  setCredentials(username: string | undefined, password: Uint8Array | undefined): void {
    const next: ConnectPacket = { ...this.connectPacket, username, password };
    encodedSize(next, this.link.version);
    this.connectPacket = next;
  }

  /**
   * Puts back what a previous process left in a store: publishes with a
   * packet id and stage go in flight (replayed on the next CONNACK), the
   * rest wait in order; incoming QoS 2 ids await their PUBREL.
   */
  restore(ops: readonly PublishOp[], incomingQoS2: readonly number[]): void {
    this.outgoing.restore(ops);
    this.incoming.restore(incomingQoS2);
  }

  /**
   * Removes the oldest publish that waits and has never been sent (offline
   * queue overflow); undefined when there is none.
   */
  dropOldest(): PublishOp | undefined {
    return this.outgoing.dropOldest();
  }

  /** Starts a new network connection: resets connection state and queues CONNECT. */
  open(now: number): void {
    const link = this.link;
    link.open(now, this.options.keepalive);
    this.decoder.reset();
    this.outgoing.window.reset();
    this.aliases.reset();
    this.incoming.open();
    this.keepalive.open(now);
    this.head = undefined;
    link.send(encode(this.connectPacket, link.version));
  }

  /**
   * Called from `handler.message` for a QoS 1/2 message: its PUBACK (PUBREC)
   * waits for `acknowledge(token)`, and the acknowledgements of later
   * messages wait behind it. Returns undefined for QoS 0 or outside a
   * delivery. A token of a lost connection is void: the server sends the
   * message again (QoS 2 included: its id is only held once acknowledged).
   */
  deferAck(): IncomingAck | undefined {
    return this.incoming.deferAck();
  }

  /** Releases a deferred acknowledgement (and those queued behind it); a second call does nothing. */
  acknowledge(token: IncomingAck): void {
    this.incoming.acknowledge(token);
  }

  /**
   * The network connection is gone. Session state stays for the next `open`.
   * `failed`: it ended without this client closing it, so each publish sent
   * on it and not acknowledged counts a delivery attempt; those that reach
   * `maxDeliveryAttempts` are abandoned.
   */
  connectionLost(failed = true): void {
    if (failed) this.outgoing.connectionFailed();
    const link = this.link;
    link.state = EngineState.Idle;
    this.head = undefined;
    this.incoming.lost();
    link.out.clear();
    this.keepalive.lost();
  }

  /** Bytes received from the network. */
  receive(chunk: Uint8Array, now: number): void {
    const link = this.link;
    if (link.state === EngineState.Idle) return;
    link.now = now;
    if (link.state === EngineState.Connecting) this.head = keepHead(this.head, chunk);
    let packets: Packet[];
    try {
      packets = this.decoder.push(chunk);
    } catch (err) {
      const e = err as DecodeError;
      const head = this.head;
      const message =
        head !== undefined && !isMqttAnswer(head[0])
          ? `the server did not answer CONNECT with a CONNACK: ${describeAnswer(head)}`
          : `malformed packet from the server: ${e.message}${e.reasonCode === 0x95 ? tooLargeHint(link.version) : ''}`;
      link.fail(new ProtocolError(message, e.reasonCode, { cause: e }));
      return;
    }
    this.keepalive.received(now);
    for (let i = 0; i < packets.length && (link.state as EngineState) !== EngineState.Idle; i++) {
      this.handle(packets[i]);
    }
  }

  /**
   * Sends a PUBLISH now, or queues it while there is no packet id, send
   * quota or connection. Returns true when it went into the output. Throws
   * {@link EncodeError} for a packet that cannot be sent (too large for the
   * server, invalid), with nothing queued.
   */
  publish(op: PublishOp): boolean {
    return this.outgoing.publish(op);
  }

  /**
   * Sends a SUBSCRIBE or UNSUBSCRIBE, or queues it while there is no packet
   * id or connection. `ahead`: send it before what is queued (the
   * subscriptions a session restores after a reconnect, which the messages
   * queued meanwhile, and the replies to them, must find in place).
   */
  control(op: ControlOp, ahead = false): boolean {
    return this.outgoing.control(op, ahead);
  }

  /** Sends an AUTH (enhanced authentication, MQTT 5). */
  auth(packet: AuthPacket): void {
    const link = this.link;
    link.send(encode(packet, link.version, { maximumPacketSize: link.limits.maximumPacketSize }));
  }

  /** Queues DISCONNECT; the owner flushes and closes. */
  disconnect(reasonCode = 0, properties?: DisconnectProperties): void {
    const link = this.link;
    if (link.state === EngineState.Idle) return;
    link.send(
      encode(
        { type: 'disconnect', reasonCode: link.version === 5 ? reasonCode : 0, properties },
        link.version,
      ),
    );
  }

  /**
   * Removes an operation that was not sent yet (timeout, abort). Returns
   * false when it is already in flight: its packet id stays taken until the
   * server acknowledges it, as the protocol requires.
   */
  cancel(op: Op): boolean {
    return this.outgoing.cancel(op);
  }

  /** Takes every operation in flight or waiting, for the owner to fail them. Session state is cleared. */
  drain(): Op[] {
    const ops = this.outgoing.drain();
    this.incoming.qos2.clear();
    return ops;
  }

  /** Bytes to write, in order; `now` records when they leave for keepalive. */
  takeOutput(now: number): Buffer[] {
    const out = this.link.out;
    if (out.isEmpty) return NO_OUTPUT;
    this.keepalive.sent(now);
    return out.take();
  }

  /** When `tick` must be called next (ms, same clock as `now`); Infinity when nothing is due. */
  nextDeadline(): number {
    const k = this.keepaliveMs;
    if (this.link.state !== EngineState.Connected || k === 0) return Number.POSITIVE_INFINITY;
    return this.keepalive.deadline(k);
  }

  /**
   * Keepalive: PINGREQ when nothing was sent or nothing was received for a
   * keepalive interval; the connection is dead when a PINGREQ is
   * outstanding and nothing arrived for 1.5 times the interval.
   */
  tick(now: number): void {
    const link = this.link;
    link.now = now;
    const k = this.keepaliveMs;
    if (link.state !== EngineState.Connected || k === 0) return;
    const keepalive = this.keepalive;
    if (keepalive.dead(now, k)) {
      link.state = EngineState.Idle;
      link.handler.closing(
        new TimeoutError(
          `no answer from the server for ${keepalive.silence(now) / 1000} s (keepalive ${k / 1000} s)`,
        ),
      );
    } else if (keepalive.due(now, k)) link.send(PINGREQ);
  }

  // ---------------------------------------------------------------------------

  /** The keepalive interval in force, ms (read once connected: CONNACK may change it). */
  private get keepaliveMs(): number {
    return this.link.limits.keepalive * 1000;
  }

  private handle(p: Packet): void {
    const link = this.link;
    if (link.state === EngineState.Connecting) {
      if (p.type === 'connack') return this.onConnack(p);
      if (p.type === 'auth') return link.handler.auth(p);
      if (p.type === 'disconnect') return this.onDisconnect(p);
      return link.protocolError(
        `the server did not answer CONNECT with a CONNACK but with ${p.type.toUpperCase()}: ${describeAnswer(this.head as Buffer)}`,
      );
    }
    switch (p.type) {
      case 'publish':
        return this.onPublish(p);
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
        return publishAck(this.outgoing, p);
      case 'pubrel':
        return this.incoming.pubrel(p.packetId);
      case 'suback':
      case 'unsuback':
        return controlAck(this.outgoing, p);
      case 'pingresp':
        return this.keepalive.pong(link.now);
      case 'disconnect':
        return this.onDisconnect(p);
      case 'auth':
        return link.handler.auth(p);
      default:
        return link.protocolError(`unexpected ${p.type.toUpperCase()} from the server`);
    }
  }

  private onConnack(p: ConnackPacket): void {
    const link = this.link;
    this.head = undefined;
    if (p.reasonCode !== 0) {
      link.state = EngineState.Idle;
      link.handler.connack(p);
      return;
    }
    if (p.sessionPresent && this.connectPacket.clean) {
      // MQTT-3.2.2-4 (5.0); 3.1.1 forbids it too (MQTT-3.2.2-1): there is no session to resume
      return link.protocolError('the server answered a clean start with Session Present 1');
    }
    const limits = link.limits;
    applyConnack(limits, p.properties, this.options.topicAliases !== false, link.maxQoS);
    const assigned = p.properties?.assignedClientIdentifier;
    if (assigned !== undefined) this.clientId = assigned;
    const outgoing = this.outgoing;
    outgoing.window.open(limits.receiveMaximum, this.options.maxInflight, link.version);
    link.state = EngineState.Connected;
    if (!p.sessionPresent) this.incoming.forgetQoS2();
    // what was in flight before this CONNACK; the handler may start new operations
    const previous = outgoing.inflight.size > 0 ? outgoing.inflight.values() : undefined;
    link.handler.connack(p);
    if (link.state !== EngineState.Connected) return;
    if (previous !== undefined) outgoing.replay(previous);
    outgoing.sendPending();
  }

  private onPublish(p: PublishPacket): void {
    const alias = p.properties?.topicAlias;
    if (alias !== undefined) {
      const max = this.options.connectProperties?.topicAliasMaximum ?? 0;
      if (!this.aliases.resolve(p, alias, max)) return;
    }
    this.incoming.publish(p);
  }

  private onDisconnect(p: {
    reasonCode?: number;
    properties?: { reasonString?: string; serverReference?: string };
  }): void {
    const link = this.link;
    const rc = p.reasonCode ?? 0;
    const why = p.properties?.reasonString;
    const ref = p.properties?.serverReference;
    link.state = EngineState.Idle;
    link.handler.closing(
      new ConnectionError(
        `the server disconnected: ${reasonCodeName(rc, 'disconnect')} (0x${rc.toString(16).padStart(2, '0')})` +
          (why ? `: ${why}` : '') +
          (ref ? `; use server ${ref}` : ''),
        rc,
      ),
    );
  }
}

const NO_OUTPUT: Buffer[] = [];

/** What a packet over this client's maximum packet size means, per version. */
function tooLargeHint(version: ProtocolVersion): string {
  return version === 4
    ? '; MQTT 3.1.1 cannot tell the broker this limit, so a message it keeps for this session (queued or retained) comes again after each reconnect: raise maximumPacketSize to receive it'
    : '; the server ignored the Maximum Packet Size this client announced in CONNECT';
}
