/**
 * mqttkit: many MQTT 3.1.1 and 5.0 sessions from one Node.js process.
 *
 * This entry point exports what an application uses: `Session`,
 * `SessionManager` and its `SessionBuilder`, the stores, RPC, forwarding,
 * channels, metrics, the errors and the packet model. The codec lives at
 * `mqttkit/codec`, the embedded broker at `mqttkit/broker`, the topic trie
 * (`TopicRouter`) at `mqttkit/router`.
 *
 * @module mqttkit
 */

export {
  BatchChannel,
  type BatchMetrics,
  type BatchOptions,
  type Combine,
  QueueChannel,
  type QueueMetrics,
  type QueueOptions,
} from './channels/index.js';
export type {
  Packet,
  PacketType,
  ProtocolVersion,
  PublishPacket,
  QoS,
  UserProperty,
} from './codec/types.js';

import { setClusterLoader, setDashboardLoader } from './manager/index.js';

export { type EventMap, SafeEmitter } from './core/emitter.js';
export {
  AbortError,
  ClosedError,
  ClusterError,
  ConnectionError,
  DecodeError,
  DroppedError,
  EncodeError,
  ErrorCode,
  FencedError,
  InvalidArgumentError,
  MissingPeerError,
  MqttError,
  ProtocolError,
  RejectedError,
  RpcError,
  StoreError,
  TimeoutError,
} from './core/errors.js';
export type { LogFn, Logger } from './core/logger.js';
export { type UserPropertiesInit, userPropertiesObject } from './core/user-properties.js';
export {
  compileTopicMap,
  FORWARDED_PROPERTY,
  type ForwardedContent,
  Forwarder,
  type ForwarderMetrics,
  type ForwarderOptions,
  type ForwardMessage,
  type ForwardResult,
  readForwarded,
  type TopicMap,
  type TopicMapFunction,
} from './forward/index.js';
export type {
  ClusterNodeStatus,
  ClusterOptions,
  ClusterRole,
  ClusterSessionStatus,
  ClusterStatus,
  FleetCluster,
  SharedSessionStats,
} from './manager/index.js';
export {
  type BrokerUrl,
  ConfigError,
  type ConfigIssue,
  type DashboardOptions,
  type DashboardServer,
  type FleetConfig,
  FleetConnectError,
  type FleetHandler,
  type FleetMessage,
  type FleetRoute,
  isFleetWorker,
  type ListenOptions,
  type LoadFleetConfigOptions,
  loadFleetConfig,
  type ManagedSessionOptions,
  type ManagerEventArgs,
  type ManagerEventName,
  type ManagerEvents,
  type ParseFleetConfigOptions,
  type ProtocolVersionInput,
  parseFleetConfig,
  type Route,
  type RouteOptions,
  RouteStream,
  SessionBuilder,
  SessionManager,
  type SessionManagerOptions,
  type SessionOptionsBuilder,
  type SessionSubscription,
} from './manager/index.js';
export type { ClusterMetrics } from './metrics/index.js';

// cluster mode (`fromConfig` with a cluster) is loaded on first use: its code, and ioredis
setClusterLoader(() => import('./cluster/driver.js').then((m) => m.createClusterDriver));
// the dashboard (`manager.serveDashboard()`) too: its server, and the page it serves
setDashboardLoader(() => import('./dashboard/index.js').then((m) => m.serveDashboard));

export {
  createRegistry,
  FleetMetrics,
  type FleetMetricsOptions,
  type FleetSnapshot,
  type MetricsHandler,
  type MetricsServer,
  type MetricsSource,
  type MetricsSourceSession,
  metricsHandler,
  type PrometheusOptions,
  type PrometheusRegistry,
  type Rates,
  type RoundTripSummary,
  type ServeMetricsOptions,
  type SessionSnapshot,
  serveMetrics,
  type TotalSnapshot,
} from './metrics/index.js';
export { topicMatches } from './router/match.js';
export {
  type RequestOptions,
  RpcClient,
  type RpcClientMetrics,
  type RpcClientOptions,
  type RpcHandler,
  type RpcMiddleware,
  type RpcRequest,
  RpcResponse,
  type RpcRouteMetrics,
  RpcServer,
  type RpcServerMetrics,
  type RpcServerOptions,
  RpcStatusError,
} from './rpc/index.js';
export {
  type Authenticator,
  type ConnackInfo,
  type Credentials,
  type DropPolicy,
  type JwtAlgorithm,
  type JwtCredentials,
  type JwtCredentialsOptions,
  jwtCredentials,
  type KeyLike,
  type LatencySnapshot,
  type Message,
  type MessageHandler,
  MessageStream,
  type OfflineQueueOptions,
  type OperationOptions,
  type PublishOptions,
  type PublishPropertiesInit,
  type PublishResult,
  type ReconnectOptions,
  type ServerLimits,
  Session,
  type SessionEvents,
  type SessionMetrics,
  type SessionOptions,
  type SessionState,
  type SessionView,
  type SubscribeOptions,
  type Subscription,
  type WillOptions,
  type WillPropertiesInit,
} from './session/index.js';
export {
  FileStore,
  type FileStoreDamage,
  FileStoreError,
  type FileStoreEvents,
  type FileStoreOptions,
  type FileStoreStats,
  type LogRange,
  MemoryStore,
  type PersistedSession,
  type RedisClient,
  type RedisPipeline,
  RedisStore,
  type RedisStoreOptions,
  type SessionStore,
  type StoredMessage,
  type StoredSubscription,
} from './store/index.js';
export type { TlsMaterial, TlsOptions, WebSocketOptions } from './transport/types.js';
