/**
 * Errors thrown or rejected by mqttkit.
 *
 * Every error is an {@link MqttError} with a stable `code` string that
 * programs can branch on. Errors that MQTT gives a reason code for carry it as
 * `reasonCode` (an MQTT 5 reason code, also used for 3.1.1 sessions to say
 * why a connection was closed).
 *
 * Layers add subclasses as they need them; the codec owns two:
 * - {@link DecodeError}: the peer sent bytes that are not a valid packet
 *   (a remote protocol error). `reasonCode` is what to send in DISCONNECT.
 * - {@link EncodeError}: the caller asked to encode a packet that is not
 *   valid (a local error). `field` names what was wrong. Nothing was written.
 */

/** Stable error codes. */
export const ErrorCode = {
  /** {@link DecodeError}: bytes from the network that are not a valid packet. */
  Decode: 'ERR_MQTT_DECODE',
  /** {@link EncodeError}: a packet the encoder was asked to write is not valid. */
  Encode: 'ERR_MQTT_ENCODE',
  /** {@link ProtocolError}: the peer broke the protocol. */
  Protocol: 'ERR_MQTT_PROTOCOL',
  /** {@link ConnectionError}: the connection failed, was lost or was refused. */
  Connection: 'ERR_MQTT_CONNECTION',
  /** {@link TimeoutError}: an operation ran out of time. */
  Timeout: 'ERR_MQTT_TIMEOUT',
  /** {@link AbortError}: an operation was cancelled through its `AbortSignal`. */
  Aborted: 'ERR_MQTT_ABORTED',
  /** {@link ClosedError}: the session was closed. */
  Closed: 'ERR_MQTT_CLOSED',
  /** {@link RejectedError}: the server refused an operation with a reason code. */
  Rejected: 'ERR_MQTT_REJECTED',
  /** {@link DroppedError}: a publish was given up (offline queue, expiry, delivery attempts). */
  Dropped: 'ERR_MQTT_DROPPED',
  /** {@link StoreError}: the session store failed. */
  Store: 'ERR_MQTT_STORE',
  /** {@link FencedError}: a store write was refused because another owner holds the session. */
  Fenced: 'ERR_MQTT_FENCED',
  /** {@link InvalidArgumentError}: an argument or option is not valid. */
  InvalidArgument: 'ERR_MQTT_INVALID_ARGUMENT',
  /** {@link ConfigError}: a fleet config file or object is not valid. */
  Config: 'ERR_MQTT_CONFIG',
  /** {@link RpcError}: an RPC responder answered with an error status. */
  Rpc: 'ERR_MQTT_RPC',
  /** {@link MissingPeerError}: a feature needs an optional package that is not installed. */
  MissingPeer: 'ERR_MQTT_MISSING_PEER',
  /** An {@link MqttError} wrapping what a handler or listener of yours threw (as its `cause`). */
  Handler: 'ERR_MQTT_HANDLER',
  /** `ClusterError`: a node of a cluster could not join or stay in it (its id is held by another process). */
  Cluster: 'ERR_MQTT_CLUSTER',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** @internal How the message of a connection the broker closed without answering CONNECT ends. */
export const CLOSED_BEFORE_CONNACK = 'closed by the broker before CONNACK';

/** Base class of every error mqttkit throws or rejects with. */
export class MqttError extends Error {
  /** Stable machine-readable code, e.g. `ERR_MQTT_DECODE`. */
  readonly code: string;
  /** MQTT 5 reason code that describes the error, where MQTT has one. */
  readonly reasonCode: number | undefined;

  constructor(code: string, message: string, reasonCode?: number, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
    this.reasonCode = reasonCode;
  }

  /** The class name (`TimeoutError`, `RejectedError`, ...), as stack traces and `util.inspect` show it. */
  override get name(): string {
    return this.constructor.name;
  }
}

/**
 * Bytes from the network that are not a valid MQTT packet. The connection
 * must be closed; with MQTT 5, after a DISCONNECT carrying `reasonCode`
 * (0x81 Malformed Packet, 0x82 Protocol Error, 0x95 Packet too large, ...).
 * For an error in a CONNECT (broker side) it is the CONNACK reason code to
 * refuse with, which may be 0x84 Unsupported Protocol Version.
 */
export class DecodeError extends MqttError {
  declare readonly reasonCode: number;

  constructor(message: string, reasonCode: number) {
    super(ErrorCode.Decode, message, reasonCode);
  }
}

/**
 * A packet handed to the encoder that MQTT does not allow: a bad topic, a
 * property not allowed in that packet, QoS 3, a packet too large, ...
 * `field` names the offending field (`topic`, `properties.topicAlias`,
 * `subscriptions[2].topicFilter`).
 */
export class EncodeError extends MqttError {
  /** Path of the offending field in the packet, e.g. `properties.topicAlias` or `packets[3].topic`. */
  readonly field: string;
  /** What is wrong with it: the message without the leading `field: `. */
  readonly reason: string;

  constructor(field: string, message: string, reasonCode?: number) {
    super(ErrorCode.Encode, `${field}: ${message}`, reasonCode);
    this.field = field;
    this.reason = message;
  }
}

/**
 * The peer broke the protocol (a malformed packet, an unexpected packet, a
 * topic alias it never set up; an RPC response that is not the JSON
 * `requestJson` asked for). `reasonCode` says why, where MQTT gives one. A
 * server that ends the connection with DISCONNECT gives a
 * {@link ConnectionError} with its reason code.
 */
export class ProtocolError extends MqttError {
  constructor(message: string, reasonCode?: number, options?: ErrorOptions) {
    super(ErrorCode.Protocol, message, reasonCode, options);
  }
}

/**
 * The network connection failed or could not be made: refused, reset, TLS
 * rejected, DNS, or a CONNACK that refused the connection (`reasonCode`).
 */
export class ConnectionError extends MqttError {
  constructor(message: string, reasonCode?: number, options?: ErrorOptions) {
    super(ErrorCode.Connection, message, reasonCode, options);
  }
}

/** An operation did not complete within its timeout. */
export class TimeoutError extends MqttError {
  constructor(message: string) {
    super(ErrorCode.Timeout, message);
  }
}

/** An operation was cancelled through its `AbortSignal`. */
export class AbortError extends MqttError {
  constructor(message = 'The operation was aborted', options?: ErrorOptions) {
    super(ErrorCode.Aborted, message, undefined, options);
  }
}

/** The session was closed while the operation was pending, or before it started. */
export class ClosedError extends MqttError {
  constructor(message = 'The session is closed') {
    super(ErrorCode.Closed, message);
  }
}

/**
 * An argument given to the API is not valid: an option, a topic, a payload,
 * a QoS. `field` names it (`options.keepalive`, `topic`).
 */
export class InvalidArgumentError extends MqttError {
  /** The option or argument that is wrong, e.g. `keepalive`, `offlineQueue.maxBytes`, `topic`. */
  readonly field: string;
  /** What is wrong with it: the message without the leading `field: `. */
  readonly reason: string;

  constructor(field: string, message: string, reasonCode?: number, options?: ErrorOptions) {
    super(ErrorCode.InvalidArgument, `${field}: ${message}`, reasonCode, options);
    this.field = field;
    this.reason = message;
  }
}

/**
 * The server refused an operation: a PUBACK or PUBREC with a failure reason
 * code (0x87 Not authorized, 0x97 Quota exceeded, ...), a SUBACK refusing
 * every filter, or a feature the server said it does not support.
 */
export class RejectedError extends MqttError {
  constructor(message: string, reasonCode: number) {
    super(ErrorCode.Rejected, message, reasonCode);
  }
}

/**
 * A publish was given up: `reason` says why (`'queue-full'` when the offline
 * queue refused it, `'overflow'` when a newer message pushed it out of the
 * queue, `'expired'` when its message expiry passed, `'offline'` for QoS 0
 * while offline without `offlineQueue.qos0`, `'attempts'` when it was sent
 * on `maxDeliveryAttempts` connections that each ended before it was
 * acknowledged: it is removed from the store, never replayed again).
 */
export class DroppedError extends MqttError {
  /** Why the publish was dropped; see the class description. */
  readonly reason: 'queue-full' | 'overflow' | 'expired' | 'offline' | 'attempts';

  constructor(message: string, reason: DroppedError['reason']) {
    super(ErrorCode.Dropped, message);
    this.reason = reason;
  }
}

/** The session store failed (a full disk, a lost Redis): nothing it did not confirm was sent. */
export class StoreError extends MqttError {
  constructor(message: string, options?: ErrorOptions) {
    super(ErrorCode.Store, message, undefined, options);
  }
}

/**
 * A store write was refused because it carried a stale fencing token:
 * another owner (a newer lease on the session, in a cluster) holds the
 * client id, and nothing of the refused write was applied. It is final, not
 * a failure to retry: the write can never apply, so the store drops it, and
 * writes for that client keep being refused until the store is given a new
 * token. `token` is the one the write carried, `current` what the store
 * holds now (undefined when it holds none).
 */
export class FencedError extends StoreError {
  override readonly code: string = ErrorCode.Fenced;

  constructor(
    message: string,
    /** The client id whose write was refused. */
    readonly clientId: string,
    /** The fencing token the refused write carried. */
    readonly token: number,
    /** The token the store holds for the client id now; undefined when it holds none. */
    readonly current: number | undefined,
  ) {
    super(message);
  }
}

/**
 * An RPC responder answered with an error: `status` is its status code
 * (HTTP-like: 400 a payload `req.json()` could not parse, 500 a handler
 * that threw, 503 the server's queue full, 504 a handler too slow, or what a
 * handler chose with `RpcStatusError`, such as 404), the message is its
 * reason. A request to a topic no server routes is not answered at all: it
 * ends with `TimeoutError`.
 */
export class RpcError extends MqttError {
  /**
   * Status code of the responder's answer, 400..599: 400, 500, 503, 504, or one a handler
   * chose with `RpcStatusError`.
   */
  readonly status: number;
  constructor(status: number, message: string) {
    super(ErrorCode.Rpc, message);
    this.status = status;
  }
}

/**
 * A feature needs an optional package that is not installed: `RedisStore`
 * needs `ioredis`, the Prometheus registry `prom-client`, the embedded broker
 * `aedes`. The message names the package and the command that installs it
 * (`RedisStore needs the optional package 'ioredis': npm install ioredis`);
 * `cause` is the resolution error.
 */
export class MissingPeerError extends MqttError {
  /** The package to install, e.g. `ioredis`. */
  readonly packageName: string;

  constructor(packageName: string, feature: string, options?: ErrorOptions) {
    super(
      ErrorCode.MissingPeer,
      `${feature} needs the optional package '${packageName}': npm install ${packageName}`,
      undefined,
      options,
    );
    this.packageName = packageName;
  }
}

/**
 * A node of a cluster (fleets across processes, on Redis) could not do what
 * was asked: `reason` says why.
 *
 * - `'node-taken'`: another process holds the node id, with a lease that is
 *   live in Redis (`retryAfter`: ms until it runs out unless renewed). From
 *   `join()`, nothing was changed; from a renewal, this process had lost
 *   its lease (it ran out) and another took the id: it is no longer a
 *   member and must stop what the lease covered.
 * - `'lapsed'`: a renewal found this node's lease gone (it ran out, or
 *   Redis lost it): the node is no longer a member, must stop what the
 *   lease covered, and join again (as a new incarnation).
 * - `'not-joined'`: the call needs a membership that has joined, and it has
 *   not (or has left, or lost its id).
 * - `'worker'`: a worker process of a fleet on one machine (`workers`) keeps
 *   dying soon after its start, or cannot be started, or its sessions keep
 *   their state in memory (which cannot move with them to another worker).
 */
export class ClusterError extends MqttError {
  /** Why; see the class description. */
  readonly reason: 'node-taken' | 'lapsed' | 'not-joined' | 'worker';
  /** `'node-taken'`: ms until the other holder's lease runs out unless renewed; otherwise undefined. */
  readonly retryAfter: number | undefined;

  constructor(message: string, reason: ClusterError['reason'], retryAfter?: number) {
    super(ErrorCode.Cluster, message);
    this.reason = reason;
    this.retryAfter = retryAfter;
  }
}
