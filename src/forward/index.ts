export { FORWARDED_PROPERTY, type ForwardedContent, readForwarded } from './envelope.js';
export {
  Forwarder,
  type ForwarderHost,
  type ForwarderMetrics,
  type ForwarderOptions,
  type ForwardMessage,
  type ForwardResult,
} from './forwarder.js';
export { compileTopicMap, type TopicMap, type TopicMapFunction } from './mapping.js';
