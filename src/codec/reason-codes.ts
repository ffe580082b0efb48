/**
 * MQTT 5 reason codes (spec 2.4), their names, and which packet may carry
 * which code. MQTT 3.1.1 CONNACK return codes (0..5) and SUBACK return codes
 * (0, 1, 2, 0x80) have their own tables.
 */

/**
 * MQTT 5 reason codes by name (spec 2.4), e.g. `ReasonCode.QuotaExceeded` is
 * 0x97. Codes below 0x80 mean success, 0x80 and above failure. Several names
 * share 0x00; {@link reasonCodeName} gives the spec's text for a code.
 */
export const ReasonCode = {
  /** 0x00: the operation succeeded (CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK, AUTH). */
  Success: 0x00,
  /** 0x00 in DISCONNECT: closing normally; the will is not sent. */
  NormalDisconnection: 0x00,
  /** 0x00 in SUBACK: subscribed, maximum QoS 0. */
  GrantedQoS0: 0x00,
  /** 0x01 in SUBACK: subscribed, maximum QoS 1. */
  GrantedQoS1: 0x01,
  /** 0x02 in SUBACK: subscribed, maximum QoS 2. */
  GrantedQoS2: 0x02,
  /** 0x04 in DISCONNECT from a client: close, but have the server publish the will. */
  DisconnectWithWillMessage: 0x04,
  /** 0x10 in PUBACK/PUBREC: accepted, but nobody subscribes to the topic. */
  NoMatchingSubscribers: 0x10,
  /** 0x11 in UNSUBACK: there was no such subscription. */
  NoSubscriptionExisted: 0x11,
  /** 0x18 in AUTH: enhanced authentication goes on with another step. */
  ContinueAuthentication: 0x18,
  /** 0x19 in AUTH from a client: start re-authentication on a connected session. */
  ReAuthenticate: 0x19,
  /** 0x80: failed, and the sender will not say why. */
  UnspecifiedError: 0x80,
  /** 0x81: a packet could not be parsed as the spec requires. */
  MalformedPacket: 0x81,
  /** 0x82: a well-formed packet that the protocol does not allow here. */
  ProtocolError: 0x82,
  /** 0x83: valid, but refused by the receiver's own rules. */
  ImplementationSpecificError: 0x83,
  /** 0x84 in CONNACK: the server does not speak the requested protocol level. */
  UnsupportedProtocolVersion: 0x84,
  /** 0x85 in CONNACK: the client id is well-formed but not allowed. */
  ClientIdentifierNotValid: 0x85,
  /** 0x86 in CONNACK: the server does not accept the user name or password. */
  BadUserNameOrPassword: 0x86,
  /** 0x87: the client is not allowed to do this. */
  NotAuthorized: 0x87,
  /** 0x88 in CONNACK: the server cannot serve now. */
  ServerUnavailable: 0x88,
  /** 0x89: the server is busy; try later. */
  ServerBusy: 0x89,
  /** 0x8A in CONNACK: this client is banned. */
  Banned: 0x8a,
  /** 0x8B in DISCONNECT: the server is shutting down. */
  ServerShuttingDown: 0x8b,
  /** 0x8C: the authentication method is not supported or does not match the one in use. */
  BadAuthenticationMethod: 0x8c,
  /** 0x8D in DISCONNECT: nothing was received within 1.5 times the keepalive. */
  KeepAliveTimeout: 0x8d,
  /** 0x8E in DISCONNECT: another connection with the same client id took the session. */
  SessionTakenOver: 0x8e,
  /** 0x8F: the topic filter is well-formed but not accepted by the server. */
  TopicFilterInvalid: 0x8f,
  /** 0x90: the topic name is well-formed but not accepted. */
  TopicNameInvalid: 0x90,
  /** 0x91: the packet identifier is already in use. */
  PacketIdentifierInUse: 0x91,
  /** 0x92 in PUBREL/PUBCOMP: no QoS 2 flow with this packet identifier. */
  PacketIdentifierNotFound: 0x92,
  /** 0x93 in DISCONNECT: more unacknowledged QoS 1/2 publishes than Receive Maximum allows. */
  ReceiveMaximumExceeded: 0x93,
  /** 0x94 in DISCONNECT: a topic alias of 0, above the maximum, or not yet defined. */
  TopicAliasInvalid: 0x94,
  /** 0x95: a packet exceeds the receiver's Maximum Packet Size. */
  PacketTooLarge: 0x95,
  /** 0x96 in DISCONNECT: the message rate is too high. */
  MessageRateTooHigh: 0x96,
  /** 0x97: an administrative quota was exceeded. */
  QuotaExceeded: 0x97,
  /** 0x98 in DISCONNECT: the connection was closed by an administrator. */
  AdministrativeAction: 0x98,
  /** 0x99: the payload does not match the Payload Format Indicator (not UTF-8). */
  PayloadFormatInvalid: 0x99,
  /** 0x9A: the server does not support retained messages. */
  RetainNotSupported: 0x9a,
  /** 0x9B: the QoS is above the server's Maximum QoS. */
  QoSNotSupported: 0x9b,
  /** 0x9C: connect to another server for now (see the Server Reference property). */
  UseAnotherServer: 0x9c,
  /** 0x9D: connect to another server from now on (see the Server Reference property). */
  ServerMoved: 0x9d,
  /** 0x9E: the server does not support shared subscriptions. */
  SharedSubscriptionsNotSupported: 0x9e,
  /** 0x9F: connections are made too fast; slow down. */
  ConnectionRateExceeded: 0x9f,
  /** 0xA0 in DISCONNECT: the connection may not last longer. */
  MaximumConnectTime: 0xa0,
  /** 0xA1: the server does not support subscription identifiers. */
  SubscriptionIdentifiersNotSupported: 0xa1,
  /** 0xA2: the server does not support wildcard subscriptions. */
  WildcardSubscriptionsNotSupported: 0xa2,
} as const;

