export { SafeEmitter } from './events.js';
export { FleetConnectError, type Route, RouteStream, SessionManager } from './manager.js';
export type {
  FleetHandler,
  FleetMessage,
  ListenOptions,
  ManagedSessionOptions,
  ManagerEventName,
  ManagerEvents,
  RouteOptions,
  SessionManagerOptions,
  SessionOptionsBuilder,
  SessionSubscription,
} from './types.js';
