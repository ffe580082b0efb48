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
 */

import { PacketDecoder } from '../codec/decode.js';
import { type EncodeOptions, encode, encodedSize, encodePublishHead } from '../codec/encode.js';
import { reasonCodeName } from '../codec/reason-codes.js';
import type {
  AckPacket,
  AckProperties,
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  ConnectProperties,
  DisconnectProperties,
  Packet,
  ProtocolVersion,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
  Will,
} from '../codec/types.js';
import {
  ConnectionError,
  type DecodeError,
  type MqttError,
  ProtocolError,
  TimeoutError,
} from '../core/errors.js';
import { ANSWER_BYTES, describeAnswer, describeUnanswered, isMqttAnswer } from './answer.js';
import { MAX_PACKET_ID, PacketIdSet, PacketIds } from './inflight.js';
import { Outbox } from './outbox.js';

export const EngineState = {
  Idle: 0,
  Connecting: 1,
  Connected: 2,
} as const;
export type EngineState = (typeof EngineState)[keyof typeof EngineState];

export interface EngineOptions {
  protocolVersion: ProtocolVersion;
  clientId: string;
  clean: boolean;
  /** Seconds; 0 turns keepalive off. */
  keepalive: number;
  username?: string;
  password?: Uint8Array;
  will?: Will;
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
   * without this, QoS 2 publishes there are held to {@link DEFAULT_MAX_INFLIGHT}
   * and QoS 1 to none. With MQTT 5 it only lowers the server's Receive Maximum.
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

/**
 * QoS 2 publishes an MQTT 3.1.1 session has in flight when `maxInflight` is
 * not set. 3.1.1 brokers announce no limit but have one for the QoS 2
 * messages they hold until PUBREL: mosquitto 2 takes 20 per client by
 * default (`max_inflight_messages`) and answers the rest with PUBREC while
 * dropping them; EMQX holds 100 (`max_awaiting_rel`). QoS 1 messages are
 * done at PUBACK and held by neither, so they are not limited.
 */
export const DEFAULT_MAX_INFLIGHT = 20;

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

type Op = PublishOp | ControlOp;

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

const QOS2_PUBLISHED = 1;
const QOS2_RELEASED = 2;
/**
 * Payloads from this size on are not copied into the encoded packet: they
 * follow its head as their own chunk, written with it in one writev. Below
 * it, one copy into the slab is cheaper than a chunk of its own.
 */
const SEPARATE_PAYLOAD = 1024;

export class ClientEngine {
  readonly options: EngineOptions;
  /** The protocol level of the next connection; changed only by {@link useVersion}. */
  version: ProtocolVersion;
  state: EngineState = EngineState.Idle;
  limits: ServerLimits;
  /** Client identifier in use (the server may assign one). */
  clientId: string;

  private readonly handler: EngineHandler;
  private connectPacket: ConnectPacket;
  private readonly decoder: PacketDecoder;
  private readonly out = new Outbox();

  // session state
  private readonly inflight = new PacketIds<Op>();
  private readonly incomingQoS2 = new PacketIdSet();
  /** Operations waiting for a packet id or send quota, in order (array + cursor). */
  private pending: Op[] = [];
  private pendingHead = 0;

  /** Highest QoS the server takes: the option, lowered for good when a server answers QoS 2 with PUBACK. */
  private maxQoS: 0 | 1 | 2;
  /**
   * The last connection ended with publishes sent on it and not
   * acknowledged: the next one sends the oldest alone, and opens its window
   * when that one moves forward. A message the server kills connections
   * over (a poison message) is then the only one its deaths count against.
   */
  private probing = false;
  /** The connection whose end was last counted against the publishes sent on it. */
  private counted = 0;

