/**
 * MQTT 5 properties (spec 2.2.2): one table gives each property's identifier,
 * name, wire type, the packets that may carry it and its allowed values.
 *
 * Encoding walks the properties object's own keys (so the wire order is the
 * object's key order, and user properties keep their array order); decoding
 * walks the wire and builds an object keyed by name. A packet whose property
 * section is empty decodes with `properties` undefined.
 */
import { EncodeError } from '../core/errors.js';
import {
  binaryLength,
  checkU16,
  checkU32,
  checkVbi,
  PROTOCOL_ERROR,
  type Reader,
  sizes,
  utf8Length,
  vbiLength,
  type Writer,
} from './primitives.js';
import { topicNameProblem } from './topic.js';
import type { AllProperties, ProtocolVersion, UserProperty } from './types.js';

const enum Kind {
  Bool = 0,
  Byte = 1,
  U16 = 2,
  U32 = 3,
  Vbi = 4,
  Utf8 = 5,
  Binary = 6,
  Pair = 7,
}

/** Property scopes: a bit per control packet type number, and one for the will. */
export const enum Scope {
  Connect = 1 << 1,
  Connack = 1 << 2,
  Publish = 1 << 3,
  Puback = 1 << 4,
  Pubrec = 1 << 5,
  Pubrel = 1 << 6,
  Pubcomp = 1 << 7,
  Subscribe = 1 << 8,
  Suback = 1 << 9,
  Unsubscribe = 1 << 10,
  Unsuback = 1 << 11,
  Disconnect = 1 << 14,
  Auth = 1 << 15,
  Will = 1 << 16,
}

const ACKS = Scope.Puback | Scope.Pubrec | Scope.Pubrel | Scope.Pubcomp | Scope.Suback | Scope.Unsuback;
const ALL =
  Scope.Connect |
  Scope.Connack |
  Scope.Publish |
  ACKS |
  Scope.Subscribe |
  Scope.Unsubscribe |
  Scope.Disconnect |
  Scope.Auth |
  Scope.Will;

interface PropertyDef {
  id: number;
  name: keyof AllProperties;
  kind: Kind;
  scope: number;
  /** Smallest allowed value for integer kinds (a Protocol Error below it). */
  min: number;
  /** Reason code for a value below `min` when decoding. */
  minReason: number;
}

function def(
  id: number,
  name: keyof AllProperties,
  kind: Kind,
  scope: number,
  min = 0,
  minReason = PROTOCOL_ERROR,
) {
  return { id, name, kind, scope, min, minReason };
}

const DEFS: PropertyDef[] = [
  def(0x01, 'payloadFormatIndicator', Kind.Bool, Scope.Publish | Scope.Will),
  def(0x02, 'messageExpiryInterval', Kind.U32, Scope.Publish | Scope.Will),
  def(0x03, 'contentType', Kind.Utf8, Scope.Publish | Scope.Will),
  def(0x08, 'responseTopic', Kind.Utf8, Scope.Publish | Scope.Will),
  def(0x09, 'correlationData', Kind.Binary, Scope.Publish | Scope.Will),
  def(0x0b, 'subscriptionIdentifier', Kind.Vbi, Scope.Publish | Scope.Subscribe, 1),
  def(0x11, 'sessionExpiryInterval', Kind.U32, Scope.Connect | Scope.Connack | Scope.Disconnect),
  def(0x12, 'assignedClientIdentifier', Kind.Utf8, Scope.Connack),
  def(0x13, 'serverKeepAlive', Kind.U16, Scope.Connack),
  def(0x15, 'authenticationMethod', Kind.Utf8, Scope.Connect | Scope.Connack | Scope.Auth),
  def(0x16, 'authenticationData', Kind.Binary, Scope.Connect | Scope.Connack | Scope.Auth),
  def(0x17, 'requestProblemInformation', Kind.Bool, Scope.Connect),
  def(0x18, 'willDelayInterval', Kind.U32, Scope.Will),
  def(0x19, 'requestResponseInformation', Kind.Bool, Scope.Connect),
  def(0x1a, 'responseInformation', Kind.Utf8, Scope.Connack),
  def(0x1c, 'serverReference', Kind.Utf8, Scope.Connack | Scope.Disconnect),
  def(0x1f, 'reasonString', Kind.Utf8, Scope.Connack | ACKS | Scope.Disconnect | Scope.Auth),
  def(0x21, 'receiveMaximum', Kind.U16, Scope.Connect | Scope.Connack, 1),
  def(0x22, 'topicAliasMaximum', Kind.U16, Scope.Connect | Scope.Connack),
  def(0x23, 'topicAlias', Kind.U16, Scope.Publish, 1, 0x94),
  def(0x24, 'maximumQoS', Kind.Byte, Scope.Connack),
  def(0x25, 'retainAvailable', Kind.Bool, Scope.Connack),
  def(0x26, 'userProperties', Kind.Pair, ALL),
  def(0x27, 'maximumPacketSize', Kind.U32, Scope.Connect | Scope.Connack, 1),
  def(0x28, 'wildcardSubscriptionAvailable', Kind.Bool, Scope.Connack),
  def(0x29, 'subscriptionIdentifiersAvailable', Kind.Bool, Scope.Connack),
  def(0x2a, 'sharedSubscriptionAvailable', Kind.Bool, Scope.Connack),
];

