/**
 * The packet model: one discriminated union on `type` for MQTT 3.1.1 and 5.0.
 *
 * Fields that exist only in MQTT 5 (properties, most reason codes) are
 * optional; the protocol version is an argument of the codec, not a second
 * set of types. Binary fields are `Uint8Array` on the way in; the decoder
 * produces `Buffer` instances (a `Uint8Array` subclass), as zero-copy views of
 * the input where the bytes sat in one chunk.
 */

/** MQTT protocol level: 4 is MQTT 3.1.1, 5 is MQTT 5.0. */
export type ProtocolVersion = 4 | 5;

export type QoS = 0 | 1 | 2;

/** Name of each packet type, indexed by its control packet type number (1..15). */
export const PACKET_TYPES = [
  'reserved',
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
] as const;

export type PacketType = Exclude<(typeof PACKET_TYPES)[number], 'reserved'>;

/** A user property: name and value, in wire order; names may repeat. */
export type UserProperty = [name: string, value: string];

/**
 * Every MQTT 5 property, by name. Each packet type allows a subset; the
 * per-packet types below narrow this, and the codec enforces it.
 */
export interface AllProperties {
  /** 0x01, byte: the payload is UTF-8 text (true) or unspecified bytes. */
  payloadFormatIndicator?: boolean;
  /** 0x02, four byte integer, seconds. */
  messageExpiryInterval?: number;
  /** 0x03, UTF-8 string. */
  contentType?: string;
  /** 0x08, UTF-8 string (a topic name). */
  responseTopic?: string;
  /** 0x09, binary data. */
  correlationData?: Uint8Array;
  /**
   * 0x0B, variable byte integer 1..268,435,455. A PUBLISH from a server may
   * carry several: the decoder gives a number for one and an array for more.
   */
  subscriptionIdentifier?: number | number[];
  /** 0x11, four byte integer, seconds. */
  sessionExpiryInterval?: number;
  /** 0x12, UTF-8 string. */
  assignedClientIdentifier?: string;
  /** 0x13, two byte integer, seconds. */
  serverKeepAlive?: number;
  /** 0x15, UTF-8 string. */
  authenticationMethod?: string;
  /** 0x16, binary data. */
  authenticationData?: Uint8Array;
  /** 0x17, byte 0 or 1. */
  requestProblemInformation?: boolean;
  /** 0x18, four byte integer, seconds. */
  willDelayInterval?: number;
  /** 0x19, byte 0 or 1. */
  requestResponseInformation?: boolean;
  /** 0x1A, UTF-8 string. */
  responseInformation?: string;
  /** 0x1C, UTF-8 string. */
  serverReference?: string;
  /** 0x1F, UTF-8 string. */
  reasonString?: string;
  /** 0x21, two byte integer 1..65,535. */
  receiveMaximum?: number;
  /** 0x22, two byte integer. */
  topicAliasMaximum?: number;
  /** 0x23, two byte integer 1..65,535. */
  topicAlias?: number;
  /** 0x24, byte 0 or 1. */
  maximumQoS?: 0 | 1;
  /** 0x25, byte 0 or 1. */
  retainAvailable?: boolean;
  /** 0x26, UTF-8 string pairs, repeated, order kept. */
  userProperties?: UserProperty[];
  /** 0x27, four byte integer 1..4,294,967,295. */
  maximumPacketSize?: number;
  /** 0x28, byte 0 or 1. */
  wildcardSubscriptionAvailable?: boolean;
  /** 0x29, byte 0 or 1. */
  subscriptionIdentifiersAvailable?: boolean;
  /** 0x2A, byte 0 or 1. */
  sharedSubscriptionAvailable?: boolean;
}

export type ConnectProperties = Pick<
  AllProperties,
  | 'sessionExpiryInterval'
  | 'authenticationMethod'
  | 'authenticationData'
  | 'requestProblemInformation'
  | 'requestResponseInformation'
  | 'receiveMaximum'
  | 'topicAliasMaximum'
  | 'userProperties'
  | 'maximumPacketSize'
>;

export type WillProperties = Pick<
  AllProperties,
  | 'payloadFormatIndicator'
  | 'messageExpiryInterval'
  | 'contentType'
  | 'responseTopic'
  | 'correlationData'
  | 'willDelayInterval'
  | 'userProperties'
>;

export type ConnackProperties = Pick<
  AllProperties,
  | 'sessionExpiryInterval'
  | 'assignedClientIdentifier'
  | 'serverKeepAlive'
  | 'authenticationMethod'
  | 'authenticationData'
  | 'responseInformation'
  | 'serverReference'
  | 'reasonString'
  | 'receiveMaximum'
  | 'topicAliasMaximum'
  | 'maximumQoS'
  | 'retainAvailable'
  | 'userProperties'
  | 'maximumPacketSize'
  | 'wildcardSubscriptionAvailable'
  | 'subscriptionIdentifiersAvailable'
  | 'sharedSubscriptionAvailable'
