/**
 * CONNECT and CONNACK (spec 3.1, 3.2).
 *
 * CONNECT variable header and payload:
 *
 *   00 04 'M' 'Q' 'T' 'T'  level (4|5)  flags  keepalive(2)  [v5 properties]
 *   client id  [will: [v5 will properties] topic payload]  [username]  [password]
 *
 *   flags: 7 username | 6 password | 5 will retain | 4-3 will QoS | 2 will | 1 clean | 0 reserved
 */
import { EncodeError } from '../core/errors.js';
import {
  binaryLength,
  checkU16,
  MALFORMED,
  PROTOCOL_ERROR,
  type Reader,
  sizes,
  utf8Length,
  type Writer,
} from './primitives.js';
import { measureProperties, readProperties, Scope, sectionLength, writeProperties } from './properties.js';
import { isValidReasonCode } from './reason-codes.js';
import { topicNameProblem } from './topic.js';
import type { ConnackPacket, ConnectPacket, ProtocolVersion, QoS, Will } from './types.js';

const UNSUPPORTED_PROTOCOL_VERSION = 0x84;
const TOPIC_NAME_INVALID = 0x90;

/** 3.1.1 CONNACK return codes 1..5 as MQTT 5 reason codes. */
const V4_TO_V5_CONNACK = [0x00, 0x84, 0x85, 0x88, 0x86, 0x87];

export function measureConnect(p: ConnectPacket, v: ProtocolVersion): number {
  if (p.protocolVersion !== undefined && p.protocolVersion !== v) {
    throw new EncodeError('protocolVersion', `is ${p.protocolVersion} but the encoder is set to ${v}`);
  }
  checkU16(p.keepalive, 'keepalive');
  let len = 10 + sectionLength(measureProperties(p.properties, Scope.Connect, v, 'properties'), v);
  const id = utf8Length(p.clientId, 'clientId');
  sizes.push(id);
  len += 2 + id;
  if (v === 4 && id === 0 && !p.clean) {
    throw new EncodeError('clientId', 'is empty, which MQTT 3.1.1 allows only with clean: true');
  }
  const will = p.will;
  if (will !== undefined && will !== null) {
    len += sectionLength(measureProperties(will.properties, Scope.Will, v, 'will.properties'), v);
    const problem = typeof will.topic === 'string' ? topicNameProblem(will.topic) : undefined;
    if (problem !== undefined) throw new EncodeError('will.topic', problem);
    const t = utf8Length(will.topic, 'will.topic');
    sizes.push(t);
    len += 4 + t + binaryLength(will.payload, 'will.payload');
    checkQoS(will.qos, 'will.qos');
  }
  if (p.username !== undefined) {
    const u = utf8Length(p.username, 'username');
    sizes.push(u);
    len += 2 + u;
  }
  if (p.password !== undefined) {
    if (v === 4 && p.username === undefined) {
      throw new EncodeError('password', 'needs a username in MQTT 3.1.1');
    }
    len += 2 + binaryLength(p.password, 'password');
  }
  return len;
}

export function checkQoS(qos: number, field: string): void {
  if (qos !== 0 && qos !== 1 && qos !== 2)
    throw new EncodeError(field, `must be 0, 1 or 2, got ${String(qos)}`);
}

export function writeConnect(w: Writer, p: ConnectPacket, v: ProtocolVersion): void {
  const will = p.will ?? undefined;
  let flags = p.clean ? 0x02 : 0;
  if (will !== undefined) flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  if (p.password !== undefined) flags |= 0x40;
  if (p.username !== undefined) flags |= 0x80;
  w.u16(4);
  w.u8(0x4d); // M
  w.u8(0x51); // Q
  w.u8(0x54); // T
  w.u8(0x54); // T
  w.u8(v);
  w.u8(flags);
  w.u16(p.keepalive);
  writeProperties(w, p.properties, v);
  w.utf8(p.clientId, sizes.shift());
  if (will !== undefined) {
    writeProperties(w, will.properties, v);
    w.utf8(will.topic, sizes.shift());
    w.binary(will.payload);
  }
  if (p.username !== undefined) w.utf8(p.username, sizes.shift());
  if (p.password !== undefined) w.binary(p.password);
}