const RESPONSE_TOPIC = 0x08;

const BY_ID: (PropertyDef | undefined)[] = new Array(128).fill(undefined);
const BY_NAME: Record<string, PropertyDef> = Object.create(null);
for (const d of DEFS) {
  BY_ID[d.id] = d;
  BY_NAME[d.name] = d;
}

const SCOPE_NAMES: Record<number, string> = {
  [Scope.Connect]: 'CONNECT',
  [Scope.Connack]: 'CONNACK',
  [Scope.Publish]: 'PUBLISH',
  [Scope.Puback]: 'PUBACK',
  [Scope.Pubrec]: 'PUBREC',
  [Scope.Pubrel]: 'PUBREL',
  [Scope.Pubcomp]: 'PUBCOMP',
  [Scope.Subscribe]: 'SUBSCRIBE',
  [Scope.Suback]: 'SUBACK',
  [Scope.Unsubscribe]: 'UNSUBSCRIBE',
  [Scope.Unsuback]: 'UNSUBACK',
  [Scope.Disconnect]: 'DISCONNECT',
  [Scope.Auth]: 'AUTH',
  [Scope.Will]: 'will properties',
};

/** The property identifier of a property name, for tests and tools. */
export function propertyId(name: keyof AllProperties): number {
  return BY_NAME[name].id;
}

/** Bytes a property section of `len` bytes takes with its length prefix (none in 3.1.1). */
export function sectionLength(len: number, version: ProtocolVersion): number {
  return version === 5 ? vbiLength(len) + len : 0;
}

/**
 * Validates `props` for a packet of `scope` and returns the byte length of
 * the property section without its length prefix. For 3.1.1 any property is
 * an error. Pushes string lengths and the section length on {@link sizes}.
 */
