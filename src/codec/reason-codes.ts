/**
 * MQTT 5 reason codes (spec 2.4), their names, and which packet may carry
 * which code. MQTT 3.1.1 CONNACK return codes (0..5) and SUBACK return codes
 * (0, 1, 2, 0x80) have their own tables.
 */

export const ReasonCode = {
  Success: 0x00,
  NormalDisconnection: 0x00,
  GrantedQoS0: 0x00,
  GrantedQoS1: 0x01,
  GrantedQoS2: 0x02,
  DisconnectWithWillMessage: 0x04,
  NoMatchingSubscribers: 0x10,
  NoSubscriptionExisted: 0x11,
  ContinueAuthentication: 0x18,
  ReAuthenticate: 0x19,
  UnspecifiedError: 0x80,
  MalformedPacket: 0x81,
  ProtocolError: 0x82,
  ImplementationSpecificError: 0x83,
  UnsupportedProtocolVersion: 0x84,
  ClientIdentifierNotValid: 0x85,
  BadUserNameOrPassword: 0x86,
  NotAuthorized: 0x87,
  ServerUnavailable: 0x88,
  ServerBusy: 0x89,
  Banned: 0x8a,
  ServerShuttingDown: 0x8b,
  BadAuthenticationMethod: 0x8c,
  KeepAliveTimeout: 0x8d,
  SessionTakenOver: 0x8e,
  TopicFilterInvalid: 0x8f,
  TopicNameInvalid: 0x90,
  PacketIdentifierInUse: 0x91,
  PacketIdentifierNotFound: 0x92,
  ReceiveMaximumExceeded: 0x93,
  TopicAliasInvalid: 0x94,
  PacketTooLarge: 0x95,
  MessageRateTooHigh: 0x96,
  QuotaExceeded: 0x97,
  AdministrativeAction: 0x98,
  PayloadFormatInvalid: 0x99,
  RetainNotSupported: 0x9a,
  QoSNotSupported: 0x9b,
  UseAnotherServer: 0x9c,
  ServerMoved: 0x9d,
  SharedSubscriptionsNotSupported: 0x9e,
  ConnectionRateExceeded: 0x9f,
  MaximumConnectTime: 0xa0,
  SubscriptionIdentifiersNotSupported: 0xa1,
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
