export { RpcClient, RpcResponse } from './client.js';
export { RpcServer, RpcStatusError } from './server.js';
export type {
  RequestOptions,
  RpcClientMetrics,
  RpcClientOptions,
  RpcHandler,
  RpcMiddleware,
  RpcRequest,
  RpcRouteMetrics,
  RpcServerMetrics,
  RpcServerOptions,
} from './types.js';
