export { type BrokerUrl, SessionBuilder } from './builder.js';
export {
  type ClusterDriver,
  type ClusterDriverFactory,
  type ClusterDriverInput,
  type ClusterNodeStatus,
  type ClusterOptions,
  type ClusterRole,
  type ClusterSessionStatus,
  type ClusterStatus,
  type FleetCluster,
  isFleetWorker,
  type SharedSessionStats,
  setClusterLoader,
} from './cluster.js';
export {
  ConfigError,
  type ConfigIssue,
  type FleetConfig,
  type LoadFleetConfigOptions,
  loadFleetConfig,
  type ParseFleetConfigOptions,
  parseFleetConfig,
} from './config.js';
export {
  type DashboardFactory,
  type DashboardOptions,
  type DashboardServer,
  setDashboardLoader,
} from './dashboard.js';
export { FleetConnectError, SessionManager } from './manager.js';
export type { ProtocolVersionInput } from './protocol-version.js';
export { RouteStream } from './route-stream.js';
export type {
  FleetHandler,
  FleetMessage,
  FleetRoute,
  // the name FleetRoute had before: root users import it as Route
  FleetRoute as Route,
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
