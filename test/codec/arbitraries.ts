/**
 * fast-check arbitraries for VALID MQTT 3.1.1 / 5.0 packets in mqttkit's
 * model, plus `canonical`, a comparable form of a packet.
 *
 * Everything here is written from the spec (OASIS MQTT 5.0 and 3.1.1), not
 * from src/: reason code tables, allowed properties and value ranges are
 * restated on purpose so a wrong table in the codec shows up as a failure.
 *
 * `Restrictions` narrows the generators where mqtt-packet (the reference
 * implementation we compare against) cannot read or write a valid packet;
 * every restriction says why where it is applied.
 */
import fc from 'fast-check';
import type {
  AckPacket,
  AckProperties,
  AllProperties,
  AuthPacket,
  AuthProperties,
  ConnackPacket,
  ConnackProperties,
  ConnectPacket,
  ConnectProperties,
  DisconnectPacket,
  DisconnectProperties,
  Packet,
  PacketType,
  ProtocolVersion,
  PublishPacket,
  PublishProperties,
  QoS,
  SubackPacket,
  SubscribePacket,
  SubscribeProperties,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  UnsubscribeProperties,
  UserProperty,
  Will,
  WillProperties,
} from '../../src/codec/index.js';

export const PACKET_TYPE_NAMES: readonly PacketType[] = [
  'connect',
  'connack',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'pingreq',
  'pingresp',
  'disconnect',
  'auth',
];

/** Every (type, version) pair that exists: AUTH is MQTT 5 only. */
export const TYPE_VERSIONS: readonly [PacketType, ProtocolVersion][] = PACKET_TYPE_NAMES.flatMap((t) =>
  t === 'auth'
    ? [[t, 5] as [PacketType, ProtocolVersion]]
    : [[t, 4] as [PacketType, 4], [t, 5] as [PacketType, 5]],
);

// ---------------------------------------------------------------------------
// Reason codes, from the spec (MQTT 5.0 section 2.4 and each packet's table;
// MQTT 3.1.1 tables 3.1 and 3.8.3.1 for CONNACK and SUBACK return codes).

export const SPEC_V5_REASON_CODES = {
  connack: [
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99,
    0x9a, 0x9b, 0x9c, 0x9d, 0x9f,
  ],
  puback: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  pubrec: [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99],
  pubrel: [0x00, 0x92],
  pubcomp: [0x00, 0x92],
  suback: [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2],
  unsuback: [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91],
  disconnect: [
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
  ],
  auth: [0x00, 0x18, 0x19],
} as const;

export const SPEC_V4_CONNACK_RETURN_CODES = [0, 1, 2, 3, 4, 5] as const;
export const SPEC_V4_SUBACK_RETURN_CODES = [0x00, 0x01, 0x02, 0x80] as const;

// ---------------------------------------------------------------------------
// Restrictions for the comparisons against mqtt-packet.

export interface Restrictions {
  /**
   * The encoded packet is read back by mqtt-packet's parser (differential
   * properties a and b). See `forMqttPacketParser` below for each exclusion.
   */
  mqttPacketParse?: boolean;
  /**
   * The packet is first produced by mqtt-packet's `generate` (property b).
   * See the CONNECT generator for the exclusions.
   */
  mqttPacketGenerate?: boolean;
}

// ---------------------------------------------------------------------------
// Strings. MQTT UTF-8 strings (1.5.4): well-formed UTF-8, so the JS string is
// well-formed UTF-16 (no lone surrogates), and no U+0000. Control characters
// and non-characters are allowed on the wire (a receiver MAY reject them),
// so they are generated too.

const codePoint = (min: number, max: number) => fc.integer({ min, max }).map((c) => String.fromCodePoint(c));

