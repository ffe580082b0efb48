/**
 * The client engine against a scripted broker side, with a fake clock and no
 * sockets: `setup()` makes an engine and a recorder of what it reports;
 * `sent()` decodes what the engine wrote as the broker would, `deliver()`
 * feeds it what the broker says.
 */
import {
  type AuthPacket,
  type ConnackPacket,
  type ConnackProperties,
  encode,
  type Packet,
  PacketDecoder,
  type ProtocolVersion,
  type PublishPacket,
  type SubackPacket,
  type UnsubackPacket,
} from '../../src/codec/index.js';
import type { MqttError } from '../../src/core/errors.js';
import {
  ClientEngine,
  type ControlOp,
  type EngineHandler,
  type EngineOptions,
  type PublishOp,
} from '../../src/protocol/engine.js';

export class Recorder implements EngineHandler {
  flushes = 0;
  connacks: ConnackPacket[] = [];
  messages: PublishPacket[] = [];
  done: [PublishOp, number][] = [];
  subacks: [ControlOp, SubackPacket][] = [];
  unsubacks: [ControlOp, UnsubackPacket][] = [];
  auths: AuthPacket[] = [];
  closed: MqttError[] = [];
  wantsFlush(): void {
    this.flushes++;
  }
  connack(p: ConnackPacket): void {
    this.connacks.push(p);
  }
  message(p: PublishPacket): void {
    this.messages.push(p);
  }
  published(op: PublishOp, rc: number): void {
    this.done.push([op, rc]);
  }
  subscribed(op: ControlOp, p: SubackPacket): void {
    this.subacks.push([op, p]);
  }
  unsubscribed(op: ControlOp, p: UnsubackPacket): void {
    this.unsubacks.push([op, p]);
  }
  auth(p: AuthPacket): void {
    this.auths.push(p);
  }
  givenUp: PublishOp[] = [];
  abandoned(op: PublishOp): void {
    this.givenUp.push(op);
  }
  closing(e: MqttError): void {
    this.closed.push(e);
  }
}

export function setup(options: Partial<EngineOptions> = {}) {
  const version: ProtocolVersion = options.protocolVersion ?? 5;
  const h = new Recorder();
  const e = new ClientEngine(
    { protocolVersion: version, clientId: 'c1', clean: true, keepalive: 0, ...options },
    h,
  );
  const broker = new PacketDecoder({ protocolVersion: version });
  return {
    e,
    h,
    /** What the engine wrote since the last call, decoded as the broker would. */
    sent(now = 0): Packet[] {
      return e.takeOutput(now).flatMap((b) => broker.push(b));
    },
    deliver(p: Packet, now = 0): void {
      e.receive(encode(p, version), now);
    },
    connect(props?: ConnackProperties, now = 0): Packet[] {
      e.open(now);
      const out = this.sent(now);
      this.deliver({ type: 'connack', sessionPresent: false, reasonCode: 0, properties: props }, now);
      return out;
    },
  };
}

export function pub(
  topic: string,
  qos: 0 | 1 | 2,
  payload = 'x',
  properties?: PublishPacket['properties'],
): PublishOp {
  return {
    packet: {
      type: 'publish',
      topic,
      payload: Buffer.from(payload),
      qos,
      retain: false,
      dup: false,
      properties,
    },
    packetId: 0,
    stage: 0,
  };
}