export function measureProperties(
  props: object | undefined,
  scope: Scope,
  version: ProtocolVersion,
  field: string,
): number {
  if (props === undefined || props === null) {
    if (version === 5) sizes.push(0);
    return 0;
  }
  if (typeof props !== 'object') throw new EncodeError(field, 'must be an object');
  const slot = version === 5 ? sizes.reserve() : -1;
  let len = 0;
  for (const key in props) {
    const value = (props as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const d = BY_NAME[key];
    const f = `${field}.${key}`;
    if (d === undefined) throw new EncodeError(f, 'is not an MQTT 5 property');
    if (version === 4) {
      if (d.kind === Kind.Pair && Array.isArray(value) && value.length === 0) continue;
      throw new EncodeError(f, 'is an MQTT 5 property; the session is MQTT 3.1.1');
    }
    if ((d.scope & scope) === 0) throw new EncodeError(f, `is not allowed in ${SCOPE_NAMES[scope]}`);
    len += measureValue(d, value, f, scope);
  }
  const auth = props as AllProperties;
  if (auth.authenticationData !== undefined && auth.authenticationMethod === undefined) {
    throw new EncodeError(`${field}.authenticationData`, 'needs an authenticationMethod');
  }
  if (version === 5) sizes.set(slot, len);
  return len;
}

function measureValue(d: PropertyDef, value: unknown, f: string, scope: Scope): number {
  switch (d.kind) {
    case Kind.Bool:
      if (typeof value !== 'boolean') throw new EncodeError(f, 'must be a boolean');
      return 2;
    case Kind.Byte:
      if (value !== 0 && value !== 1) throw new EncodeError(f, 'must be 0 or 1');
      return 2;
    case Kind.U16:
      checkU16(value as number, f, d.min);
      return 3;
    case Kind.U32:
      checkU32(value as number, f, d.min);
      return 5;
    case Kind.Vbi: {
      if (Array.isArray(value)) {
        if (scope !== Scope.Publish) throw new EncodeError(f, 'must be a single number here');
        let n = 0;
        for (let i = 0; i < value.length; i++) n += 1 + vbiLength(checkVbi(value[i], `${f}[${i}]`, d.min));
        return n;
      }
      return 1 + vbiLength(checkVbi(value as number, f, d.min));
    }
    case Kind.Utf8: {
      const n = utf8Length(value as string, f);
      if (d.id === RESPONSE_TOPIC) {
        const problem = topicNameProblem(value as string);
        if (problem !== undefined) throw new EncodeError(f, `${problem} (a response topic is a topic name)`);
      }
      sizes.push(n);
      return 3 + n;
    }
    case Kind.Binary:
      return 3 + binaryLength(value as Uint8Array, f);
    default: {
      if (!Array.isArray(value)) throw new EncodeError(f, 'must be an array of [name, value] pairs');
      let n = 0;
      for (let i = 0; i < value.length; i++) {
        const pair = value[i] as UserProperty;
        if (!Array.isArray(pair) || pair.length !== 2)
          throw new EncodeError(`${f}[${i}]`, 'must be a [name, value] pair');
        const a = utf8Length(pair[0], `${f}[${i}][0]`);
        const b = utf8Length(pair[1], `${f}[${i}][1]`);
        sizes.push(a);
        sizes.push(b);
        n += 5 + a + b;
      }
      return n;
    }
  }
}

/**
 * Writes the property section measured by {@link measureProperties},
 * length prefix included. Writes nothing for 3.1.1.
 */
export function writeProperties(w: Writer, props: object | undefined, version: ProtocolVersion): void {
  if (version === 4) return;
  w.vbi(sizes.shift());
  if (props === undefined || props === null) return;
  for (const key in props) {
    const value = (props as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const d = BY_NAME[key];
    switch (d.kind) {
      case Kind.Bool:
        w.u8(d.id);
        w.u8(value ? 1 : 0);
        break;
      case Kind.Byte:
        w.u8(d.id);
        w.u8(value as number);
        break;
      case Kind.U16:
        w.u8(d.id);
        w.u16(value as number);
        break;
      case Kind.U32:
        w.u8(d.id);
        w.u32(value as number);
        break;
      case Kind.Vbi:
        if (Array.isArray(value)) {
          for (const v of value) {
            w.u8(d.id);
            w.vbi(v);
          }
        } else {
          w.u8(d.id);
          w.vbi(value as number);
        }
        break;
      case Kind.Utf8:
        w.u8(d.id);
        w.utf8(value as string, sizes.shift());
        break;
      case Kind.Binary:
        w.u8(d.id);
        w.binary(value as Uint8Array);
        break;
      default:
        for (const pair of value as UserProperty[]) {
          w.u8(d.id);
          w.utf8(pair[0], sizes.shift());
          w.utf8(pair[1], sizes.shift());
        }
    }
  }
}

/**
 * Reads a property section at the reader's position: its length, then the
 * properties. Returns undefined for an empty section.
 */
export function readProperties(r: Reader, scope: Scope): AllProperties | undefined {
  const len = r.vbi('property length');
  if (len === 0) return undefined;
  const end = r.pos + len;
  if (end > r.end) r.fail(`property length ${len} runs past the end of the packet`);
  const props: Record<string, unknown> = {};
  while (r.pos < end) {
    const id = r.buf[r.pos++];
    const d = id < 0x80 ? BY_ID[id] : undefined;
    if (d === undefined) r.fail(`unknown property identifier 0x${id.toString(16)}`);
    if ((d.scope & scope) === 0) r.fail(`property ${d.name} (0x${id.toString(16)}) is not allowed here`);
    const name = d.name;
    const prev = props[name];
    if (prev !== undefined && d.kind !== Kind.Pair && !(d.kind === Kind.Vbi && scope === Scope.Publish)) {
      r.fail(`property ${name} appears more than once`, PROTOCOL_ERROR);
    }
    const saved = r.end;
    r.end = end;
    let value: unknown;
    switch (d.kind) {
      case Kind.Bool: {
        const b = r.u8(name);
        if (b > 1) r.fail(`property ${name} must be 0 or 1, got ${b}`, PROTOCOL_ERROR);
        value = b === 1;
        break;
      }
      case Kind.Byte: {
        const b = r.u8(name);
        if (b > 1) r.fail(`property ${name} must be 0 or 1, got ${b}`, PROTOCOL_ERROR);
        value = b;
        break;
      }
      case Kind.U16:
        value = r.u16(name);
        break;
      case Kind.U32:
        value = r.u32(name);
        break;
      case Kind.Vbi:
        value = r.vbi(name);
        break;
      case Kind.Utf8:
        value = r.utf8(name);
        if (id === RESPONSE_TOPIC && topicNameProblem(value as string) !== undefined) {
          r.fail(`response topic '${value}' ${topicNameProblem(value as string)}`, PROTOCOL_ERROR);
        }
        break;
      case Kind.Binary:
        value = r.binary(name);
        break;
      default: {
        const pair: UserProperty = [r.utf8('user property name'), r.utf8('user property value')];
        if (prev === undefined) props[name] = [pair];
        else (prev as UserProperty[]).push(pair);
        r.end = saved;
        continue;
      }
    }
    r.end = saved;
    if (typeof value === 'number' && value < d.min)
      r.fail(`property ${name} must not be ${String(value)}`, d.minReason);
    if (prev === undefined) props[name] = value;
    else if (Array.isArray(prev)) prev.push(value);
    else props[name] = [prev, value];
  }
  if (props.authenticationData !== undefined && props.authenticationMethod === undefined) {
    r.fail('authentication data without an authentication method', PROTOCOL_ERROR);
  }
  return props as AllProperties;
}