export function readConnect(r: Reader): ConnectPacket {
  const name = r.utf8('protocol name');
  const level = r.u8('protocol level');
  if (name !== 'MQTT') {
    r.fail(
      `protocol name '${name}' (level ${level}) is not MQTT 3.1.1 or 5.0`,
      name === 'MQIsdp' ? UNSUPPORTED_PROTOCOL_VERSION : MALFORMED,
    );
  }
  if (level !== 4 && level !== 5)
    r.fail(`protocol level ${level} is not 4 or 5`, UNSUPPORTED_PROTOCOL_VERSION);
  const v = level as ProtocolVersion;
  const flags = r.u8('connect flags');
  if (flags & 0x01) r.fail('reserved connect flag is set');
  const hasWill = (flags & 0x04) !== 0;
  const willQoS = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  if (!hasWill && (willQoS !== 0 || willRetain)) r.fail('will QoS or will retain set without the will flag');
  if (willQoS === 3) r.fail('will QoS is 3');
  const hasPassword = (flags & 0x40) !== 0;
  const hasUsername = (flags & 0x80) !== 0;
  if (v === 4 && hasPassword && !hasUsername) r.fail('password flag set without the username flag');
  const keepalive = r.u16('keepalive');
  const properties = v === 5 ? readProperties(r, Scope.Connect) : undefined;
  const clientId = r.utf8('client identifier');
  const packet: ConnectPacket = {
    type: 'connect',
    protocolVersion: v,
    clientId,
    clean: (flags & 0x02) !== 0,
    keepalive,
  };
  if (properties !== undefined) packet.properties = properties;
  if (hasWill) {
    const willProps = v === 5 ? readProperties(r, Scope.Will) : undefined;
    const topic = r.utf8('will topic');
    const problem = topicNameProblem(topic);
    if (problem !== undefined) r.fail(`will topic ${problem}`, TOPIC_NAME_INVALID);
    const will: Will = { topic, payload: r.binary('will payload'), qos: willQoS as QoS, retain: willRetain };
    if (willProps !== undefined) will.properties = willProps;
    packet.will = will;
  }
  if (hasUsername) packet.username = r.utf8('username');
  if (hasPassword) packet.password = r.binary('password');
  if (r.pos !== r.end) r.fail(`${r.end - r.pos} bytes past the end of the payload`);
  return packet;
}

export function measureConnack(p: ConnackPacket, v: ProtocolVersion): number {
  if (!isValidReasonCode('connack', p.reasonCode, v)) {
    throw new EncodeError(
      'reasonCode',
      `0x${Number(p.reasonCode).toString(16)} is not a CONNACK code in MQTT ${v}`,
    );
  }
  if (p.sessionPresent && p.reasonCode !== 0) {
    throw new EncodeError('sessionPresent', 'must be false when the connection is refused');
  }
  return 2 + sectionLength(measureProperties(p.properties, Scope.Connack, v, 'properties'), v);
}

export function writeConnack(w: Writer, p: ConnackPacket, v: ProtocolVersion): void {
  w.u8(p.sessionPresent ? 1 : 0);
  w.u8(p.reasonCode);
  writeProperties(w, p.properties, v);
}

export function readConnack(r: Reader, v: ProtocolVersion): ConnackPacket {
  const flags = r.u8('acknowledge flags');
  if (flags > 1) r.fail('reserved acknowledge flags are set');
  let reasonCode = r.u8('reason code');
  if (v === 5 && r.pos === r.end && flags === 0 && reasonCode >= 1 && reasonCode <= 5) {
    // A 3.1.1 broker refuses an MQTT 5 CONNECT with a 3.1.1 CONNACK
    // (return code 1, unacceptable protocol version): read it as the MQTT 5
    // refusal it means, so a client can tell and fall back to 3.1.1.
    reasonCode = V4_TO_V5_CONNACK[reasonCode];
    return { type: 'connack', sessionPresent: false, reasonCode };
  }
  if (!isValidReasonCode('connack', reasonCode, v)) {
    r.fail(`0x${reasonCode.toString(16)} is not a CONNACK ${v === 5 ? 'reason' : 'return'} code`);
  }
  if (flags === 1 && reasonCode !== 0) r.fail('session present set on a refused connection', PROTOCOL_ERROR);
  const packet: ConnackPacket = { type: 'connack', sessionPresent: flags === 1, reasonCode };
  if (v === 5) {
    const properties = readProperties(r, Scope.Connack);
    if (properties !== undefined) packet.properties = properties;
  }
  if (r.pos !== r.end) r.fail(`${r.end - r.pos} bytes past the end of the packet`);
  return packet;
}
