/**
 * Converters between mqttkit's packet model and mqtt-packet's, and thin
 * synchronous wrappers around mqtt-packet's `generate` and parser.
 *
 * mqtt-packet's model, as read from its parser.js and writeToStream.js:
 * - `cmd` for the type, `messageId` for the packet id;
 * - CONNACK: `returnCode` in 3.1.1, `reasonCode` in 5 (chosen by version);
 * - SUBSCRIBE: `subscriptions: { topic, qos, nl, rap, rh }[]`;
 *   UNSUBSCRIBE: `unsubscriptions: string[]`; SUBACK / UNSUBACK: `granted`;
 * - user properties: an object name -> string | string[] (order of values of
 *   one name kept; interleaving of different names lost, see canonical());
 * - boolean properties (0x01, 0x17, 0x19, 0x25, 0x28..0x2A) as booleans,
 *   Maximum QoS as a number; binary as Buffer;
 * - parsed packets also carry `length`, and `retain`/`qos`/`dup` from the
 *   fixed header on every type (they are not compared except for PUBLISH).
 */
import mqttPacket, { type Packet as MqttPacketModel } from 'mqtt-packet';
import type {
  AckPacket,
  AllProperties,
  Packet,
  ProtocolVersion,
  QoS,
  SubscribePacket,
  Subscription,
  UserProperty,
} from '../../src/codec/index.js';

export type MpUserProperties = Record<string, string | string[]>;
export type MpProperties = { [name: string]: unknown; userProperties?: MpUserProperties };

/** mqtt-packet's packet object, loosely: every field any packet type has. */
export interface MpPacket {
  cmd: Packet['type'];
  messageId?: number;
  length?: number;
  retain?: boolean;
  qos?: number;
  dup?: boolean;
  topic?: string | null;
  payload?: Buffer | null;
  protocolId?: string;
  protocolVersion?: number;
  bridgeMode?: boolean;
  clientId?: string;
  clean?: boolean;
  keepalive?: number;
  username?: string;
  password?: Buffer;
  will?: { topic: string; payload: Buffer; qos: number; retain: boolean; properties?: MpProperties };
  sessionPresent?: boolean;
  returnCode?: number;
  reasonCode?: number;
  subscriptions?: { topic: string; qos: number; nl?: boolean; rap?: boolean; rh?: number }[];
  unsubscriptions?: string[];
  granted?: number[];
  properties?: MpProperties;
}

const buf = (b: Uint8Array): Buffer => Buffer.from(b.buffer, b.byteOffset, b.byteLength);

// ---------------------------------------------------------------------------
// mqttkit -> mqtt-packet

function toMpUserProperties(list: UserProperty[]): MpUserProperties {
  // Object.create(null): names such as '__proto__' must be plain own keys.
  const out: MpUserProperties = Object.create(null);
  for (const [n, v] of list) {
    const prev = out[n];
    if (prev === undefined) out[n] = v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[n] = [prev, v];
  }
  return out;
}