/** One code point, never U+0000, biased to ASCII with every UTF-8 length represented. */
export const mqttChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 24, arbitrary: codePoint(0x20, 0x7e) },
  { weight: 1, arbitrary: codePoint(0x01, 0x1f) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      '\u007f',
      '\u0080',
      '\u07ff',
      '\u0800',
      '\ud7ff',
      '\ue000',
      '\ufeff', // BOM: must be kept as is, not stripped (MQTT-1.5.4-3)
      '\ufffd',
      '\uffff',
      '\u{10000}',
      '\u{1f600}',
      '\u{10ffff}',
    ),
  },
  { weight: 3, arbitrary: codePoint(0x80, 0x7ff) },
  { weight: 3, arbitrary: fc.oneof(codePoint(0x800, 0xd7ff), codePoint(0xe000, 0xffff)) },
  { weight: 3, arbitrary: codePoint(0x10000, 0x10ffff) },
);

/** Strings of exactly 65,535 UTF-8 bytes, the longest MQTT string. */
export const MAX_STRINGS = [
  'x'.repeat(65535),
  '\u20ac'.repeat(21845), // 3 bytes each
  `${'\u{1f600}'.repeat(16383)}abc`, // 4 bytes each, plus 3
];

/**
 * Strings that JavaScript coerces to numbers (`'-1' < 0` is true): a codec
 * must never treat a string or binary property as a number.
 */
export const NUMERIC_STRINGS = ['-1', '-0.5', ' -2 ', '-1e3', '-Infinity', '0', '1', '65536', 'NaN', '0x10'];

export function mqttString(maxLength = 12, minLength = 0): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 40, arbitrary: fc.string({ unit: mqttChar, minLength, maxLength }) },
    { weight: 2, arbitrary: fc.constantFrom(...NUMERIC_STRINGS.filter((s) => s.length >= minLength)) },
    {
      weight: 2,
      arbitrary: fc.string({ unit: mqttChar, minLength: Math.max(minLength, 40), maxLength: 300 }),
    },
    { weight: 1, arbitrary: fc.constantFrom(...MAX_STRINGS) },
  );
}

/** Any MQTT string, for client ids, usernames, reason strings, ... */
export const anyString = mqttString();

/** A character allowed inside a topic level: not '/', '+' or '#'. */
const levelChar = mqttChar.filter((c) => c !== '/' && c !== '+' && c !== '#');
const level = fc.string({ unit: levelChar, maxLength: 8 });

/**
 * Topic names (4.7): at least one character, no wildcards; empty levels,
 * leading/trailing '/', spaces and '$' prefixes are all valid.
 */
export const topicName: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 40,
    arbitrary: fc
      .array(level, { minLength: 1, maxLength: 5 })
      .map((l) => l.join('/'))
      .filter((t) => t.length > 0),
  },
  {
    weight: 4,
    arbitrary: fc
      .tuple(fc.constantFrom('$SYS', '$share', '$'), fc.array(level, { maxLength: 3 }))
      .map(([a, rest]) => [a, ...rest].join('/')),
  },
  { weight: 2, arbitrary: fc.constantFrom('/', '//', 'a/', '/a', ' ', '$share/g/t', 'sport/tennis/player1') },
  { weight: 2, arbitrary: fc.string({ unit: levelChar, minLength: 200, maxLength: 400 }) },
  // 65,535 bytes, the longest topic: 32,767 levels 't' and one more.
  { weight: 1, arbitrary: fc.constantFrom(`${'t/'.repeat(32767)}t`, MAX_STRINGS[1], MAX_STRINGS[2]) },
);

const filterLevel = fc.oneof({ weight: 4, arbitrary: level }, { weight: 1, arbitrary: fc.constant('+') });

/**
 * A topic filter that is not a shared subscription: '+' only as a whole
 * level, '#' only as the whole last level. Filters whose first level is
 * `$share` are left out: MQTT 5 (4.8.2) reads `$share/...` as a shared
 * subscription with its own syntax, generated by `sharedFilter`. (mqttkit
 * applies that syntax to MQTT 3.1.1 too, where `$share` has no meaning and
 * e.g. `$share//x` is a valid plain filter; since brokers commonly treat
 * `$share` the same on 3.1.1 this is not generated for either version.)
 */
const plainFilter: fc.Arbitrary<string> = fc
  .tuple(fc.array(filterLevel, { maxLength: 5 }), fc.boolean())
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((f) => f.length > 0 && !f.startsWith('$share/'));

