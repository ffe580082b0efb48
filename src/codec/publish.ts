/**
 * PUBLISH and its acknowledgements PUBACK, PUBREC, PUBREL, PUBCOMP
 * (spec 3.3 to 3.7). These are the hot path: no allocation but the packet
 * object itself, payloads as views of the input.
 *
 *   PUBLISH  0011 DQQR  topic  [packet id if QoS > 0]  [v5 properties]  payload
 *   ack      type 0000 (PUBREL 0010)  packet id  [v5: reason code  [properties]]
 *
 * A v5 ack with reason code 0 and no properties is sent in its short form
 * (remaining length 2); reason code with no properties, remaining length 3.
 */
import { EncodeError } from '../core/errors.js';
import {
  BYTE_CLASS,
  checkU16,
  decodeUtf8,
  MALFORMED,
  type NodeBuffer,
  PROTOCOL_ERROR,
  type Reader,
  SLOW,
  sizes,
  utf8Length,
  vbiLength,
  WILDCARD,
  type Writer,
} from './primitives.js';
import { measureProperties, readProperties, Scope, writeProperties } from './properties.js';
import { isValidReasonCode } from './reason-codes.js';
import type { AckPacket, AckProperties, ProtocolVersion, PublishPacket, QoS } from './types.js';

const TOPIC_NAME_INVALID = 0x90;

/**
 * Validated topics, encoded with their length prefix. Publishers repeat
 * topics (one per device, metric or command), so a PUBLISH usually costs a
 * lookup and a copy instead of a validation scan and a char-by-char write.
 * The last topic is checked first by identity; the map is bounded in entries
 * and bytes and cleared when full.
 */
const TOPIC_CACHE_MAX = 4096;
/** Longer topics are not kept, so the cache holds at most about 4 MiB. */
const TOPIC_CACHE_MAX_BYTES = 1024;
const topicCache = new Map<string, Uint8Array>();
let lastTopic: unknown = Symbol('no topic yet');
let lastTopicBytes: Uint8Array = new Uint8Array(0);
/** An empty topic name: its two-byte length prefix. */
const EMPTY_TOPIC = new Uint8Array(2);
/** Encoded topics of the packets measured, for the write pass (FIFO). */
const topicQueue: Uint8Array[] = [];
let topicHead = 0;
let topicTail = 0;

/** Called by the encoder before each measure pass. */
export function resetTopicQueue(): void {
  topicHead = 0;
  topicTail = 0;
}

/**
 * A topic name, validated (no wildcards, no U+0000, well-formed, at most
 * 65,535 bytes; empty only with a topic alias in MQTT 5) and encoded with its
 * length prefix.
 */
function topicBytes(topic: string, aliased: boolean): Uint8Array {
  if (topic === lastTopic) return lastTopicBytes;
  // the topic of every publish that uses an alias: shared, never cached
  if (topic === '' && aliased) return EMPTY_TOPIC;
  let bytes = topicCache.get(topic);
  if (bytes === undefined) {
    bytes = encodeTopic(topic, aliased);
    if (bytes.length <= TOPIC_CACHE_MAX_BYTES) {
      if (topicCache.size >= TOPIC_CACHE_MAX) topicCache.clear();
      topicCache.set(topic, bytes);
    }
  }
  lastTopic = topic;
  lastTopicBytes = bytes;
  return bytes;
}

function encodeTopic(topic: string, aliased: boolean): Uint8Array {
  if (typeof topic !== 'string') throw new EncodeError('topic', `expected a string, got ${typeof topic}`);
  const n = topic.length;
  if (n === 0 && !aliased)
    throw new EncodeError('topic', 'is empty (allowed only with a topic alias in MQTT 5)');
  let flags = 0;
  for (let i = 0; i < n; i++) {
    const c = topic.charCodeAt(i);
    flags |= c < 0x80 ? BYTE_CLASS[c] : SLOW;
  }
  if (flags & WILDCARD) {
    const plus = topic.indexOf('+');
    const hash = topic.indexOf('#');
    const i = plus === -1 ? hash : hash === -1 ? plus : Math.min(plus, hash);
    throw new EncodeError(
      'topic',
      `contains the wildcard '${topic[i]}' at ${i}; a topic name cannot hold wildcards (only a filter can)`,
    );
  }
  const len = flags === 0 && n <= 0xffff ? n : utf8Length(topic, 'topic');
  const bytes = Buffer.allocUnsafeSlow(2 + len);
  bytes[0] = len >>> 8;
  bytes[1] = len & 0xff;
  bytes.write(topic, 2, len, flags === 0 ? 'latin1' : 'utf8');
  return bytes;
}

export function measurePublish(p: PublishPacket, v: ProtocolVersion): number {
  const qos = p.qos;
  if (qos !== 0 && qos !== 1 && qos !== 2)
    throw new EncodeError('qos', `must be 0, 1 or 2, got ${String(qos)}`);
  const props = p.properties;
  const topic = topicBytes(p.topic, v === 5 && props != null && props.topicAlias !== undefined);
  topicQueue[topicTail++] = topic;
  let len = topic.length;
  if (qos > 0) {
    checkU16(p.packetId as number, 'packetId', 1);
    len += 2;
  } else if (p.dup) {
    throw new EncodeError('dup', 'must be false for QoS 0');
  }
  if (v === 5) {
    let pl = 0;
    if (props == null) sizes.push(0);
    else pl = measureProperties(props, Scope.Publish, v, 'properties');
    len += vbiLength(pl) + pl;
  } else if (props != null) {
    measureProperties(props, Scope.Publish, v, 'properties');
  }
  const payload = p.payload;
  if (!(payload instanceof Uint8Array)) throw new EncodeError('payload', 'expected a Uint8Array or Buffer');
  return len + payload.byteLength;
}