  // connection state
  /** QoS 1/2 publishes this connection may have in flight: the server's Receive Maximum and `maxInflight`. */
  private window = MAX_PACKET_ID;
  /** Room left in `window`. */
  private quota = MAX_PACKET_ID;
  /** Room left for QoS 2 publishes (see {@link DEFAULT_MAX_INFLIGHT}); never above `quota`'s window. */
  private quota2 = MAX_PACKET_ID;
  /** Payload and topic bytes of the publishes waiting. */
  private waitingBytes = 0;
  /** The `now` of the latest call that passed one. */
  private now = 0;
  private aliasesIn: (string | undefined)[] = [];
  /** Topic aliases this client set, by topic (MQTT 5); made by the first alias. */
  private aliasesOut: Map<string, number> | undefined = undefined;
  private incomingUnacked = 0;
  /**
   * Acknowledgements of received QoS 1/2 messages that wait for an earlier
   * deferred one (MQTT 4.6: PUBACK and PUBREC go out in the order the
   * PUBLISH packets came). Empty (undefined) unless `deferAck` was used.
   */
  private acks: IncomingAck[] | undefined = undefined;
  /** The QoS 1/2 message being delivered now, for `deferAck`. */
  private delivering: Delivery | undefined = undefined;
  private readonly delivery: Delivery = { id: 0, qos: 1, token: undefined };
  /** Counts connections: an acknowledgement deferred on one is void on the next. */
  private connectionSeq = 0;
  private keepaliveMs = 0;
  private lastSent = 0;
  private lastReceived = 0;
  private pingSentAt = 0;
  /** ms from the latest answered PINGREQ to its PINGRESP; -1 before the first. */
  private rtt = -1;
  /** The first bytes of the connection while waiting for CONNACK, to say what a server that is not MQTT sent. */
  private head: Buffer | undefined = undefined;

  constructor(options: EngineOptions, handler: EngineHandler) {
    this.options = options;
    this.version = options.protocolVersion;
    this.clientId = options.clientId;
    this.handler = handler;
    this.decoder = new PacketDecoder({
      protocolVersion: options.protocolVersion,
      maximumPacketSize: options.connectProperties?.maximumPacketSize ?? options.maximumPacketSize,
    });
    this.maxQoS = options.maximumQoS ?? 2;
    this.limits = defaultLimits(options.keepalive, this.maxQoS);
    const o = options;
    this.connectPacket = {
      type: 'connect',
      clientId: o.clientId,
      clean: o.clean,
      keepalive: o.keepalive,
      username: o.username,
      password: o.password,
      will: o.will,
      properties: this.version === 5 ? o.connectProperties : undefined,
    };
    // an invalid CONNECT (a bad will, user property, ...) throws EncodeError here, not at connect time
    encodedSize(this.connectPacket, this.version);
  }

  /** Operations in flight (sent, not completely acknowledged). */
  /** ms the latest PINGREQ took to be answered (same clock as `now`), or undefined before the first. */
  get roundTrip(): number | undefined {
    return this.rtt < 0 ? undefined : this.rtt;
  }

  get inflightCount(): number {
    return this.inflight.size;
  }

  /** Operations waiting for a packet id, send quota or a connection. */
  get pendingCount(): number {
    return this.pending.length - this.pendingHead;
  }

  /** Payload and topic bytes of the publishes waiting (the offline queue's size). */
  get pendingBytes(): number {
    return this.waitingBytes;
  }

  /** Incoming QoS 2 messages received and not yet released (PUBREL). */
  get incomingQoS2Count(): number {
    return this.incomingQoS2.size;
  }

