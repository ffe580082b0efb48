/**
 * The session layer's public surface: `Session`, its options, and the types
 * of what it takes and gives (every type in `types.ts` is public). The
 * parts behind `Session` stay internal to this folder.
 */
export type { ServerLimits } from '../protocol/engine.js';
export { tracerOf } from './context.js';
export {
  type JwtAlgorithm,
  type JwtCredentials,
  type JwtCredentialsOptions,
  jwtCredentials,
  type KeyLike,
} from './jwt.js';
export { LATENCY_BOUNDS, LatencyHistogram, type LatencySnapshot } from './latency.js';
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
export type * from './types.js';
