/**
 * Errors thrown or rejected by mqttkit.
 *
 * Every error is an {@link MqttError} with a stable `code` string that
 * programs can branch on. Errors that MQTT gives a reason code for carry it as
 * `reasonCode` (an MQTT 5 reason code, also used for 3.1.1 sessions to say
 * why a connection was closed).
 *
 * Layers add subclasses as they need them; the codec owns two:
 * - {@link DecodeError}: the peer sent bytes that are not a valid packet
 *   (a remote protocol error). `reasonCode` is what to send in DISCONNECT.
 * - {@link EncodeError}: the caller asked to encode a packet that is not
 *   valid (a local error). `field` names what was wrong. Nothing was written.
 */

/** Stable error codes. */
export const ErrorCode = {
  Decode: 'ERR_MQTT_DECODE',
  Encode: 'ERR_MQTT_ENCODE',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Base class of every error mqttkit throws or rejects with. */
export class MqttError extends Error {
  /** Stable machine-readable code, e.g. `ERR_MQTT_DECODE`. */
  readonly code: string;
  /** MQTT 5 reason code that describes the error, where MQTT has one. */
  readonly reasonCode: number | undefined;

  constructor(code: string, message: string, reasonCode?: number, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.reasonCode = reasonCode;
  }

  override get name(): string {
    return this.constructor.name;
  }
}

/**
 * Bytes from the network that are not a valid MQTT packet. The connection
 * must be closed; with MQTT 5, after a DISCONNECT carrying `reasonCode`
 * (0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet too large, ...).
 * For an error in a CONNECT (broker side) it is the CONNACK reason code to
 * refuse with, which may be 0x84 Unsupported Protocol Version.
 */
export class DecodeError extends MqttError {
  declare readonly reasonCode: number;

  constructor(message: string, reasonCode: number) {
    super(ErrorCode.Decode, message, reasonCode);
  }
}

/**
 * A packet handed to the encoder that MQTT does not allow: a bad topic, a
 * property not allowed in that packet, QoS 3, a packet too large, ...
 * `field` names the offending field (`topic`, `properties.topicAlias`,
 * `subscriptions[2].topicFilter`).
 */
export class EncodeError extends MqttError {
  readonly field: string;

  constructor(field: string, message: string, reasonCode?: number) {
    super(ErrorCode.Encode, `${field}: ${message}`, reasonCode);
    this.field = field;
  }
}
