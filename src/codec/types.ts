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

/** Quality of service: 0 at most once, 1 at least once, 2 exactly once. */
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

/** The `type` of a {@link Packet}: the lower-case packet name, `'connect'` to `'auth'`. */
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

/** MQTT 5 properties a CONNECT may carry. */
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

/** MQTT 5 properties of the will message, sent in CONNECT and given to the will's subscribers. */
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

/** MQTT 5 properties a CONNACK may carry: what the server grants and supports. */
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

/** MQTT 5 properties a PUBLISH may carry. */
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

/** MQTT 5 properties a SUBSCRIBE may carry. */
export type SubscribeProperties = Pick<AllProperties, 'userProperties'> & {
  /** 0x0B, 1..268,435,455: exactly one in a SUBSCRIBE. */
  subscriptionIdentifier?: number;
};

/** MQTT 5 properties an UNSUBSCRIBE may carry. */
export type UnsubscribeProperties = Pick<AllProperties, 'userProperties'>;

/** MQTT 5 properties a DISCONNECT may carry. */
export type DisconnectProperties = Pick<
  AllProperties,
  'sessionExpiryInterval' | 'reasonString' | 'userProperties' | 'serverReference'
>;

/** MQTT 5 properties an AUTH may carry. */
export type AuthProperties = Pick<
  AllProperties,
  'authenticationMethod' | 'authenticationData' | 'reasonString' | 'userProperties'
>;

/**
 * The will message as carried in CONNECT: published by the server when the connection ends without
 * a DISCONNECT.
 */
export interface Will {
  /** Topic name (no wildcards) the will is published to. */
  topic: string;
  /** Will message payload; at most 65,535 bytes. */
  payload: Uint8Array;
  /** QoS the will is published with. */
  qos: QoS;
  /** Publish the will as a retained message. */
  retain: boolean;
  /** MQTT 5 only. */
  properties?: WillProperties;
}

/** CONNECT: the first packet a client sends on a connection. */
export interface ConnectPacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'connect';
  /**
   * Protocol level on the wire. Set by the decoder; when encoding it may be
   * left out (the encoder's version is used) but must agree when present.
   */
  protocolVersion?: ProtocolVersion;
  /**
   * Client identifier; may be empty (the server then assigns one in MQTT 5, or requires `clean` in 3.1.1).
   */
  clientId: string;
  /** Clean Session (3.1.1) / Clean Start (5). */
  clean: boolean;
  /** Seconds, 0..65,535; 0 turns keepalive off. */
  keepalive: number;
  /** User name, absent when none is sent. */
  username?: string;
  /** Password as bytes, absent when none is sent. In MQTT 3.1.1 it needs a `username`. */
  password?: Uint8Array;
  /** The will message, absent when none is set. */
  will?: Will;
  /** MQTT 5 only. */
  properties?: ConnectProperties;
}

/** CONNACK: the server's answer to CONNECT. */
export interface ConnackPacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'connack';
  /** The server resumed a session it kept for this client id (always false with a clean start). */
  sessionPresent: boolean;
  /** 3.1.1 return code (0..5) or MQTT 5 reason code. */
  reasonCode: number;
  /** MQTT 5 only. */
  properties?: ConnackProperties;
}

/** PUBLISH: an application message, in either direction. */
export interface PublishPacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'publish';
  /**
   * Topic name, no wildcards. May be empty in MQTT 5 when `properties.topicAlias` names a topic already sent.
   */
  topic: string;
  /** Message payload; any bytes, possibly empty. */
  payload: Uint8Array;
  /** Delivery guarantee of this message. */
  qos: QoS;
  /**
   * The RETAIN flag: the server keeps this message for future subscribers (or, received, it is a
   * retained one).
   */
  retain: boolean;
  /** The DUP flag: this is a re-delivery of a QoS 1 or 2 message. Must be false for QoS 0. */
  dup: boolean;
  /** 1..65,535; required for QoS 1 and 2. Not sent for QoS 0 (ignored if given). */
  packetId?: number;
  /** MQTT 5 only. */
  properties?: PublishProperties;
}