const NAMES: Record<number, string> = {
  0: 'Success',
  1: 'Granted QoS 1',
  2: 'Granted QoS 2',
  4: 'Disconnect with Will Message',
  16: 'No matching subscribers',
  17: 'No subscription existed',
  24: 'Continue authentication',
  25: 'Re-authenticate',
  128: 'Unspecified error',
  129: 'Malformed Packet',
  130: 'Protocol Error',
  131: 'Implementation specific error',
  132: 'Unsupported Protocol Version',
  133: 'Client Identifier not valid',
  134: 'Bad User Name or Password',
  135: 'Not authorized',
  136: 'Server unavailable',
  137: 'Server busy',
  138: 'Banned',
  139: 'Server shutting down',
  140: 'Bad authentication method',
  141: 'Keep Alive timeout',
  142: 'Session taken over',
  143: 'Topic Filter invalid',
  144: 'Topic Name invalid',
  145: 'Packet Identifier in use',
  146: 'Packet Identifier not found',
  147: 'Receive Maximum exceeded',
  148: 'Topic Alias invalid',
  149: 'Packet too large',
  150: 'Message rate too high',
  151: 'Quota exceeded',
  152: 'Administrative action',
  153: 'Payload format invalid',
  154: 'Retain not supported',
  155: 'QoS not supported',
  156: 'Use another server',
  157: 'Server moved',
  158: 'Shared Subscriptions not supported',
  159: 'Connection rate exceeded',
  160: 'Maximum connect time',
  161: 'Subscription Identifiers not supported',
  162: 'Wildcard Subscriptions not supported',
};

/** MQTT 3.1.1 CONNACK return codes. */
const V4_CONNACK_NAMES: Record<number, string> = {
  0: 'Connection Accepted',
  1: 'Connection Refused, unacceptable protocol version',
  2: 'Connection Refused, identifier rejected',
  3: 'Connection Refused, Server unavailable',
  4: 'Connection Refused, bad user name or password',
  5: 'Connection Refused, not authorized',
};

/**
 * The name of a reason code as the spec writes it, e.g. `Quota exceeded`.
 * 0x00 reads `Normal disconnection` for DISCONNECT and `Granted QoS 0` for
 * SUBACK; for a 3.1.1 CONNACK the return code names are used.
 */
export function reasonCodeName(code: number, packetType?: string, protocolVersion: 4 | 5 = 5): string {
  if (protocolVersion === 4 && packetType === 'connack') {
    return V4_CONNACK_NAMES[code] ?? `Unknown return code 0x${hex(code)}`;
  }
  if (code === 0) {
    if (packetType === 'disconnect') return 'Normal disconnection';
    if (packetType === 'suback') return 'Granted QoS 0';
  }
  return NAMES[code] ?? `Unknown reason code 0x${hex(code)}`;
}

function hex(code: number): string {
  return code.toString(16).padStart(2, '0');
}

function set(codes: number[]): Uint8Array {
  const table = new Uint8Array(256);
  for (const c of codes) table[c] = 1;
  return table;
}

/** Reason codes each MQTT 5 packet type may carry, as 256-entry lookup tables. */
export const V5_REASON_CODES: Readonly<Record<string, Uint8Array>> = {
  connack: set([
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99,
    0x9a, 0x9b, 0x9c, 0x9d, 0x9f,
  ]),
  puback: set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  pubrec: set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  pubrel: set([0x00, 0x92]),
  pubcomp: set([0x00, 0x92]),
  suback: set([0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2]),
  unsuback: set([0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91]),
  disconnect: set([
    0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96,
    0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f, 0xa0, 0xa1, 0xa2,
  ]),
  auth: set([0x00, 0x18, 0x19]),
};

/** MQTT 3.1.1: CONNACK return codes 0..5 and SUBACK return codes 0, 1, 2, 0x80. */
export const V4_REASON_CODES: Readonly<Record<string, Uint8Array>> = {
  connack: set([0, 1, 2, 3, 4, 5]),
  suback: set([0x00, 0x01, 0x02, 0x80]),
};

/** Whether `code` may appear in a packet of type `packetType` for the version. */
export function isValidReasonCode(packetType: string, code: number, protocolVersion: 4 | 5): boolean {
  const table = (protocolVersion === 5 ? V5_REASON_CODES : V4_REASON_CODES)[packetType];
  return table !== undefined && Number.isInteger(code) && code >= 0 && code <= 255 && table[code] === 1;
}