export function toMpProperties(props: AllProperties | undefined): MpProperties | undefined {
  if (props === undefined) return undefined;
  const out: MpProperties = {};
  for (const [k, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (k === 'userProperties') out.userProperties = toMpUserProperties(value as UserProperty[]);
    else if (value instanceof Uint8Array) out[k] = buf(value);
    else if (Array.isArray(value)) out[k] = [...value];
    else out[k] = value;
  }
  return out;
}

/** The mqtt-packet packet `generate` turns into the same bytes as `p` (up to encoding choices). */
export function toMqttPacket(p: Packet, v: ProtocolVersion): MpPacket {
  switch (p.type) {
    case 'connect': {
      const out: MpPacket = {
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: v,
        clientId: p.clientId,
        clean: p.clean,
        keepalive: p.keepalive,
      };
      if (p.username !== undefined) out.username = p.username;
      if (p.password !== undefined) out.password = buf(p.password);
      if (p.will !== undefined) {
        out.will = {
          topic: p.will.topic,
          payload: buf(p.will.payload),
          qos: p.will.qos,
          retain: p.will.retain,
        };
        if (p.will.properties !== undefined) out.will.properties = toMpProperties(p.will.properties);
      }
      if (p.properties !== undefined) out.properties = toMpProperties(p.properties);
      return out;
    }
    case 'connack': {
      const out: MpPacket = { cmd: 'connack', sessionPresent: p.sessionPresent };
      if (v === 5) out.reasonCode = p.reasonCode;
      else out.returnCode = p.reasonCode;
      if (p.properties !== undefined) out.properties = toMpProperties(p.properties);
      return out;
    }
    case 'publish': {
      const out: MpPacket = {
        cmd: 'publish',
        topic: p.topic,
        payload: buf(p.payload),
        qos: p.qos,
        retain: p.retain,
        dup: p.dup,
      };
      if (p.packetId !== undefined) out.messageId = p.packetId;
      if (p.properties !== undefined) out.properties = toMpProperties(p.properties);
      return out;
    }
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp': {
      // reasonCode must be given: mqtt-packet treats undefined as "not 0".
      const out: MpPacket = { cmd: p.type, messageId: p.packetId, reasonCode: p.reasonCode ?? 0 };
      if (p.properties !== undefined) out.properties = toMpProperties(p.properties);
      return out;
    }
    case 'subscribe': {
      const out: MpPacket = {
        cmd: 'subscribe',
        messageId: p.packetId,
        subscriptions: p.subscriptions.map((s) =>
          v === 5
            ? {
                topic: s.topicFilter,
                qos: s.qos,
                nl: s.noLocal ?? false,
                rap: s.retainAsPublished ?? false,
                rh: s.retainHandling ?? 0,
              }
            : { topic: s.topicFilter, qos: s.qos },
        ),
      };
      if (p.properties !== undefined) out.properties = toMpProperties(p.properties);
      return out;
    }
    case 'suback': {
      const out: MpPacket = { cmd: 'suback', messageId: p.packetId, granted: [...p.reasonCodes] };
      if (p.properties !== undefined) out.properties = toMpProperties(p.properties);
      return out;
    }
    case 'unsubscribe': {
      const out: MpPacket = {
        cmd: 'unsubscribe',
        messageId: p.packetId,
        unsubscriptions: [...p.topicFilters],
      };
      if (p.properties !== undefined) out.properties = toMpProperties(p.properties);
      return out;
    }
    case 'unsuback': {
      const out: MpPacket = { cmd: 'unsuback', messageId: p.packetId };
      if (p.reasonCodes !== undefined) out.granted = [...p.reasonCodes];
      if (p.properties !== undefined) out.properties = toMpProperties(p.properties);
      return out;
    }
    case 'pingreq':
    case 'pingresp':
      return { cmd: p.type };
    case 'disconnect':
    case 'auth': {
      const out: MpPacket = { cmd: p.type, reasonCode: p.reasonCode ?? 0 };
      if (p.properties !== undefined) out.properties = toMpProperties(p.properties);
      return out;
    }
  }
}

// ---------------------------------------------------------------------------
// mqtt-packet -> mqttkit

function fromMpUserProperties(up: MpUserProperties): UserProperty[] {
  const out: UserProperty[] = [];
  for (const name of Object.getOwnPropertyNames(up)) {
    const value = up[name];
    if (Array.isArray(value)) for (const v of value) out.push([name, v]);
    else out.push([name, value]);
  }
  return out;
}

export function fromMpProperties(props: MpProperties | undefined): AllProperties | undefined {
  if (props === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(props)) {
    if (value === undefined) continue;
    out[k] = k === 'userProperties' ? fromMpUserProperties(value as MpUserProperties) : value;
  }
  return out as AllProperties;
}

function required<T>(value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`mqtt-packet packet has no ${what}`);
  return value;
}

