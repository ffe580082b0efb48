/** Public types of `RpcClient` and `RpcServer`. */
import type { PublishProperties, QoS } from '../codec/types.js';
import type { LatencySnapshot, Message, PublishPropertiesInit } from '../session/index.js';

/** Options of {@link RpcClient}. */
export interface RpcClientOptions {
  /**
   * Where responses come back. @default the Response Information the broker
   * offered in CONNACK (with `requestResponseInformation: true`) plus
   * `/rpc/res`, else `{clientId}/rpc/res`; a second client on the same
   * session adds `/2`, a third `/3`...
   */
  responseTopic?: string;
  /** ms a request waits for its response. @default 30000 */
  timeout?: number;
  /** QoS of requests and of the response subscription. @default 1 */
  qos?: QoS;
  /**
   * MQTT 3.1.1, when traced: carry the request's trace context in the
   * envelope (its version 2, which RpcServers of mqttkit 0.1.0 do not read:
   * set `false` while such servers answer). Untraced requests are version 1
   * either way. @default true
   */
  envelopeTrace?: boolean;
}

/** Options of {@link RpcClient.request} and {@link RpcClient.requestJson}. */
export interface RequestOptions {
  /** ms to wait for the response; 0 waits forever. @default the client's `timeout` */
  timeout?: number;
  /** Cancels the request: it rejects with `AbortError` and its entry is removed. */
  signal?: AbortSignal;
  /** @default the client's `qos` */
  qos?: QoS;
  /**
   * MQTT 5 properties of the request (userProperties, as pairs or MQTT.js's object; contentType,
   * messageExpiryInterval...).
   */
  properties?: PublishPropertiesInit;
}

/** Counters of an `RpcClient`. */
export interface RpcClientMetrics {
  /** Requests waiting for their response now. */
  pending: number;
  /** Requests published. */
  sent: number;
  /** Responses matched to a request. */
  received: number;
  /** Responses whose correlation data matched no pending request (late, or for another client). */
  unmatched: number;
  /** Requests that got no response within their timeout. */
  timeouts: number;
  /** Error responses and failed publishes. */
  errors: number;
}

/** What a handler receives. */
export interface RpcRequest {
  /** The topic the request was published to (the route pattern's filled-in form). */
  readonly topic: string;
  /** Named segments of the route (`api/devices/:id/get` gives `params.id`). */
  readonly params: Readonly<Record<string, string>>;
  /** The request body; with MQTT 3.1.1, already taken out of mqttkit's envelope. */
  readonly payload: Buffer;
  /** MQTT 5 properties of the request (for 3.1.1, only `contentType`). */
  readonly properties: PublishProperties | undefined;
  /** QoS the request was received with. */
  readonly qos: QoS;
  /** Where the response goes; undefined when the requester wants none. */
  readonly responseTopic: string | undefined;
  /** Aborted when the request times out or the server stops waiting for it. */
  readonly signal: AbortSignal;
  /** The raw message. */
  readonly message: Message;
  /** The payload as UTF-8 text. */
  text(): string;
  /** The payload as JSON; a payload that is not JSON answers 400. */
  json<T = unknown>(): T;
}

/**
 * Returns the response: a string or bytes as they are, any other value as
 * JSON (content type `application/json`), undefined as an empty payload.
 * A thrown error becomes an error response (see `RpcServer`).
 */
export type RpcHandler = (request: RpcRequest) => unknown;

/** Runs around the handler (and later middleware): call `next()` to go on. */
export type RpcMiddleware = (request: RpcRequest, next: () => Promise<unknown>) => unknown;

/** Options of {@link RpcServer}. */
export interface RpcServerOptions {
  /** Subscribe as `$share/{group}/…` so several servers share the requests. */
  group?: string;
  /** Requests handled at once; the others queue. @default 256 */
  concurrency?: number;
  /** Requests that may wait; beyond, a request is answered 503 at once. @default 10000 */
  maxQueue?: number;
  /** ms a handler may take before the request is answered 504 (and its signal aborted). @default 30000 */
  timeout?: number;
  /** QoS of the route subscriptions. @default 1 */
  qos?: QoS;
}

/** Counters of an `RpcServer`. */
export interface RpcServerMetrics {
  /** Requests received on the routes. */
  received: number;
  /** Answered with a success response. */
  succeeded: number;
  /** Answered with an error response (handler error, bad request, timeout, overload). */
  failed: number;
  /** Requests without a response topic, handled and not answered. */
  unanswered: number;
  /** Handling now. */
  active: number;
  /** Waiting for a free handler slot (`concurrency`), at most `maxQueue`. */
  queued: number;
  /** Each route's numbers, in the order the routes were added. */
  routes: RpcRouteMetrics[];
}

/** One route of an `RpcServer`, in {@link RpcServerMetrics.routes}: counted since the route was added. */
export interface RpcRouteMetrics {
  /** The route's pattern, as given to `route()` (`api/devices/:id/get`). */
  pattern: string;
  /** Requests received on it. */
  received: number;
  /**
   * Answers by status: `'200'` for a success, the error's status (`'404'`,
   * `'500'`, `'503'`, `'504'`, ...) otherwise; requests without a response
   * topic (handled, not answered) count under `'none'`. Requests still
   * being handled are in none of them.
   */
  statuses: Record<string, number>;
  /**
   * From a request's arrival to its response being written (handed to the
   * session), in ms, over the answered requests (`count` is their number),
   * on the buckets of `LATENCY_BOUNDS`.
   */
  latency: LatencySnapshot;
}
