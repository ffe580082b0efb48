export { type BrokerUrl, quick, SessionBuilder, secure, session } from './builder.js';
export {
  ConfigError,
  type ConfigIssue,
  type FleetConfig,
  type LoadFleetConfigOptions,
  loadFleetConfig,
  type ParseFleetConfigOptions,
  parseFleetConfig,
} from './config.js';
export { FleetConnectError, type Route, RouteStream, SessionManager } from './manager.js';
export type { ProtocolVersionInput } from './protocol-version.js';
export type {
  FleetHandler,
  FleetMessage,
  ListenOptions,
  ManagedSessionOptions,
  ManagerEventArgs,
  ManagerEventName,
  ManagerEvents,
  RouteOptions,
  SessionManagerOptions,
  SessionOptionsBuilder,
  SessionSubscription,
} from './types.js';