interface AckBase {
  /** 1..65,535: the packet identifier of the flow this acknowledges. */
  packetId: number;
  /** MQTT 5 reason code; 0 (Success) when absent. Must be 0 for 3.1.1. */
  reasonCode?: number;
  /** MQTT 5 only. */
  properties?: AckProperties;
}

/** PUBACK: acknowledges a QoS 1 PUBLISH. */
export interface PubackPacket extends AckBase {
  /** Discriminant of the {@link Packet} union. */
  type: 'puback';
}
/** PUBREC: first answer to a QoS 2 PUBLISH (received). */
export interface PubrecPacket extends AckBase {
  /** Discriminant of the {@link Packet} union. */
  type: 'pubrec';
}
/** PUBREL: answer to PUBREC in a QoS 2 flow (release). */
export interface PubrelPacket extends AckBase {
  /** Discriminant of the {@link Packet} union. */
  type: 'pubrel';
}
/** PUBCOMP: last packet of a QoS 2 flow (complete). */
export interface PubcompPacket extends AckBase {
  /** Discriminant of the {@link Packet} union. */
  type: 'pubcomp';
}

/** One topic filter of a SUBSCRIBE, with its subscription options. */
export interface Subscription {
  /** Topic filter, possibly with wildcards or a `$share/{group}/` prefix. */
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

/** SUBSCRIBE: asks the server for messages matching one or more topic filters. */
export interface SubscribePacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'subscribe';
  /** 1..65,535; the SUBACK carries the same id. */
  packetId: number;
  /** At least one; the SUBACK answers each in order. */
  subscriptions: Subscription[];
  /** MQTT 5 only. */
  properties?: SubscribeProperties;
}

/** SUBACK: the server's answer to SUBSCRIBE. */
export interface SubackPacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'suback';
  /** The packet identifier of the SUBSCRIBE answered. */
  packetId: number;
  /** One per subscription: granted QoS (0..2) or a failure code (>= 0x80). */
  reasonCodes: number[];
  /** MQTT 5 only. */
  properties?: AckProperties;
}

/** UNSUBSCRIBE: removes subscriptions by their exact topic filter. */
export interface UnsubscribePacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'unsubscribe';
  /** 1..65,535; the UNSUBACK carries the same id. */
  packetId: number;
  /** At least one filter, as it was subscribed (not matched against). */
  topicFilters: string[];
  /** MQTT 5 only. */
  properties?: UnsubscribeProperties;
}

/** UNSUBACK: the server's answer to UNSUBSCRIBE. */
export interface UnsubackPacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'unsuback';
  /** The packet identifier of the UNSUBSCRIBE answered. */
  packetId: number;
  /** MQTT 5: one per topic filter. 3.1.1 has none (decoded as absent). */
  reasonCodes?: number[];
  /** MQTT 5 only. */
  properties?: AckProperties;
}

/** PINGREQ: the client's keepalive probe. */
export interface PingreqPacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'pingreq';
}

/** PINGRESP: the server's answer to PINGREQ. */
export interface PingrespPacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'pingresp';
}

/** DISCONNECT: the end of a connection; in MQTT 5 either side may send it, with a reason. */
export interface DisconnectPacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'disconnect';
  /** MQTT 5 reason code; 0 (Normal disconnection) when absent. */
  reasonCode?: number;
  /** MQTT 5 only. */
  properties?: DisconnectProperties;
}

/** MQTT 5 only. */
export interface AuthPacket {
  /** Discriminant of the {@link Packet} union. */
  type: 'auth';
  /** 0x00 Success, 0x18 Continue authentication, 0x19 Re-authenticate. */
  reasonCode?: number;
  /** Carries the `authenticationMethod` and the exchange's `authenticationData`. */
  properties?: AuthProperties;
}

/** Any MQTT control packet; switch on `type` to narrow it. */
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