/** The mqttkit packet an mqtt-packet packet (as its parser emits it) stands for. */
export function fromMqttPacket(q: MpPacket, v: ProtocolVersion): Packet {
  switch (q.cmd) {
    case 'connect': {
      const p: Packet = {
        type: 'connect',
        protocolVersion: required(q.protocolVersion, 'protocolVersion') as ProtocolVersion,
        clientId: required(q.clientId, 'clientId'),
        clean: required(q.clean, 'clean'),
        keepalive: required(q.keepalive, 'keepalive'),
      };
      if (q.username !== undefined) p.username = q.username;
      if (q.password !== undefined) p.password = q.password;
      if (q.will !== undefined) {
        p.will = {
          topic: q.will.topic,
          payload: q.will.payload,
          qos: q.will.qos as QoS,
          retain: q.will.retain,
        };
        if (q.will.properties !== undefined) p.will.properties = fromMpProperties(q.will.properties);
      }
      if (q.properties !== undefined) p.properties = fromMpProperties(q.properties);
      return p;
    }
    case 'connack':
      return {
        type: 'connack',
        sessionPresent: required(q.sessionPresent, 'sessionPresent'),
        reasonCode: required(v === 5 ? q.reasonCode : q.returnCode, v === 5 ? 'reasonCode' : 'returnCode'),
        properties: fromMpProperties(q.properties),
      };
    case 'publish':
      return {
        type: 'publish',
        topic: required(q.topic, 'topic'),
        payload: required(q.payload, 'payload'),
        qos: required(q.qos, 'qos') as QoS,
        retain: required(q.retain, 'retain'),
        dup: required(q.dup, 'dup'),
        packetId: q.messageId,
        properties: fromMpProperties(q.properties),
      };
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return {
        type: q.cmd,
        packetId: required(q.messageId, 'messageId'),
        reasonCode: q.reasonCode,
        properties: fromMpProperties(q.properties),
      } as AckPacket;
    case 'subscribe':
      return {
        type: 'subscribe',
        packetId: required(q.messageId, 'messageId'),
        subscriptions: required(q.subscriptions, 'subscriptions').map((s): Subscription => {
          const out: Subscription = { topicFilter: s.topic, qos: s.qos as QoS };
          if (s.nl !== undefined) out.noLocal = s.nl;
          if (s.rap !== undefined) out.retainAsPublished = s.rap;
          if (s.rh !== undefined) out.retainHandling = s.rh as 0 | 1 | 2;
          return out;
        }),
        properties: fromMpProperties(q.properties) as SubscribePacket['properties'],
      };
    case 'suback':
      return {
        type: 'suback',
        packetId: required(q.messageId, 'messageId'),
        reasonCodes: required(q.granted, 'granted'),
        properties: fromMpProperties(q.properties),
      };
    case 'unsubscribe':
      return {
        type: 'unsubscribe',
        packetId: required(q.messageId, 'messageId'),
        topicFilters: required(q.unsubscriptions, 'unsubscriptions'),
        properties: fromMpProperties(q.properties),
      };
    case 'unsuback':
      return {
        type: 'unsuback',
        packetId: required(q.messageId, 'messageId'),
        reasonCodes: q.granted,
        properties: fromMpProperties(q.properties),
      };
    case 'pingreq':
    case 'pingresp':
      return { type: q.cmd };
    case 'disconnect':
    case 'auth':
      return { type: q.cmd, reasonCode: q.reasonCode, properties: fromMpProperties(q.properties) };
  }
}

// ---------------------------------------------------------------------------
// mqtt-packet, synchronously

/** mqtt-packet's `generate`; throws what it reports (it emits 'error' on an internal stream). */
export function mqttPacketGenerate(p: MpPacket, v: ProtocolVersion): Buffer {
  const out = mqttPacket.generate(p as unknown as MqttPacketModel, { protocolVersion: v });
  if (out.length < 2) throw new Error(`mqtt-packet generated ${out.length} bytes for ${p.cmd}`);
  return out;
}

/**
 * Parses `bytes` with a fresh mqtt-packet parser for version `v`. Throws on a
 * parser error or when bytes are left over; returns the packets emitted.
 */
export function mqttPacketParse(bytes: Uint8Array, v: ProtocolVersion): MpPacket[] {
  const parser = mqttPacket.parser({ protocolVersion: v });
  const packets: MpPacket[] = [];
  let error: unknown;
  parser.on('packet', (p) => packets.push(p as unknown as MpPacket));
  parser.on('error', (e) => {
    error ??= e;
  });
  const left = parser.parse(buf(bytes));
  if (error !== undefined) throw new Error(`mqtt-packet parser: ${(error as Error).message}`);
  if (left !== 0) throw new Error(`mqtt-packet parser left ${left} bytes unparsed`);
  return packets;
}
