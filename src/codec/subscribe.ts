/**
 * SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK (spec 3.8 to 3.11).
 *
 *   SUBSCRIBE    1000 0010  packet id  [v5 properties]  (filter  options)+
 *   SUBACK       1001 0000  packet id  [v5 properties]  reason code+
 *   UNSUBSCRIBE  1010 0010  packet id  [v5 properties]  filter+
 *   UNSUBACK     1011 0000  packet id  [v5 properties   reason code+]
 *
 *   subscription options: 7-6 reserved | 5-4 retain handling | 3 retain as
 *   published | 2 no local | 1-0 QoS   (3.1.1: only QoS, the rest reserved)
 */
import { EncodeError } from '../core/errors.js';
import { checkU16, PROTOCOL_ERROR, type Reader, sizes, utf8Length, type Writer } from './primitives.js';
import { measureProperties, readProperties, Scope, sectionLength, writeProperties } from './properties.js';
import { isValidReasonCode } from './reason-codes.js';
import { topicFilterProblem } from './topic.js';
import type {
  ProtocolVersion,
  QoS,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
} from './types.js';

const TOPIC_FILTER_INVALID = 0x8f;

function measureFilter(filter: string, field: string): number {
  const n = utf8Length(filter, field);
  const problem = topicFilterProblem(filter);
  if (problem !== undefined) throw new EncodeError(field, problem);
  sizes.push(n);
  return 2 + n;
}

function nonEmptyArray(list: unknown, field: string): void {
  if (!Array.isArray(list) || list.length === 0) throw new EncodeError(field, 'must be a non-empty array');
}

export function measureSubscribe(p: SubscribePacket, v: ProtocolVersion): number {
  checkU16(p.packetId, 'packetId', 1);
  let len = 2 + sectionLength(measureProperties(p.properties, Scope.Subscribe, v, 'properties'), v);
  nonEmptyArray(p.subscriptions, 'subscriptions');
  for (let i = 0; i < p.subscriptions.length; i++) {
    const s = p.subscriptions[i];
    const f = `subscriptions[${i}]`;
    len += measureFilter(s.topicFilter, `${f}.topicFilter`) + 1;
    if (s.qos !== 0 && s.qos !== 1 && s.qos !== 2) throw new EncodeError(`${f}.qos`, 'must be 0, 1 or 2');
    const rh = s.retainHandling ?? 0;
    if (rh !== 0 && rh !== 1 && rh !== 2) throw new EncodeError(`${f}.retainHandling`, 'must be 0, 1 or 2');
    if (v === 4 && (s.noLocal || s.retainAsPublished || rh !== 0)) {
      const option = s.noLocal ? 'noLocal' : s.retainAsPublished ? 'retainAsPublished' : 'retainHandling';
      throw new EncodeError(`${f}.${option}`, 'is an MQTT 5 subscription option; the session is MQTT 3.1.1');
    }
    if (s.noLocal && s.topicFilter.startsWith('$share/')) {
      throw new EncodeError(`${f}.noLocal`, 'is not allowed on a shared subscription');
    }
  }
  return len;
}

export function writeSubscribe(w: Writer, p: SubscribePacket, v: ProtocolVersion): void {
  w.u16(p.packetId);
  writeProperties(w, p.properties, v);
  for (const s of p.subscriptions) {
    w.utf8(s.topicFilter, sizes.shift());
    w.u8(s.qos | (s.noLocal ? 0x04 : 0) | (s.retainAsPublished ? 0x08 : 0) | ((s.retainHandling ?? 0) << 4));
  }
}

function readFilter(r: Reader): string {
  const filter = r.utf8('topic filter');
  const problem = topicFilterProblem(filter);
  if (problem !== undefined) r.fail(`topic filter '${filter}' ${problem}`, TOPIC_FILTER_INVALID);
  return filter;
}

export function readSubscribe(r: Reader, v: ProtocolVersion): SubscribePacket {
  const packetId = readPacketId(r);
  const properties = v === 5 ? readProperties(r, Scope.Subscribe) : undefined;
  const subscriptions: Subscription[] = [];
  while (r.pos < r.end) {
    const topicFilter = readFilter(r);
    const o = r.u8('subscription options');
    const qos = o & 0x03;
    if (qos === 3) r.fail(`QoS 3 requested for '${topicFilter}'`);
    if (v === 4) {
      if (o & 0xfc) r.fail(`reserved subscription option bits set for '${topicFilter}'`);
      subscriptions.push({ topicFilter, qos: qos as QoS });
      continue;
    }
    if (o & 0xc0) r.fail(`reserved subscription option bits set for '${topicFilter}'`);
    const retainHandling = (o >> 4) & 0x03;
    if (retainHandling === 3) r.fail(`retain handling 3 for '${topicFilter}'`, PROTOCOL_ERROR);
    const noLocal = (o & 0x04) !== 0;
    if (noLocal && topicFilter.startsWith('$share/')) {
      r.fail(`no local set on shared subscription '${topicFilter}'`, PROTOCOL_ERROR);
    }
    subscriptions.push({
      topicFilter,
      qos: qos as QoS,
      noLocal,
      retainAsPublished: (o & 0x08) !== 0,
      retainHandling: retainHandling as 0 | 1 | 2,
    });
  }
  if (subscriptions.length === 0) r.fail('no topic filter', PROTOCOL_ERROR);
  const packet: SubscribePacket = { type: 'subscribe', packetId, subscriptions };
  if (properties !== undefined) packet.properties = properties as SubscribePacket['properties'];
  return packet;
}