/** `$share/{ShareName}/{filter}`: ShareName non-empty without '/', '+', '#'. */
const sharedFilter: fc.Arbitrary<string> = fc
  .tuple(fc.string({ unit: levelChar, minLength: 1, maxLength: 8 }), plainFilter)
  .map(([group, f]) => `$share/${group}/${f}`);

export const topicFilter: fc.Arbitrary<string> = fc.oneof(
  { weight: 30, arbitrary: plainFilter },
  { weight: 8, arbitrary: sharedFilter },
  {
    weight: 3,
    arbitrary: fc.constantFrom('#', '+', '/', '+/+', '/#', '+/#', '$SYS/#', '$share', '$share/g/#'),
  },
  { weight: 1, arbitrary: fc.constantFrom(`${'+/'.repeat(32767)}#`, MAX_STRINGS[0]) },
);

export const isShared = (filter: string): boolean => filter.startsWith('$share/');

// ---------------------------------------------------------------------------
// Binary data and payloads.

const utf8Bytes = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'utf8'));

function patterned(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Uint8Array or Buffer, sometimes a view at a non-zero offset of a larger buffer. */
function variants(arb: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(arb, fc.constantFrom(0, 1, 2)).map(([u, how]) => {
    if (how === 1) return Buffer.from(u);
    if (how === 2) {
      const big = new Uint8Array(u.length + 3);
      big.set(u, 2);
      return big.subarray(2, 2 + u.length);
    }
    return u;
  });
}

/** Binary data (1.5.6): 0..65,535 bytes. */
export const binary: fc.Arbitrary<Uint8Array> = variants(
  fc.oneof(
    { weight: 40, arbitrary: fc.uint8Array({ maxLength: 16 }) },
    { weight: 2, arbitrary: fc.constantFrom(...NUMERIC_STRINGS).map((s) => utf8Bytes(s)) },
    { weight: 3, arbitrary: fc.uint8Array({ minLength: 100, maxLength: 300 }) },
    { weight: 1, arbitrary: fc.integer().map((s) => patterned(65535, s)) },
  ),
);

/** PUBLISH payloads: small, medium, and around the 2-to-3 byte remaining length boundary (16,384). */
export const payload: fc.Arbitrary<Uint8Array> = variants(
  fc.oneof(
    { weight: 40, arbitrary: fc.uint8Array({ maxLength: 64 }) },
    { weight: 4, arbitrary: fc.uint8Array({ minLength: 100, maxLength: 400 }) },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 16_300, max: 16_500 }), fc.integer())
        .map(([n, s]) => patterned(n, s)),
    },
  ),
);

// ---------------------------------------------------------------------------
// Integers.

