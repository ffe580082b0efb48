/**
 * mqttkit: many MQTT 3.1.1 and 5.0 sessions from one Node.js process.
 *
 * Today this entry point exports the errors and the packet model; the codec
 * itself lives at `mqttkit/codec`. Sessions, the manager, RPC and forwarding
 * arrive in later releases.
 */

export type {
  Packet,
  PacketType,
  ProtocolVersion,
  PublishPacket,
  QoS,
  UserProperty,
} from './codec/types.js';
export {
  AbortError,
  ClosedError,
  ConnectionError,
  DecodeError,
  EncodeError,
  ErrorCode,
  InvalidArgumentError,
  MqttError,
  ProtocolError,
  TimeoutError,
} from './errors.js';
