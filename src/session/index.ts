export { CoarseTimer, RESOLUTION_MS, sharedTimer, type Timed } from '../core/timer.js';
export { LATENCY_BOUNDS, type LatencySnapshot } from './latency.js';
export { type DropPolicy, MessageStream } from './message-stream.js';
export {
  type Authenticator,
  type Credentials,
  DEFAULTS,
  type OfflineQueueOptions,
  type ReconnectOptions,
  type SessionOptions,
  type WillOptions,
  type WillPropertiesInit,
} from './options.js';
export { Session } from './session.js';
export type {
  ConnackInfo,
  Message,
  MessageHandler,
  OperationOptions,
  PublishOptions,
  PublishPropertiesInit,
  PublishResult,
  SessionEvents,
  SessionMetrics,
  SessionState,
  SessionView,
  SubscribeOptions,
  Subscription,
} from './types.js';
