/**
 * `mqttkit/codec`: MQTT 3.1.1 and 5.0 packets to bytes and back.
 *
 * ```ts
 * import { encode, PacketDecoder } from 'mqttkit/codec';
 * const bytes = encode({ type: 'publish', topic: 'a/b', payload, qos: 1, packetId: 7, retain: false, dup: false }, 5);
 * const decoder = new PacketDecoder({ protocolVersion: 5, maximumPacketSize: 1 << 20 });
 * for (const packet of decoder.push(chunk)) { ... }
 * ```
 *
 * @module mqttkit/codec
 */
export { DecodeError, EncodeError, MqttError } from '../core/errors.js';
export { MAX_PACKET_SIZE, PacketDecoder, type PacketDecoderOptions } from './decode.js';
export { type EncodeOptions, encode, encodeBatch, encodedSize, encodePublishHead } from './encode.js';
export { MAX_VBI } from './primitives.js';
export { propertyId } from './properties.js';
export { isValidReasonCode, ReasonCode, reasonCodeName } from './reason-codes.js';
export {
  isValidTopicFilter,
  isValidTopicName,
  parseSharedSubscription,
  type SharedSubscription,
  topicFilterProblem,
  topicNameProblem,
} from './topic.js';
export * from './types.js';