export function publishHeader(p: PublishPacket): number {
  return 0x30 | (p.dup ? 0x08 : 0) | (p.qos << 1) | (p.retain ? 0x01 : 0);
}

export function writePublish(w: Writer, p: PublishPacket, v: ProtocolVersion): void {
  // writePublishHead written out: a call here measured ~15% slower on the encode benchmark
  w.bytes(topicQueue[topicHead++]);
  if (p.qos > 0) w.u16(p.packetId as number);
  if (v === 5) writeProperties(w, p.properties, v);
  w.bytes(p.payload);
}

/** Everything of a PUBLISH after its fixed header but the payload. */
export function writePublishHead(w: Writer, p: PublishPacket, v: ProtocolVersion): void {
  w.bytes(topicQueue[topicHead++]);
  if (p.qos > 0) w.u16(p.packetId as number);
  if (v === 5) writeProperties(w, p.properties, v);
}

/** The topic name, in one pass over its bytes: wildcards, U+0000 and non-ASCII found together. */
function readTopic(r: Reader): string {
  const len = r.u16('topic name');
  r.need(len, 'topic name');
  const b = r.buf as NodeBuffer;
  const start = r.pos;
  const end = start + len;
  r.pos = end;
  let flags = 0;
  for (let i = start; i < end; i++) flags |= BYTE_CLASS[b[i]];
  if (flags === 0) return b.latin1Slice(start, end);
  const topic = decodeUtf8(r, b, start, end, 'topic name');
  if (flags & WILDCARD) r.fail(`topic name '${topic}' contains a wildcard`, TOPIC_NAME_INVALID);
  return topic;
}

export function readPublish(r: Reader, flags: number, v: ProtocolVersion): PublishPacket {
  const qos = (flags >> 1) & 0x03;
  if (qos === 3) r.fail('QoS is 3');
  const dup = (flags & 0x08) !== 0;
  if (dup && qos === 0) r.fail('DUP is set on a QoS 0 message');
  const topic = readTopic(r);
  let packetId: number | undefined;
  if (qos > 0) {
    packetId = r.u16('packet identifier');
    if (packetId === 0) r.fail('packet identifier is 0', PROTOCOL_ERROR);
  }
  const properties = v === 5 ? readProperties(r, Scope.Publish) : undefined;
  if (topic.length === 0 && (properties === undefined || properties.topicAlias === undefined)) {
    r.fail('topic name is empty and there is no topic alias', PROTOCOL_ERROR);
  }
  const payload = r.buf.subarray(r.pos, r.end);
  r.pos = r.end;
  return {
    type: 'publish',
    topic,
    payload,
    qos: qos as QoS,
    retain: (flags & 0x01) !== 0,
    dup,
    packetId,
    properties,
  };
}

export function measureAck(p: AckPacket, v: ProtocolVersion): number {
  checkU16(p.packetId, 'packetId', 1);
  const rc = p.reasonCode ?? 0;
  if (v === 4) {
    if (rc !== 0) throw new EncodeError('reasonCode', 'MQTT 3.1.1 acknowledgements carry no reason code');
    measureProperties(p.properties, Scope.Puback, v, 'properties');
    return 2;
  }
  if (!isValidReasonCode(p.type, rc, 5)) {
    throw new EncodeError(
      'reasonCode',
      `0x${Number(rc).toString(16)} is not a ${p.type.toUpperCase()} reason code`,
    );
  }
  const pl = measureProperties(p.properties, ACK_SCOPES[p.type], v, 'properties');
  if (pl > 0) return 3 + vbiLength(pl) + pl;
  return rc === 0 ? 2 : 3;
}

const ACK_SCOPES: Record<AckPacket['type'], Scope> = {
  puback: Scope.Puback,
  pubrec: Scope.Pubrec,
  pubrel: Scope.Pubrel,
  pubcomp: Scope.Pubcomp,
};

/** `rem` is the remaining length from the measure pass: it says which form to write. */
export function writeAck(w: Writer, p: AckPacket, v: ProtocolVersion, rem: number): void {
  w.u16(p.packetId);
  if (v === 4) return;
  if (rem <= 3) {
    sizes.shift(); // the empty property section measured for v5
    if (rem === 3) w.u8(p.reasonCode ?? 0);
    return;
  }
  w.u8(p.reasonCode ?? 0);
  writeProperties(w, p.properties, v);
}

export function readAck<T extends AckPacket['type']>(
  r: Reader,
  type: T,
  v: ProtocolVersion,
): Extract<AckPacket, { type: T }> {
  const packetId = r.u16('packet identifier');
  if (packetId === 0) r.fail('packet identifier is 0', PROTOCOL_ERROR);
  let reasonCode = 0;
  let properties: AckProperties | undefined;
  if (v === 5 && r.pos < r.end) {
    reasonCode = r.u8('reason code');
    if (!isValidReasonCode(type, reasonCode, 5))
      r.fail(`0x${reasonCode.toString(16)} is not a valid reason code`);
    if (r.pos < r.end) properties = readProperties(r, ACK_SCOPES[type]);
  }
  if (r.pos !== r.end) r.fail(`${r.end - r.pos} bytes past the end of the packet`, MALFORMED);
  const packet = { type, packetId, reasonCode, properties } as Extract<AckPacket, { type: T }>;
  return packet;
}