>;

export type PublishProperties = Pick<
  AllProperties,
  | 'payloadFormatIndicator'
  | 'messageExpiryInterval'
  | 'contentType'
  | 'responseTopic'
  | 'correlationData'
  | 'subscriptionIdentifier'
  | 'topicAlias'
  | 'userProperties'
>;

/** PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK and UNSUBACK. */
export type AckProperties = Pick<AllProperties, 'reasonString' | 'userProperties'>;

export type SubscribeProperties = Pick<AllProperties, 'userProperties'> & {
  /** 0x0B, 1..268,435,455: exactly one in a SUBSCRIBE. */
  subscriptionIdentifier?: number;
};

export type UnsubscribeProperties = Pick<AllProperties, 'userProperties'>;

export type DisconnectProperties = Pick<
  AllProperties,
  'sessionExpiryInterval' | 'reasonString' | 'userProperties' | 'serverReference'
>;

export type AuthProperties = Pick<
  AllProperties,
  'authenticationMethod' | 'authenticationData' | 'reasonString' | 'userProperties'
>;

export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 only. */
  properties?: WillProperties;
}

export interface ConnectPacket {
  type: 'connect';
  /**
   * Protocol level on the wire. Set by the decoder; when encoding it may be
   * left out (the encoder's version is used) but must agree when present.
   */
  protocolVersion?: ProtocolVersion;
  clientId: string;
  /** Clean Session (3.1.1) / Clean Start (5). */
  clean: boolean;
  /** Seconds, 0..65,535; 0 turns keepalive off. */
  keepalive: number;
  username?: string;
  password?: Uint8Array;
  will?: Will;
  properties?: ConnectProperties;
}

export interface ConnackPacket {
  type: 'connack';
  sessionPresent: boolean;
  /** 3.1.1 return code (0..5) or MQTT 5 reason code. */
  reasonCode: number;
  properties?: ConnackProperties;
}

export interface PublishPacket {
  type: 'publish';
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** 1..65,535; required for QoS 1 and 2. Not sent for QoS 0 (ignored if given). */
  packetId?: number;
  properties?: PublishProperties;
}

interface AckBase {
  packetId: number;
  /** MQTT 5 reason code; 0 (Success) when absent. Must be 0 for 3.1.1. */
  reasonCode?: number;
  properties?: AckProperties;
}

export interface PubackPacket extends AckBase {
  type: 'puback';
}
export interface PubrecPacket extends AckBase {
  type: 'pubrec';
}
export interface PubrelPacket extends AckBase {
  type: 'pubrel';
}
export interface PubcompPacket extends AckBase {
  type: 'pubcomp';
}

export interface Subscription {
  topicFilter: string;
  /** Maximum QoS. */
  qos: QoS;
  /** MQTT 5: do not receive own publishes. */
  noLocal?: boolean;
  /** MQTT 5: keep the retain flag as published. */
  retainAsPublished?: boolean;
  /** MQTT 5: 0 send retained on subscribe, 1 only if new, 2 never. */
  retainHandling?: 0 | 1 | 2;
}

export interface SubscribePacket {
  type: 'subscribe';
  packetId: number;
  subscriptions: Subscription[];
  properties?: SubscribeProperties;
}

export interface SubackPacket {
  type: 'suback';
  packetId: number;
  /** One per subscription: granted QoS (0..2) or a failure code (>= 0x80). */
  reasonCodes: number[];
  properties?: AckProperties;
}

export interface UnsubscribePacket {
  type: 'unsubscribe';
  packetId: number;
  topicFilters: string[];
  properties?: UnsubscribeProperties;
}

export interface UnsubackPacket {
  type: 'unsuback';
  packetId: number;
  /** MQTT 5: one per topic filter. 3.1.1 has none (decoded as absent). */
  reasonCodes?: number[];
  properties?: AckProperties;
}

export interface PingreqPacket {
  type: 'pingreq';
}

export interface PingrespPacket {
  type: 'pingresp';
}

export interface DisconnectPacket {
  type: 'disconnect';
  /** MQTT 5 reason code; 0 (Normal disconnection) when absent. */
  reasonCode?: number;
  properties?: DisconnectProperties;
}

/** MQTT 5 only. */
export interface AuthPacket {
  type: 'auth';
  /** 0x00 Success, 0x18 Continue authentication, 0x19 Re-authenticate. */
  reasonCode?: number;
  properties?: AuthProperties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;

/** PUBACK, PUBREC, PUBREL and PUBCOMP. */
export type AckPacket = PubackPacket | PubrecPacket | PubrelPacket | PubcompPacket;