function readPacketId(r: Reader): number {
  const id = r.u16('packet identifier');
  if (id === 0) r.fail('packet identifier is 0', PROTOCOL_ERROR);
  return id;
}

function measureCodes(type: 'suback' | 'unsuback', codes: number[], v: ProtocolVersion): number {
  nonEmptyArray(codes, 'reasonCodes');
  for (let i = 0; i < codes.length; i++) {
    if (!isValidReasonCode(type, codes[i], v)) {
      throw new EncodeError(
        `reasonCodes[${i}]`,
        `0x${Number(codes[i]).toString(16)} is not a valid ${type} code`,
      );
    }
  }
  return codes.length;
}

function readCodes(r: Reader, type: 'suback' | 'unsuback', v: ProtocolVersion): number[] {
  const codes: number[] = [];
  while (r.pos < r.end) {
    const c = r.buf[r.pos++];
    if (!isValidReasonCode(type, c, v)) r.fail(`0x${c.toString(16)} is not a valid reason code`);
    codes.push(c);
  }
  if (codes.length === 0) r.fail('no reason code', PROTOCOL_ERROR);
  return codes;
}

export function measureSuback(p: SubackPacket, v: ProtocolVersion): number {
  checkU16(p.packetId, 'packetId', 1);
  const pl = measureProperties(p.properties, Scope.Suback, v, 'properties');
  return 2 + sectionLength(pl, v) + measureCodes('suback', p.reasonCodes, v);
}

export function writeSuback(w: Writer, p: SubackPacket, v: ProtocolVersion): void {
  w.u16(p.packetId);
  writeProperties(w, p.properties, v);
  for (const c of p.reasonCodes) w.u8(c);
}

export function readSuback(r: Reader, v: ProtocolVersion): SubackPacket {
  const packetId = readPacketId(r);
  const properties = v === 5 ? readProperties(r, Scope.Suback) : undefined;
  const packet: SubackPacket = { type: 'suback', packetId, reasonCodes: readCodes(r, 'suback', v) };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

export function measureUnsubscribe(p: UnsubscribePacket, v: ProtocolVersion): number {
  checkU16(p.packetId, 'packetId', 1);
  let len = 2 + sectionLength(measureProperties(p.properties, Scope.Unsubscribe, v, 'properties'), v);
  nonEmptyArray(p.topicFilters, 'topicFilters');
  for (let i = 0; i < p.topicFilters.length; i++)
    len += measureFilter(p.topicFilters[i], `topicFilters[${i}]`);
  return len;
}

export function writeUnsubscribe(w: Writer, p: UnsubscribePacket, v: ProtocolVersion): void {
  w.u16(p.packetId);
  writeProperties(w, p.properties, v);
  for (const f of p.topicFilters) w.utf8(f, sizes.shift());
}

export function readUnsubscribe(r: Reader, v: ProtocolVersion): UnsubscribePacket {
  const packetId = readPacketId(r);
  const properties = v === 5 ? readProperties(r, Scope.Unsubscribe) : undefined;
  const topicFilters: string[] = [];
  while (r.pos < r.end) topicFilters.push(readFilter(r));
  if (topicFilters.length === 0) r.fail('no topic filter', PROTOCOL_ERROR);
  const packet: UnsubscribePacket = { type: 'unsubscribe', packetId, topicFilters };
  if (properties !== undefined) packet.properties = properties;
  return packet;
}

export function measureUnsuback(p: UnsubackPacket, v: ProtocolVersion): number {
  checkU16(p.packetId, 'packetId', 1);
  if (v === 4) {
    const codes = p.reasonCodes ?? [];
    if (codes.some((c) => c !== 0)) {
      throw new EncodeError(
        'reasonCodes',
        'MQTT 3.1.1 UNSUBACK carries no reason codes; only success can be sent',
      );
    }
    measureProperties(p.properties, Scope.Unsuback, v, 'properties');
    return 2;
  }
  const pl = measureProperties(p.properties, Scope.Unsuback, v, 'properties');
  return 2 + sectionLength(pl, v) + measureCodes('unsuback', p.reasonCodes as number[], v);
}

export function writeUnsuback(w: Writer, p: UnsubackPacket, v: ProtocolVersion): void {
  w.u16(p.packetId);
  if (v === 4) return;
  writeProperties(w, p.properties, v);
  for (const c of p.reasonCodes as number[]) w.u8(c);
}

export function readUnsuback(r: Reader, v: ProtocolVersion): UnsubackPacket {
  const packetId = readPacketId(r);
  const packet: UnsubackPacket = { type: 'unsuback', packetId };
  if (v === 4) {
    if (r.pos !== r.end) r.fail(`${r.end - r.pos} bytes past the end of the packet`);
    return packet;
  }
  const properties = readProperties(r, Scope.Unsuback);
  packet.reasonCodes = readCodes(r, 'unsuback', v);
  if (properties !== undefined) packet.properties = properties;
  return packet;
}