export const qos = fc.constantFrom<QoS>(0, 1, 2);
export const packetId = fc.integer({ min: 1, max: 0xffff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u16NonZero = fc.integer({ min: 1, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u32NonZero = fc.integer({ min: 1, max: 0xffffffff });
/** Subscription Identifier: variable byte integer 1..268,435,455. */
export const subscriptionId = fc.integer({ min: 1, max: 268_435_455 });

// ---------------------------------------------------------------------------
// Properties (2.2.2.2): which property each packet may carry and its range.

/**
 * User properties: names repeat (a small pool of names, including ones that
 * are special to JS objects or sort as integer keys) and keep their order.
 */
export const userProperties: fc.Arbitrary<UserProperty[]> = fc.array(
  fc.tuple(
    fc.oneof(
      { weight: 3, arbitrary: fc.constantFrom('a', 'b', 'k', '0', '10', '__proto__', 'constructor', '') },
      { weight: 2, arbitrary: mqttString(8) },
    ),
    mqttString(8),
  ),
  { minLength: 1, maxLength: 6 },
);

/**
 * mqtt-packet's parser collects user properties with
 * `if (result.userProperties[name]) { ...append... } else { result.userProperties[name] = value }`:
 * when the first value of a repeated name is the empty string (falsy), the
 * next value REPLACES it instead of being appended, so the '' is lost. That is
 * an mqtt-packet bug (the spec keeps every pair), so for the comparisons the
 * first value of a repeated name is made non-empty.
 */
function forMqttPacketParser(props: UserProperty[]): UserProperty[] {
  const count = new Map<string, number>();
  for (const [n] of props) count.set(n, (count.get(n) ?? 0) + 1);
  const seen = new Set<string>();
  return props.map(([n, v]) => {
    const first = !seen.has(n);
    seen.add(n);
    return first && v === '' && (count.get(n) ?? 0) > 1 ? [n, '-'] : [n, v];
  });
}

function withUserProps<T extends { userProperties?: UserProperty[] }>(props: T, r: Restrictions): T {
  if (r.mqttPacketParse && props.userProperties !== undefined) {
    return { ...props, userProperties: forMqttPacketParser(props.userProperties) };
  }
  return props;
}

/**
 * Authentication Data without an Authentication Method is a Protocol Error
 * (3.1.2.11.10 for CONNECT; CONNACK and AUTH carry the same pair), so data is
 * only generated with a method.
 */
function authPair<T extends { authenticationMethod?: string; authenticationData?: Uint8Array }>(p: T): T {
  if (p.authenticationData !== undefined && p.authenticationMethod === undefined) {
    const { authenticationData: _, ...rest } = p;
    return rest as T;
  }
  return p;
}

const opt = { requiredKeys: [] as never[] };

export function connectProperties(r: Restrictions): fc.Arbitrary<ConnectProperties> {
  return fc
    .record(
      {
        sessionExpiryInterval: u32,
        receiveMaximum: u16NonZero,
        maximumPacketSize: u32NonZero,
        topicAliasMaximum: u16,
        requestResponseInformation: fc.boolean(),
        requestProblemInformation: fc.boolean(),
        userProperties,
        authenticationMethod: anyString,
        authenticationData: binary,
      },
      opt,
    )
    .map((p) => withUserProps(authPair(p), r));
}

export function willProperties(r: Restrictions): fc.Arbitrary<WillProperties> {
  return fc
    .record(
      {
        payloadFormatIndicator: fc.boolean(),
        messageExpiryInterval: u32,
        contentType: anyString,
        responseTopic: topicName, // a topic name: no wildcards (3.1.3.2.5)
        correlationData: binary,
        willDelayInterval: u32,
        userProperties,
      },
      opt,
    )
    .map((p) => withUserProps(p, r));
}

export function connackProperties(r: Restrictions): fc.Arbitrary<ConnackProperties> {
  return fc
    .record(
      {
        sessionExpiryInterval: u32,
        assignedClientIdentifier: anyString,
        serverKeepAlive: u16,
        authenticationMethod: anyString,
        authenticationData: binary,
        responseInformation: anyString,
        serverReference: anyString,
        reasonString: anyString,
        receiveMaximum: u16NonZero,
        topicAliasMaximum: u16,
        maximumQoS: fc.constantFrom<0 | 1>(0, 1),
        retainAvailable: fc.boolean(),
        userProperties,
        maximumPacketSize: u32NonZero,
        wildcardSubscriptionAvailable: fc.boolean(),
        subscriptionIdentifiersAvailable: fc.boolean(),
        sharedSubscriptionAvailable: fc.boolean(),
      },
      opt,
    )
    .map((p) => withUserProps(authPair(p), r));
}

export function publishProperties(r: Restrictions): fc.Arbitrary<PublishProperties> {
  return fc
    .record(
      {
        payloadFormatIndicator: fc.boolean(),
        messageExpiryInterval: u32,
        contentType: anyString,
        responseTopic: topicName,
        correlationData: binary,
        // One, or several (a server forwarding to matching subscriptions).
        // An array of one would decode as a plain number, so arrays have 2+.
        subscriptionIdentifier: fc.oneof(
          { weight: 3, arbitrary: subscriptionId },
          { weight: 1, arbitrary: fc.array(subscriptionId, { minLength: 2, maxLength: 4 }) },
        ),
        topicAlias: u16NonZero,
        userProperties,
      },
      opt,
    )
    .map((p) => withUserProps(p, r));
}

export function ackProperties(r: Restrictions): fc.Arbitrary<AckProperties> {
  return fc.record({ reasonString: anyString, userProperties }, opt).map((p) => withUserProps(p, r));
}

export function subscribeProperties(r: Restrictions): fc.Arbitrary<SubscribeProperties> {
  return fc
    .record({ subscriptionIdentifier: subscriptionId, userProperties }, opt)
    .map((p) => withUserProps(p, r));
}

export function unsubscribeProperties(r: Restrictions): fc.Arbitrary<UnsubscribeProperties> {
  return fc.record({ userProperties }, opt).map((p) => withUserProps(p, r));
}

export function disconnectProperties(r: Restrictions): fc.Arbitrary<DisconnectProperties> {
  return fc
    .record(
      { sessionExpiryInterval: u32, reasonString: anyString, userProperties, serverReference: anyString },
      opt,
    )
    .map((p) => withUserProps(p, r));
}

// ---------------------------------------------------------------------------
// Packets.

function connect(v: ProtocolVersion, r: Restrictions): fc.Arbitrary<ConnectPacket> {
  const will: fc.Arbitrary<Will> = fc
    .record(
      {
        topic: topicName,
        payload: binary,
        qos,
        retain: fc.boolean(),
        ...(v === 5 ? { properties: willProperties(r) } : {}),
      },
      { requiredKeys: ['topic', 'payload', 'qos', 'retain'] },
    )
    .chain((w) =>
      // Payload Format Indicator 1: the will payload is UTF-8 (3.1.3.2.3).
      w.properties?.payloadFormatIndicator
        ? anyString.map((s) => ({ ...w, payload: utf8Bytes(s) }))
        : fc.constant(w),
    );
  return fc
    .record(
      {
        type: fc.constant('connect' as const),
        protocolVersion: fc.constant(v),
        clientId: fc.oneof({ weight: 1, arbitrary: fc.constant('') }, { weight: 6, arbitrary: anyString }),
        clean: fc.boolean(),
        keepalive: u16,
        username: anyString,
        password: binary,
        will,
        ...(v === 5 ? { properties: connectProperties(r) } : {}),
      },
      { requiredKeys: ['type', 'clientId', 'clean', 'keepalive'] },
    )
    .map((p) => {
      // MQTT 3.1.1: a zero-byte ClientId needs CleanSession 1 (MQTT-3.1.3-7),
      // and a password needs a user name (MQTT-3.1.2-22). MQTT 5 dropped
      // both rules, but mqtt-packet's generate still enforces them for v5
      // ('clientId must be given if cleanSession set to 0', 'Username is
      // required to use password'), so property b cannot produce those v5
      // packets either.
      const strict = v === 4 || r.mqttPacketGenerate;
      let out = p;
      if (strict && out.clientId === '' && !out.clean) out = { ...out, clean: true };
      if (strict && out.password !== undefined && out.username === undefined) out = { ...out, username: 'u' };
      return out;
    });
}

function connack(v: ProtocolVersion, r: Restrictions): fc.Arbitrary<ConnackPacket> {
  const codes = v === 5 ? SPEC_V5_REASON_CODES.connack : SPEC_V4_CONNACK_RETURN_CODES;
  return fc
    .record(
      {
        reasonCode: fc.oneof(fc.constant(0), fc.constantFrom(...codes)),
        sessionPresent: fc.boolean(),
        ...(v === 5 ? { properties: connackProperties(r) } : {}),
      },
      { requiredKeys: ['reasonCode', 'sessionPresent'] },
    )
    .map((p) => ({
      type: 'connack' as const,
      ...p,
      // Session Present must be 0 on a refused connection (MQTT-3.2.2-4 / 3.2.2-6).
      sessionPresent: p.reasonCode === 0 ? p.sessionPresent : false,
    }));
}

function publish(v: ProtocolVersion, r: Restrictions): fc.Arbitrary<PublishPacket> {
  return fc
    .record(
      {
        topic: topicName,
        payload,
        qos,
        retain: fc.boolean(),
        dup: fc.boolean(),
        packetId,
        emptyTopic: fc.boolean(),
        text: anyString,
        ...(v === 5 ? { properties: publishProperties(r) } : {}),
      },
      { requiredKeys: ['topic', 'payload', 'qos', 'retain', 'dup', 'packetId', 'emptyTopic', 'text'] },
    )
    .map(({ emptyTopic, text, ...p }) => {
      const out: PublishPacket = { type: 'publish', ...p };
      // Packet id only with QoS > 0; DUP must be 0 for QoS 0 (MQTT-3.3.1-2).
      if (out.qos === 0) {
        delete out.packetId;
        out.dup = false;
      }
      // With a Topic Alias the topic name may be empty (3.3.2.3.4).
      if (out.properties?.topicAlias !== undefined && emptyTopic) out.topic = '';
      // Payload Format Indicator 1: the payload is UTF-8 (3.3.2.3.2).
      if (out.properties?.payloadFormatIndicator) out.payload = utf8Bytes(text);
      return out;
    });
}

function ack<T extends AckPacket['type']>(
  type: T,
  v: ProtocolVersion,
  r: Restrictions,
): fc.Arbitrary<AckPacket> {
  if (v === 4) {
    // 3.1.1 acks are a packet id only; reasonCode may be given as 0.
    return fc
      .record({ packetId, reasonCode: fc.constant(0) }, { requiredKeys: ['packetId'] })
      .map((p) => ({ type, ...p }) as AckPacket);
  }
  return fc
    .record(
      { packetId, reasonCode: fc.constantFrom(...SPEC_V5_REASON_CODES[type]), properties: ackProperties(r) },
      { requiredKeys: ['packetId'] },
    )
    .map((p) => ({ type, ...p }) as AckPacket);
}

function subscribe(v: ProtocolVersion, r: Restrictions): fc.Arbitrary<SubscribePacket> {
  const subscription: fc.Arbitrary<Subscription> =
    v === 4
      ? fc.record({ topicFilter, qos })
      : fc
          .record(
            {
              topicFilter,
              qos,
              noLocal: fc.boolean(),
              retainAsPublished: fc.boolean(),
              retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
            },
            { requiredKeys: ['topicFilter', 'qos'] },
          )
          // No Local on a shared subscription is a Protocol Error (MQTT-3.8.3-4).
          .map((s) => (s.noLocal && isShared(s.topicFilter) ? { ...s, noLocal: false } : s));
  return fc
    .record(
      {
        packetId,
        subscriptions: fc.array(subscription, { minLength: 1, maxLength: 5 }),
        ...(v === 5 ? { properties: subscribeProperties(r) } : {}),
      },
      { requiredKeys: ['packetId', 'subscriptions'] },
    )
    .map((p) => ({ type: 'subscribe' as const, ...p }));
}

function suback(v: ProtocolVersion, r: Restrictions): fc.Arbitrary<SubackPacket> {
  const codes = v === 5 ? SPEC_V5_REASON_CODES.suback : SPEC_V4_SUBACK_RETURN_CODES;
  return fc
    .record(
      {
        packetId,
        reasonCodes: fc.array(fc.constantFrom(...codes), { minLength: 1, maxLength: 8 }),
        ...(v === 5 ? { properties: ackProperties(r) } : {}),
      },
      { requiredKeys: ['packetId', 'reasonCodes'] },
    )
    .map((p) => ({ type: 'suback' as const, ...p }));
}

function unsubscribe(v: ProtocolVersion, r: Restrictions): fc.Arbitrary<UnsubscribePacket> {
  return fc
    .record(
      {
        packetId,
        topicFilters: fc.array(topicFilter, { minLength: 1, maxLength: 5 }),
        ...(v === 5 ? { properties: unsubscribeProperties(r) } : {}),
      },
      { requiredKeys: ['packetId', 'topicFilters'] },
    )
    .map((p) => ({ type: 'unsubscribe' as const, ...p }));
}

function unsuback(v: ProtocolVersion, r: Restrictions): fc.Arbitrary<UnsubackPacket> {
  if (v === 4) return packetId.map((id) => ({ type: 'unsuback' as const, packetId: id }));
  return fc
    .record(
      {
        packetId,
        reasonCodes: fc.array(fc.constantFrom(...SPEC_V5_REASON_CODES.unsuback), {
          minLength: 1,
          maxLength: 8,
        }),
        properties: ackProperties(r),
      },
      { requiredKeys: ['packetId', 'reasonCodes'] },
    )
    .map((p) => ({ type: 'unsuback' as const, ...p }));
}

function disconnect(v: ProtocolVersion, r: Restrictions): fc.Arbitrary<DisconnectPacket> {
  if (v === 4) {
    return fc.record({ reasonCode: fc.constant(0) }, opt).map((p) => ({ type: 'disconnect' as const, ...p }));
  }
  return fc
    .record(
      {
        reasonCode: fc.constantFrom(...SPEC_V5_REASON_CODES.disconnect),
        properties: disconnectProperties(r),
      },
      opt,
    )
    .map((p) => ({ type: 'disconnect' as const, ...p }));
}

/**
 * AUTH (3.15): omitting the Authentication Method is a Protocol Error
 * (3.15.2.2.2), except in the short form the spec allows explicitly: Reason
 * Code 0 and no properties, sent with a Remaining Length of 0 (3.15.2.1).
 *
 * mqtt-packet's parser cannot read that short form: `_parseAuth` reads the
 * reason code unconditionally, gets `undefined` from an empty body and emits
 * 'Invalid auth reason code'. That is an mqtt-packet bug, so the comparisons
 * against it only get the long form.
 */
function auth(r: Restrictions): fc.Arbitrary<AuthPacket> {
  const long: fc.Arbitrary<AuthPacket> = fc
    .record(
      {
        reasonCode: fc.constantFrom(...SPEC_V5_REASON_CODES.auth),
        properties: fc
          .record(
            {
              authenticationMethod: anyString,
              authenticationData: binary,
              reasonString: anyString,
              userProperties,
            },
            { requiredKeys: ['authenticationMethod'] },
          )
          .map((p): AuthProperties => withUserProps(p, r)),
      },
      { requiredKeys: ['properties'] },
    )
    .map((p) => ({ type: 'auth' as const, ...p }));
  if (r.mqttPacketParse) return long;
  const short = fc.constantFrom<AuthPacket>({ type: 'auth' }, { type: 'auth', reasonCode: 0 });
  return fc.oneof({ weight: 1, arbitrary: short }, { weight: 4, arbitrary: long });
}

/** Arbitrary valid packet of `type` for protocol version `v`. */
export function packetArb(type: PacketType, v: ProtocolVersion, r: Restrictions = {}): fc.Arbitrary<Packet> {
  switch (type) {
    case 'connect':
      return connect(v, r);
    case 'connack':
      return connack(v, r);
    case 'publish':
      return publish(v, r);
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return ack(type, v, r);
    case 'subscribe':
      return subscribe(v, r);
    case 'suback':
      return suback(v, r);
    case 'unsubscribe':
      return unsubscribe(v, r);
    case 'unsuback':
      return unsuback(v, r);
    case 'pingreq':
    case 'pingresp':
      return fc.constant({ type });
    case 'disconnect':
      return disconnect(v, r);
    case 'auth':
      if (v === 4) throw new Error('AUTH does not exist in MQTT 3.1.1');
      return auth(r);
  }
}

/** Any valid packet for `v`. */
export function anyPacketArb(v: ProtocolVersion, r: Restrictions = {}): fc.Arbitrary<Packet> {
  return fc.oneof(...TYPE_VERSIONS.filter(([, tv]) => tv === v).map(([t]) => packetArb(t, v, r)));
}

// ---------------------------------------------------------------------------
// Canonical form: a plain object that compares with toEqual, where the
// things the model leaves open are settled. Defaults applied: an absent
// reason code is 0 (acks, DISCONNECT, AUTH); absent subscription options are
// false/false/0; a CONNECT without protocolVersion has the encoder's version;
// an empty property object or empty user property list is no properties;
// binary data of any Uint8Array kind compares by content.

export interface CanonicalOptions {
  /**
   * Compare user properties as name -> values (values in order per name,
   * names sorted) instead of one ordered list. mqtt-packet's model is an
   * object of name -> string | string[], which keeps the order of values of
   * one name but not how different names interleave; JS objects also put
   * integer-like keys ('0', '10') first. This is the most the two models
   * can agree on.
   */
  groupUserProperties?: boolean;
}

export type Canonical = { [k: string]: unknown };

const hex = (b: Uint8Array): string =>
  `bin:${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex')}`;

function canonicalUserProperties(list: UserProperty[], group: boolean): unknown {
  if (!group) return list.map(([n, v]) => [n, v]);
  const byName = new Map<string, string[]>();
  for (const [n, v] of list) {
    const values = byName.get(n);
    if (values === undefined) byName.set(n, [v]);
    else values.push(v);
  }
  return [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

export function canonicalProperties(
  props: AllProperties | undefined,
  o: CanonicalOptions = {},
): Canonical | undefined {
  if (props === undefined || props === null) return undefined;
  const out: Canonical = {};
  for (const [k, value] of Object.entries(props)) {
    if (value === undefined) continue;
    if (k === 'userProperties') {
      const list = value as UserProperty[];
      if (list.length > 0) out[k] = canonicalUserProperties(list, o.groupUserProperties ?? false);
    } else if (k === 'subscriptionIdentifier' && Array.isArray(value)) {
      if (value.length > 0) out[k] = value.length === 1 ? value[0] : [...value];
    } else if (value instanceof Uint8Array) {
      out[k] = hex(value);
    } else {
      out[k] = value;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}

function strip(o: Canonical): Canonical {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return o;
}

export function canonical(p: Packet, v: ProtocolVersion, o: CanonicalOptions = {}): Canonical {
  const props = (x: AllProperties | undefined) => canonicalProperties(x, o);
  switch (p.type) {
    case 'connect':
      return strip({
        type: p.type,
        protocolVersion: p.protocolVersion ?? v,
        clientId: p.clientId,
        clean: p.clean,
        keepalive: p.keepalive,
        username: p.username,
        password: p.password === undefined ? undefined : hex(p.password),
        will:
          p.will === undefined
            ? undefined
            : strip({
                topic: p.will.topic,
                payload: hex(p.will.payload),
                qos: p.will.qos,
                retain: p.will.retain,
                properties: props(p.will.properties),
              }),
        properties: props(p.properties),
      });
    case 'connack':
      return strip({
        type: p.type,
        sessionPresent: p.sessionPresent,
        reasonCode: p.reasonCode,
        properties: props(p.properties),
      });
    case 'publish':
      return strip({
        type: p.type,
        topic: p.topic,
        payload: hex(p.payload),
        qos: p.qos,
        retain: p.retain,
        dup: p.dup,
        packetId: p.qos > 0 ? p.packetId : undefined,
        properties: props(p.properties),
      });
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      return strip({
        type: p.type,
        packetId: p.packetId,
        reasonCode: p.reasonCode ?? 0,
        properties: props(p.properties),
      });
    case 'subscribe':
      return strip({
        type: p.type,
        packetId: p.packetId,
        subscriptions: p.subscriptions.map((s) => ({
          topicFilter: s.topicFilter,
          qos: s.qos,
          noLocal: s.noLocal ?? false,
          retainAsPublished: s.retainAsPublished ?? false,
          retainHandling: s.retainHandling ?? 0,
        })),
        properties: props(p.properties),
      });
    case 'suback':
      return strip({
        type: p.type,
        packetId: p.packetId,
        reasonCodes: [...p.reasonCodes],
        properties: props(p.properties),
      });
    case 'unsubscribe':
      return strip({
        type: p.type,
        packetId: p.packetId,
        topicFilters: [...p.topicFilters],
        properties: props(p.properties),
      });
    case 'unsuback':
      return strip({
        type: p.type,
        packetId: p.packetId,
        reasonCodes: p.reasonCodes === undefined ? undefined : [...p.reasonCodes],
        properties: props(p.properties),
      });
    case 'pingreq':
    case 'pingresp':
      return { type: p.type };
    case 'disconnect':
    case 'auth':
      return strip({ type: p.type, reasonCode: p.reasonCode ?? 0, properties: props(p.properties) });
  }
}
