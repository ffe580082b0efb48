export { MessageStream } from './message-stream.js';
export { type Authenticator, DEFAULTS, type SessionOptions, type WillOptions } from './options.js';
export { Session } from './session.js';
export type {
  ConnackInfo,
  Message,
  MessageHandler,
  OperationOptions,
  PublishOptions,
  PublishResult,
  SessionEvents,
  SessionState,
  SubscribeOptions,
  Subscription,
} from './types.js';