  /**
   * Switches the protocol level for the next connection (`protocolVersion:
   * 'auto'` falling back to 3.1.1). Only while idle; session state stays.
   * False when the CONNECT cannot be sent with that version (3.1.1 refuses
   * a password without a user name, and an empty client id without a clean
   * session): nothing changes then.
   */
  useVersion(version: ProtocolVersion): boolean {
    if (this.state !== EngineState.Idle) return false;
    if (version === this.version) return true;
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
    this.version = version;
    this.decoder.protocolVersion = version;
    this.connectPacket = next;
    return true;
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

  /** Starts a new network connection: resets connection state and queues CONNECT. */
  /** Username and password for the next CONNECT (a credentials hook, a fresh JWT). */
  setCredentials(username: string | undefined, password: Uint8Array | undefined): void {
    const next: ConnectPacket = { ...this.connectPacket, username, password };
    encodedSize(next, this.version);
    this.connectPacket = next;
  }

  /**
   * Puts back what a previous process left in a store: publishes with a
   * packet id and stage go in flight (replayed on the next CONNACK), the
   * rest wait in order; incoming QoS 2 ids await their PUBREL.
   */
  restore(ops: readonly PublishOp[], incomingQoS2: readonly number[]): void {
    for (const op of ops) {
      if (op.stage > 0 && op.packetId > 0 && this.inflight.set(op.packetId, op)) continue;
      op.stage = 0;
      op.packetId = 0;
      this.queue(op);
    }
    for (const id of incomingQoS2) this.incomingQoS2.add(id);
  }

  /**
   * Removes the oldest publish that waits and has never been sent (offline
   * queue overflow); undefined when there is none.
   */
  dropOldest(): PublishOp | undefined {
    for (let i = this.pendingHead; i < this.pending.length; i++) {
      const op = this.pending[i];
      if (op.packet.type === 'publish' && op.packetId === 0) {
        this.pending.splice(i, 1);
        this.waitingBytes -= weight(op as PublishOp);
        return op as PublishOp;
      }
    }
    return undefined;
  }

  open(now: number): void {
    this.now = now;
    this.state = EngineState.Connecting;
    this.decoder.reset();
    this.out.clear();
    this.quota = MAX_PACKET_ID;
    this.quota2 = MAX_PACKET_ID;
    this.limits = defaultLimits(this.options.keepalive, this.maxQoS);
    this.aliasesIn = [];
    this.aliasesOut = undefined;
    this.incomingUnacked = 0;
    this.acks = undefined;
    this.connectionSeq++;
    this.keepaliveMs = 0;
    this.pingSentAt = 0;
    this.lastReceived = now;
    this.head = undefined;
    this.send(encode(this.connectPacket, this.version));
  }

  /**
   * Called from `handler.message` for a QoS 1/2 message: its PUBACK (PUBREC)
   * waits for `acknowledge(token)`, and the acknowledgements of later
   * messages wait behind it. Returns undefined for QoS 0 or outside a
   * delivery. A token of a lost connection is void: the server sends the
   * message again (QoS 2 included: its id is only held once acknowledged).
   */
  deferAck(): IncomingAck | undefined {
    const d = this.delivering;
    if (d === undefined) return undefined;
    // the delivery's own token, made only now: messages acknowledged at once allocate nothing
    d.token ??= new IncomingAck(d.id, d.qos, this.connectionSeq);
    return d.token;
  }

  /** Releases a deferred acknowledgement (and those queued behind it); a second call does nothing. */
  acknowledge(token: IncomingAck): void {
    if (token.done || token.connection !== this.connectionSeq) return;
    token.done = true;
    const acks = this.acks;
    if (acks === undefined) return;
    let n = 0;
    while (n < acks.length && acks[n].done) {
      this.sendAck(acks[n].id, acks[n].qos);
      n++;
    }
    if (n === acks.length) this.acks = undefined;
    else if (n > 0) acks.splice(0, n);
  }

  /**
   * The network connection is gone. Session state stays for the next `open`.
   * `failed`: it ended without this client closing it, so each publish sent
   * on it and not acknowledged counts a delivery attempt; those that reach
   * `maxDeliveryAttempts` are abandoned.
   */
  connectionLost(failed = true): void {
    if (failed && this.counted !== this.connectionSeq) {
      this.counted = this.connectionSeq;
      this.countAttempts();
    }
    this.state = EngineState.Idle;
    this.head = undefined;
    this.acks = undefined;
    this.delivering = undefined;
    this.out.clear();
    this.pingSentAt = 0;
  }

  /** Bytes received from the network. */
  receive(chunk: Uint8Array, now: number): void {
    if (this.state === EngineState.Idle) return;
    this.now = now;
    if (this.state === EngineState.Connecting) this.keepHead(chunk);
    let packets: Packet[];
    try {
      packets = this.decoder.push(chunk);
    } catch (err) {
      const e = err as DecodeError;
      const head = this.head;
      const message =
        head !== undefined && !isMqttAnswer(head[0])
          ? `the server did not answer CONNECT with a CONNACK: ${describeAnswer(head)}`
          : `malformed packet from the server: ${e.message}${e.reasonCode === 0x95 ? tooLargeHint(this.version) : ''}`;
      this.fail(new ProtocolError(message, e.reasonCode, { cause: e }));
      return;
    }
    this.lastReceived = now;
    for (let i = 0; i < packets.length && (this.state as EngineState) !== EngineState.Idle; i++) {
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
    const p = op.packet;
    if (this.state !== EngineState.Connected) {
      encodedLength(p, this.version, this.limits.maximumPacketSize);
      this.queue(op);
      return false;
    }
    if (p.qos === 0) {
      this.sendEncoded(p, this.encodePublish(p));
      return true;
    }
    if (this.pendingCount > 0 || this.full(p.qos)) {
      encodedLength(p, this.version, this.limits.maximumPacketSize);
      this.queue(op);
      return false;
    }
    return this.sendPublish(op);
  }

  /**
   * Sends a SUBSCRIBE or UNSUBSCRIBE, or queues it while there is no packet
   * id or connection. `ahead`: send it before what is queued (the
   * subscriptions a session restores after a reconnect, which the messages
   * queued meanwhile, and the replies to them, must find in place).
   */
  control(op: ControlOp, ahead = false): boolean {
    encodedLength(op.packet, this.version, this.limits.maximumPacketSize);
    if (this.state !== EngineState.Connected || (this.pendingCount > 0 && !ahead)) {
      this.pending.push(op);
      return false;
    }
    return this.sendControl(op);
  }

  /** Sends an AUTH (enhanced authentication, MQTT 5). */
  auth(packet: AuthPacket): void {
    this.send(encode(packet, this.version, { maximumPacketSize: this.limits.maximumPacketSize }));
  }

  /** Queues DISCONNECT; the owner flushes and closes. */
  disconnect(reasonCode = 0, properties?: DisconnectProperties): void {
    if (this.state === EngineState.Idle) return;
    this.send(
      encode(
        { type: 'disconnect', reasonCode: this.version === 5 ? reasonCode : 0, properties },
        this.version,
      ),
    );
  }

  /**
   * Removes an operation that was not sent yet (timeout, abort). Returns
   * false when it is already in flight: its packet id stays taken until the
   * server acknowledges it, as the protocol requires.
   */
  cancel(op: Op): boolean {
    if (op.stage !== 0) return false;
    const i = this.pending.indexOf(op, this.pendingHead);
    if (i === -1) return false;
    this.pending.splice(i, 1);
    if (op.packet.type === 'publish') this.waitingBytes -= weight(op as PublishOp);
    return true;
  }

  /** Takes every operation in flight or waiting, for the owner to fail them. Session state is cleared. */
  drain(): Op[] {
    const ops = this.inflight.values();
    for (let i = this.pendingHead; i < this.pending.length; i++) ops.push(this.pending[i]);
    this.inflight.clear();
    this.incomingQoS2.clear();
    this.pending = [];
    this.pendingHead = 0;
    this.waitingBytes = 0;
    return ops;
  }

  /** Bytes to write, in order; `now` records when they leave for keepalive. */
  takeOutput(now: number): Buffer[] {
    if (this.out.isEmpty) return NO_OUTPUT;
    this.lastSent = now;
    return this.out.take();
  }

  /** When `tick` must be called next (ms, same clock as `now`); Infinity when nothing is due. */
  nextDeadline(): number {
    const k = this.keepaliveMs;
    if (this.state !== EngineState.Connected || k === 0) return Number.POSITIVE_INFINITY;
    if (this.pingSentAt !== 0) return this.lastReceived + k * 1.5;
    return Math.min(this.lastSent, this.lastReceived) + k;
  }

  /**
   * Keepalive: PINGREQ when nothing was sent or nothing was received for a
   * keepalive interval; the connection is dead when a PINGREQ is
   * outstanding and nothing arrived for 1.5 times the interval.
   */
  tick(now: number): void {
    this.now = now;
    const k = this.keepaliveMs;
    if (this.state !== EngineState.Connected || k === 0) return;
    if (this.pingSentAt !== 0) {
      if (now - this.lastReceived >= k * 1.5) {
        this.state = EngineState.Idle;
        this.handler.closing(
          new TimeoutError(
            `no answer from the server for ${(now - this.lastReceived) / 1000} s (keepalive ${k / 1000} s)`,
          ),
        );
      }
      return;
    }
    if (now - this.lastSent >= k || now - this.lastReceived >= k) {
      this.pingSentAt = now;
      this.send(PINGREQ);
    }
  }

  // ---------------------------------------------------------------------------

  private send(bytes: Uint8Array): void {
    const first = this.out.isEmpty;
    this.out.push(bytes);
    if (first) this.handler.wantsFlush();
  }

  private fail(error: ProtocolError): void {
    if (this.version === 5 && error.reasonCode !== undefined) {
      this.send(encode({ type: 'disconnect', reasonCode: disconnectCode(error.reasonCode) }, 5));
    }
    this.state = EngineState.Idle;
    this.handler.closing(error);
  }

  private protocolError(message: string, reasonCode = 0x82): void {
    this.fail(new ProtocolError(message, reasonCode));
  }

  /** Keeps the first bytes of a connection that has no CONNACK yet (one more than shown). */
  private keepHead(chunk: Uint8Array): void {
    const head = this.head;
    const have = head === undefined ? 0 : head.length;
    if (have > ANSWER_BYTES) return;
    const take = Math.min(chunk.byteLength, ANSWER_BYTES + 1 - have);
    const next = Buffer.allocUnsafe(have + take);
    if (head !== undefined) head.copy(next);
    next.set(chunk.subarray(0, take), have);
    this.head = next;
  }

  private handle(p: Packet): void {
    if (this.state === EngineState.Connecting) {
      if (p.type === 'connack') return this.onConnack(p);
      if (p.type === 'auth') return this.handler.auth(p);
      if (p.type === 'disconnect') return this.onDisconnect(p);
      return this.protocolError(
        `the server did not answer CONNECT with a CONNACK but with ${p.type.toUpperCase()}: ${describeAnswer(this.head as Buffer)}`,
      );
    }
    switch (p.type) {
      case 'publish':
        return this.onPublish(p);
      case 'puback':
      case 'pubrec':
      case 'pubcomp':
        return this.onPublishAck(p);
      case 'pubrel':
        return this.onPubrel(p.packetId);
      case 'suback':
      case 'unsuback':
        return this.onControlAck(p);
      case 'pingresp':
        if (this.pingSentAt !== 0) this.rtt = this.now - this.pingSentAt;
        this.pingSentAt = 0;
        return;
      case 'disconnect':
        return this.onDisconnect(p);
      case 'auth':
        return this.handler.auth(p);
      default:
        return this.protocolError(`unexpected ${p.type.toUpperCase()} from the server`);
    }
  }

  private onConnack(p: ConnackPacket): void {
    this.head = undefined;
    if (p.reasonCode !== 0) {
      this.state = EngineState.Idle;
      this.handler.connack(p);
      return;
    }
    if (p.sessionPresent && this.connectPacket.clean) {
      // MQTT-3.2.2-4 (5.0); 3.1.1 forbids it too (MQTT-3.2.2-1): there is no session to resume
      return this.protocolError('the server answered a clean start with Session Present 1');
    }
    const props = p.properties;
    const limits = this.limits;
    if (props !== undefined) {
      if (props.receiveMaximum !== undefined) limits.receiveMaximum = props.receiveMaximum;
      limits.maximumPacketSize = props.maximumPacketSize;
      limits.topicAliasMaximum = this.options.topicAliases === false ? 0 : (props.topicAliasMaximum ?? 0);
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
      if (props.assignedClientIdentifier !== undefined) this.clientId = props.assignedClientIdentifier;
    }
    if (limits.maximumQoS > this.maxQoS) limits.maximumQoS = this.maxQoS;
    const cap = this.options.maxInflight ?? MAX_PACKET_ID;
    this.window = Math.min(limits.receiveMaximum, cap);
    this.quota = this.probing ? 1 : this.window;
    this.quota2 =
      this.version === 4 && this.options.maxInflight === undefined ? DEFAULT_MAX_INFLIGHT : this.window;
    this.keepaliveMs = limits.keepalive * 1000;
    this.state = EngineState.Connected;
    if (!p.sessionPresent && this.incomingQoS2.size > 0) {
      // the broker has no session: the QoS 2 ids it had not released went with it, and it may
      // reuse them for new messages, which must not be taken for resends
      for (const id of this.incomingQoS2.values()) this.handler.incomingQoS2?.(id, false);
      this.incomingQoS2.clear();
    }
    // what was in flight before this CONNACK; the handler may start new operations
    const previous = this.inflight.size > 0 ? this.inflight.values() : undefined;
    this.handler.connack(p);
    if (this.state !== EngineState.Connected) return;
    if (previous !== undefined) this.replay(previous);
    this.sendPending();
  }

  /**
   * Resends what was in flight on the previous connection, oldest first:
   * PUBLISH with DUP set for stage 1, PUBREL for stage 2, SUBSCRIBE and
   * UNSUBSCRIBE as they were. Those beyond the send quota wait at the head
   * of the queue.
   */
  private replay(ops: Op[]): void {
    const wait: Op[] = [];
    for (const op of ops) {
      if (op.packet.type !== 'publish') {
        this.send(encode(op.packet, this.version));
        continue;
      }
      const qos = (op as PublishOp).packet.qos;
      if (this.full(qos)) {
        wait.push(op);
        continue;
      }
      this.take(qos);
      this.resend(op as PublishOp);
    }
    // what an earlier replay left waiting is in `ops` again: keep only what never got a packet id
    const rest: Op[] = [];
    for (let i = this.pendingHead; i < this.pending.length; i++) {
      if (this.pending[i].packetId === 0) rest.push(this.pending[i]);
    }
    this.pending = wait.length > 0 ? wait.concat(rest) : rest;
    this.pendingHead = 0;
  }

  private resend(op: PublishOp): void {
    op.sentOn = this.connectionSeq;
    if (op.stage === QOS2_RELEASED) {
      this.send(encode({ type: 'pubrel', packetId: op.packetId }, this.version));
      return;
    }
    op.packet.dup = true;
    this.sendEncoded(op.packet, this.encodePublish(op.packet));
  }

  /** No room to send a publish at `qos` now. */
  private full(qos: number): boolean {
    return this.quota === 0 || (qos === 2 && this.quota2 === 0);
  }

  /** A QoS 1/2 publish goes out: it takes its room in the window. */
  private take(qos: number): void {
    this.quota--;
    if (qos === 2) this.quota2--;
  }

  /** A publish moved forward on this connection: a probing connection opens its whole window. */
  private progressed(): void {
    if (this.probing) {
      this.probing = false;
      this.quota += this.window - 1;
    }
  }

  /**
   * The connection ended: each publish sent on it and not acknowledged
   * counts an attempt, and is abandoned at `maxDeliveryAttempts`; the next
   * connection probes (see `probing`).
   */
  private countAttempts(): void {
    const max = this.options.maxDeliveryAttempts ?? 0;
    let struck = false;
    for (const op of this.inflight.size === 0 ? NO_OPS : this.inflight.values()) {
      if (op.packet.type !== 'publish') continue;
      const pub = op as PublishOp;
      if (pub.sentOn !== this.connectionSeq) continue;
      struck = true;
      pub.attempts = (pub.attempts ?? 0) + 1;
      if (max > 0 && pub.attempts >= max) {
        this.inflight.release(pub.packetId);
        this.handler.abandoned?.(pub);
      }
    }
    this.probing = struck;
  }

  private queue(op: Op): void {
    this.pending.push(op);
    if (op.packet.type === 'publish') this.waitingBytes += weight(op as PublishOp);
  }

  /** Sends waiting operations, in order, while ids and quota last. */
  private sendPending(): void {
    while (this.pendingHead < this.pending.length && this.state === EngineState.Connected) {
      const op = this.pending[this.pendingHead];
      if (op.packet.type === 'publish') {
        const pub = op as PublishOp;
        if (pub.packet.qos > 0 && this.full(pub.packet.qos)) break;
        if (pub.packetId !== 0) {
          // replayed at the head of the queue: it has its packet id
          this.take(pub.packet.qos);
          this.pendingHead++;
          this.resend(pub);
          continue;
        }
        if (pub.packet.qos > 0 && this.inflight.size === MAX_PACKET_ID) break;
        this.pendingHead++;
        this.waitingBytes -= weight(pub);
        if (pub.expiresAt && !this.refreshExpiry(pub)) {
          this.handler.expired?.(pub);
          continue;
        }
        try {
          if (pub.packet.qos === 0) {
            this.sendEncoded(pub.packet, this.encodePublish(pub.packet));
            this.handler.published(pub, 0, undefined);
          } else this.sendPublish(pub);
        } catch (err) {
          // limits changed since it was queued (a new connection's maximum packet size)
          this.handler.published(pub, 0x95, { reasonString: (err as Error).message });
        }
      } else {
        if (this.inflight.size === MAX_PACKET_ID) break;
        this.pendingHead++;
        this.sendControl(op as ControlOp);
      }
    }
    if (this.pendingHead === this.pending.length) {
      this.pending = [];
      this.pendingHead = 0;
    } else if (this.pendingHead > 1024 && this.pendingHead * 2 > this.pending.length) {
      this.pending = this.pending.slice(this.pendingHead);
      this.pendingHead = 0;
    }
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
      bytes = this.encodePublish(op.packet);
    } catch (err) {
      this.inflight.release(id);
      op.packetId = 0;
      throw err;
    }
    op.stage = QOS2_PUBLISHED;
    op.sentOn = this.connectionSeq;
    this.take(op.packet.qos);
    this.handler.stored?.(op);
    this.sendEncoded(op.packet, bytes);
    return true;
  }

  /**
   * A waiting message with an expiry: false once it has expired, otherwise
   * its Message Expiry Interval is lowered by the time it waited (3.3.2.3.3).
   */
  private refreshExpiry(op: PublishOp): boolean {
    const left = Math.ceil(((op.expiresAt as number) - this.now) / 1000);
    if (left <= 0) return false;
    const p = op.packet;
    if (this.version === 5 && p.properties?.messageExpiryInterval !== undefined) {
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
    op.stage = 1;
    this.send(encode(op.packet, this.version));
    return true;
  }

  /**
   * Encodes a PUBLISH for this connection: topic alias applied, size limit
   * enforced. A payload of {@link SEPARATE_PAYLOAD} bytes or more is left
   * out, to follow as its own chunk ({@link sendEncoded}).
   */
  private encodePublish(p: PublishPacket): Uint8Array {
    const aliasMax = this.limits.topicAliasMaximum;
    if (aliasMax === 0 || this.version === 4 || p.topic.length === 0) return this.encodeAs(p);
    const aliases = (this.aliasesOut ??= new Map());
    const alias = aliases.get(p.topic);
    if (alias === undefined) {
      if (aliases.size >= aliasMax) return this.encodeAs(p);
      const next = aliases.size + 1;
      const bytes = this.encodeAs({ ...p, properties: { ...p.properties, topicAlias: next } });
      aliases.set(p.topic, next); // only once the server will have seen it
      return bytes;
    }
    return this.encodeAs({ ...p, topic: '', properties: { ...p.properties, topicAlias: alias } });
  }

  private encodeAs(p: PublishPacket): Uint8Array {
    const max = this.limits.maximumPacketSize;
    const options: EncodeOptions | undefined = max === undefined ? undefined : { maximumPacketSize: max };
    return p.payload.byteLength >= SEPARATE_PAYLOAD
      ? encodePublishHead(p, this.version, options)
      : encode(p, this.version, options);
  }

  /** Sends what {@link encodePublish} made of `p`, and the payload after it if it was left out. */
  private sendEncoded(p: PublishPacket, bytes: Uint8Array): void {
    this.send(bytes);
    if (p.payload.byteLength >= SEPARATE_PAYLOAD) this.send(p.payload);
  }

  private onPublish(p: PublishPacket): void {
    // topic alias (MQTT 5)
    const alias = p.properties?.topicAlias;
    if (alias !== undefined) {
      const max = this.options.connectProperties?.topicAliasMaximum ?? 0;
      if (alias > max) {
        return this.protocolError(
          `topic alias ${alias} exceeds the maximum of ${max} this client allows`,
          0x94,
        );
      }
      if (p.topic.length > 0) this.aliasesIn[alias] = p.topic;
      else {
        const topic = this.aliasesIn[alias];
        if (topic === undefined) return this.protocolError(`topic alias ${alias} was never set`, 0x82);
        p.topic = topic;
      }
    }
    const qos = p.qos;
    if (qos === 0) {
      this.handler.message(p);
      return;
    }
    const id = p.packetId as number;
    if (qos === 2 && this.incomingQoS2.has(id)) {
      // a resend of a message already delivered: acknowledge again, deliver never
      this.send(encode({ type: 'pubrec', packetId: id }, this.version));
      return;
    }
    if (++this.incomingUnacked + this.incomingQoS2.size > this.receiveMaximum()) {
      return this.protocolError('the server exceeded this client’s Receive Maximum', 0x93);
    }
    const d = this.delivery;
    d.id = id;
    d.qos = qos;
    d.token = undefined;
    this.delivering = d;
    try {
      this.handler.message(p);
    } finally {
      this.delivering = undefined;
    }
    const token = d.token as IncomingAck | undefined; // the handler may have set it
    d.token = undefined;
    if (token !== undefined && !token.done) {
      (this.acks ??= []).push(token);
    } else if (this.acks === undefined) {
      this.sendAck(id, qos);
    } else {
      // behind a deferred one
      const done = new IncomingAck(id, qos, this.connectionSeq);
      done.done = true;
      this.acks.push(done);
    }
  }

  /** Sends the PUBACK or PUBREC of a received message (QoS 2: its id is held from now on). */
  private sendAck(id: number, qos: 1 | 2): void {
    this.incomingUnacked--;
    if (qos === 1) {
      this.send(encode({ type: 'puback', packetId: id }, this.version));
      return;
    }
    if (!this.incomingQoS2.has(id)) {
      this.incomingQoS2.add(id);
      this.handler.incomingQoS2?.(id, true);
    }
    this.send(encode({ type: 'pubrec', packetId: id }, this.version));
  }

  private receiveMaximum(): number {
    return this.options.connectProperties?.receiveMaximum ?? MAX_PACKET_ID;
  }

  private onPubrel(id: number): void {
    const known = this.incomingQoS2.delete(id);
    if (known) this.handler.incomingQoS2?.(id, false);
    this.send(
      encode(
        { type: 'pubcomp', packetId: id, reasonCode: known || this.version === 4 ? 0 : 0x92 },
        this.version,
      ),
    );
  }

  private onPublishAck(p: AckPacket): void {
    const op = this.inflight.get(p.packetId);
    if (op !== undefined && op.packet.type !== 'publish') {
      return this.protocolError(
        `${p.type.toUpperCase()} for packet id ${p.packetId} of a ${op.packet.type.toUpperCase()}`,
      );
    }
    if (op === undefined || op.packet.type !== 'publish') {
      if (p.type === 'pubrec') {
        // the server has a message we do not know: release it so it can finish
        this.send(
          encode(
            { type: 'pubrel', packetId: p.packetId, reasonCode: this.version === 5 ? 0x92 : 0 },
            this.version,
          ),
        );
      }
      return;
    }
    const pub = op as PublishOp;
    const rc = p.reasonCode ?? 0;
    const qos = pub.packet.qos;
    if (p.type === 'puback') {
      if (qos === 2 && pub.stage === QOS2_PUBLISHED) {
        // a server without QoS 2 (RabbitMQ 3) takes it as QoS 1 and says so with PUBACK: the
        // message is delivered, and this server is sent QoS 1 at most from now on
        this.maxQoS = 1;
        if (this.limits.maximumQoS > 1) this.limits.maximumQoS = 1;
      } else if (qos !== 1) return this.protocolError(`PUBACK for QoS ${qos} message ${p.packetId}`);
    } else if (p.type === 'pubrec') {
      if (qos !== 2) return this.protocolError(`PUBREC for QoS ${qos} message ${p.packetId}`);
      if (rc < 0x80) {
        pub.stage = QOS2_RELEASED;
        pub.attempts = 0;
        this.progressed();
        this.handler.stored?.(pub);
        this.send(encode({ type: 'pubrel', packetId: p.packetId }, this.version));
        return;
      }
    } else if (qos !== 2 || pub.stage !== QOS2_RELEASED) {
      return this.protocolError(`PUBCOMP for message ${p.packetId} before its PUBREL`);
    }
    this.inflight.release(p.packetId);
    this.quota++;
    if (qos === 2) this.quota2++;
    this.progressed();
    this.handler.published(pub, rc, p.properties);
    if (this.pendingHead < this.pending.length) this.sendPending();
  }

  private onControlAck(p: SubackPacket | UnsubackPacket): void {
    const op = this.inflight.get(p.packetId);
    const expected = p.type === 'suback' ? 'subscribe' : 'unsubscribe';
    if (op === undefined || op.packet.type !== expected) {
      return this.protocolError(
        `${p.type.toUpperCase()} for packet id ${p.packetId}, which has no ${expected}`,
      );
    }
    const ctl = op as ControlOp;
    const count =
      ctl.packet.type === 'subscribe' ? ctl.packet.subscriptions.length : ctl.packet.topicFilters.length;
    if (p.reasonCodes !== undefined && p.reasonCodes.length !== count) {
      return this.protocolError(
        `${p.type.toUpperCase()} has ${p.reasonCodes.length} reason codes for ${count} filters`,
      );
    }
    this.inflight.release(p.packetId);
    if (p.type === 'suback') this.handler.subscribed(ctl, p);
    else this.handler.unsubscribed(ctl, p);
    if (this.pendingHead < this.pending.length) this.sendPending();
  }

  private onDisconnect(p: {
    reasonCode?: number;
    properties?: { reasonString?: string; serverReference?: string };
  }): void {
    const rc = p.reasonCode ?? 0;
    const why = p.properties?.reasonString;
    const ref = p.properties?.serverReference;
    this.state = EngineState.Idle;
    this.handler.closing(
      new ConnectionError(
        `the server disconnected: ${reasonCodeName(rc, 'disconnect')} (0x${rc.toString(16).padStart(2, '0')})` +
          (why ? `: ${why}` : '') +
          (ref ? `; use server ${ref}` : ''),
        rc,
      ),
    );
  }
}

const PINGREQ = encode({ type: 'pingreq' }, 4);

interface Delivery {
  id: number;
  qos: 1 | 2;
  token: IncomingAck | undefined;
}

/** A received QoS 1/2 message's acknowledgement (the token `deferAck` returns). */
export class IncomingAck {
  done = false;
  constructor(
    readonly id: number,
    readonly qos: 1 | 2,
    readonly connection: number,
  ) {}
}
const NO_OUTPUT: Buffer[] = [];
const NO_OPS: Op[] = [];

function defaultLimits(keepalive: number, maximumQoS: 0 | 1 | 2): ServerLimits {
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

/** What a packet over this client's maximum packet size means, per version. */
function tooLargeHint(version: ProtocolVersion): string {
  return version === 4
    ? '; MQTT 3.1.1 cannot tell the broker this limit, so a message it keeps for this session (queued or retained) comes again after each reconnect: raise maximumPacketSize to receive it'
    : '; the server ignored the Maximum Packet Size this client announced in CONNECT';
}

/** The DISCONNECT reason for a decode error (0x84 is a CONNACK-only code). */
function disconnectCode(rc: number): number {
  return rc === 0x84 ? 0x82 : rc;
}
