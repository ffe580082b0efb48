/**
 * `SessionOptions`: what a user passes to `new Session()`, with documented
 * defaults, validated once in the constructor into `ResolvedOptions`. Every
 * problem throws {@link InvalidArgumentError} naming the option; secrets
 * (password, keys) never appear in a message.
 */
import { randomBytes } from 'node:crypto';
import { isValidTopicName } from '../codec/topic.js';
import type {
  ConnectProperties,
  ProtocolVersion,
  QoS,
  UserProperty,
  Will,
  WillProperties,
} from '../codec/types.js';
import { InvalidArgumentError } from '../errors.js';
import { MemoryStore } from '../store/memory.js';
import type { SessionStore } from '../store/types.js';
import type { TlsOptions, WebSocketOptions } from '../transport/types.js';
import { parseBrokerUrl, urlCredentials } from '../transport/url.js';

/** The message sent by the broker when this session disappears without DISCONNECT. */
export interface WillOptions {
  /** Topic name (no wildcards) the will is published to. */
  topic: string;
  /** The will message; a string is sent as UTF-8. */
  payload: string | Uint8Array;
  /** @default 0 */
  qos?: QoS;
  /** @default false */
  retain?: boolean;
  /** MQTT 5 will properties (willDelayInterval, messageExpiryInterval, ...). */
  properties?: WillProperties;
}

/** Enhanced authentication (MQTT 5 AUTH): answer each challenge of the server. */
export type Authenticator = (challenge: {
  method: string;
  data: Uint8Array | undefined;
  reasonCode: number;
}) => Promise<Uint8Array | undefined> | Uint8Array | undefined;

/** Reconnect with exponential backoff: `initialDelay * factor^(attempt - 1)`, capped, with jitter. */
export interface ReconnectOptions {
  /** ms before the first attempt after a loss. @default 1000 */
  initialDelay?: number;
  /** ms, the longest wait between attempts. @default 120000 */
  maxDelay?: number;
  /** @default 2 */
  factor?: number;
  /** Each delay is scaled by a random factor in [1 - jitter, 1 + jitter]. @default 0.25 */
  jitter?: number;
  /**
   * ms a connection must stay up before the backoff starts again from
   * `initialDelay`: a broker that accepts and then drops every connection
   * meets a growing delay, not a storm. @default 10000
   */
  resetAfter?: number;
}

/** Credentials for one connection attempt. */
export interface Credentials {
  /** User name for this attempt; none is sent when absent. */
  username?: string;
  /**
   * Password for this attempt (a string is sent as UTF-8); none is sent when absent. MQTT 3.1.1
   * needs a `username` with it.
   */
  password?: string | Uint8Array;
}

/** Publishes made while the session is not connected wait here, in order. */
export interface OfflineQueueOptions {
  /** @default 10000 */
  maxMessages?: number;
  /** Payload and topic bytes. @default 67108864 (64 MiB) */
  maxBytes?: number;
  /**
   * When full: `'reject'` the new publish, `'drop-oldest'` queued message
   * (its publish rejects with `DroppedError`), or `'drop-newest'` (the new
   * one rejects with `DroppedError`). @default 'reject'
   */
  overflow?: 'reject' | 'drop-oldest' | 'drop-newest';
  /** Queue QoS 0 publishes too; otherwise they are dropped while offline. @default false */
  qos0?: boolean;
}

/**
 * Options of `new Session()`: where to connect and how the session behaves.
 * Only `url` is required. Checked in the constructor: a problem throws
 * {@link InvalidArgumentError} naming the option, and secrets (password,
 * keys) never appear in its message.
 */
export interface SessionOptions {
  /**
   * `mqtt://`, `mqtts://`, `ws://`, `wss://`, `unix:///path` (and `tcp://`,
   * `tls://`), or several: the next is tried when a connection attempt fails.
   */
  url: string | URL | readonly (string | URL)[];
  /** Reconnect after a lost connection, or `false`. @default { initialDelay: 1000, maxDelay: 120000, factor: 2, jitter: 0.25 } */
  reconnect?: ReconnectOptions | false;
  /** Called before every connection attempt; its result replaces `username`/`password` (e.g. a fresh JWT). */
  credentials?: () => Promise<Credentials> | Credentials;
  /** Where in-flight messages, the offline queue and subscriptions are kept. @default a new MemoryStore */
  store?: SessionStore;
  /**
   * Bounds of the queue publishes wait in while the session is connecting or reconnecting.
   * @default { maxMessages: 10000, maxBytes: 67108864, overflow: 'reject', qos0: false }
   */
  offlineQueue?: OfflineQueueOptions;
  /** @default a random `mqttkit-` id */
  clientId?: string;
  /**
   * 5 (MQTT 5.0), 4 (MQTT 3.1.1), or `'auto'`: MQTT 5, falling back to 3.1.1
   * when the broker refuses it the 3.1.1 way (CONNACK 0x01) or closes the
   * connection before CONNACK; the first version that connects is kept for
   * the session's life (`session.protocolVersion`). @default 5
   */
  protocolVersion?: ProtocolVersion | 'auto';
  /** Clean Start (5) / Clean Session (3.1.1). @default true */
  clean?: boolean;
  /** Seconds the broker keeps the session after a disconnect (MQTT 5). @default 0 */
  sessionExpiry?: number;
  /** Seconds; 0 turns keepalive off. @default 60 */
  keepalive?: number;
  /** User name sent in CONNECT (see `credentials` for one that changes per attempt). */
  username?: string;
  /** Password sent in CONNECT (a string is sent as UTF-8). MQTT 3.1.1 needs a `username` with it. */
  password?: string | Uint8Array;
  /** A message the broker publishes when this session disappears without DISCONNECT. */
  will?: WillOptions;
  /** ms until the CONNACK, from the start of the network connection. @default 30000 */
  connectTimeout?: number;
  /** ms a publish, subscribe or unsubscribe may wait for its acknowledgement; 0 waits forever. @default 60000 */
  operationTimeout?: number;
  /** Largest number of unacknowledged QoS 1/2 messages the broker may send at once (MQTT 5). @default 65535 */
  receiveMaximum?: number;
  /**
   * QoS 1/2 publishes in flight at once. MQTT 5 sessions follow the broker's
   * Receive Maximum, lowered to this when set. MQTT 3.1.1 brokers announce
   * no limit but drop the QoS 2 messages past theirs while acknowledging them
   * (mosquitto holds 20 awaiting PUBREL), so without this option a 3.1.1
   * session has at most 20 QoS 2 publishes in flight, and QoS 1 unlimited.
   * @default the broker's Receive Maximum (5); 20 QoS 2, QoS 1 unlimited (3.1.1)
   */
  maxInflight?: number;
  /**
   * Highest QoS the broker takes, for a 3.1.1 broker that cannot say so (an
   * MQTT 5 CONNACK's Maximum QoS wins when lower): a publish above it rejects
   * with `RejectedError` 0x9B before anything is sent. @default 2
   */
  maximumQoS?: QoS;
  /**
   * A QoS 1/2 publish sent on this many connections that all ended before
   * the broker acknowledged it is given up: it rejects with `DroppedError`
   * (reason `'attempts'`) and leaves the store. Guards against a message the
   * broker closes the connection over, which would otherwise be replayed for
   * ever. 0: no limit. @default 5
   */
  maxDeliveryAttempts?: number;
  /**
   * Largest packet accepted from the broker, in bytes (16 to 268435460). A larger one closes the
   * connection with 0x95 as soon as its fixed header is read, before its body is buffered. MQTT 5
   * announces it in CONNECT, so the broker never sends a larger packet (it drops such a message for
   * this session instead); MQTT 3.1.1 cannot announce it. @default 16777216 (16 MiB)
   */
  maximumPacketSize?: number;
  /** Topic aliases the broker may use towards this client (MQTT 5). @default 64 */
  topicAliasMaximum?: number;
  /** Use topic aliases for publishes when the broker allows them (MQTT 5). @default true */
  topicAliases?: boolean;
  /** Ask for Response Information in CONNACK (MQTT 5, used by RPC). @default false */
  requestResponseInformation?: boolean;
  /** User properties sent in CONNECT (MQTT 5). */
  userProperties?: UserProperty[];
  /** Enhanced authentication method (MQTT 5), e.g. `SCRAM-SHA-256`. */
  authenticationMethod?: string;
  /** Initial authentication data for `authenticationMethod`. */
  authenticationData?: Uint8Array;
  /** Answers the broker's AUTH challenges for `authenticationMethod`. */
  authenticate?: Authenticator;
  /** TLS settings for `mqtts://` and `wss://`. */
  tls?: TlsOptions;
  /** WebSocket settings for `ws://` and `wss://`. */
  ws?: WebSocketOptions;
  /** Messages buffered by each `messages()` iterator before the oldest are dropped. @default 1000 */
  messageBuffer?: number;
}

export interface ResolvedOptions {
  /** The first of `urls`. */
  url: string;
  urls: string[];
  reconnect: Required<ReconnectOptions> | false;
  credentials: (() => Promise<Credentials> | Credentials) | undefined;
  /** Each attempt takes username and password from its URL's userinfo (none given otherwise). */
  urlCredentials: boolean;
  store: SessionStore;
  offlineQueue: Required<OfflineQueueOptions>;
  clientId: string;
  protocolVersion: ProtocolVersion;
  /** `protocolVersion: 'auto'`: fall back to 3.1.1 until a connection succeeds. */
  autoVersion: boolean;
  maxInflight: number | undefined;
  maximumQoS: QoS;
  maxDeliveryAttempts: number;
  clean: boolean;
  keepalive: number;
  username: string | undefined;
  password: Uint8Array | undefined;
  will: Will | undefined;
  connectTimeout: number;
  operationTimeout: number;
  topicAliases: boolean;
  connectProperties: ConnectProperties | undefined;
  authenticate: Authenticator | undefined;
  tls: TlsOptions | undefined;
  ws: WebSocketOptions | undefined;
  messageBuffer: number;
  maximumPacketSize: number;
}

export const DEFAULTS = {
  protocolVersion: 5,
  clean: true,
  keepalive: 60,
  connectTimeout: 30_000,
  operationTimeout: 60_000,
  topicAliasMaximum: 64,
  messageBuffer: 1000,
  maxDeliveryAttempts: 5,
  resetAfter: 10_000,
  /**
   * 16 MiB: a bound on what one broker can make a session buffer. Far above what managed brokers
   * deliver (AWS IoT Core 128 KB, EMQX's default max_packet_size 1 MB), and room for the files and
   * images sent through mosquitto or HiveMQ, whose defaults have no limit (256 MiB).
   */
  maximumPacketSize: 16 * 1024 * 1024,
} as const;

/** An integer option from `min` to `max`; `field` names it in the error. Used by every layer's options. */
export function int(value: unknown, field: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `must be an integer from ${min} to ${max}, got ${describe(value)}`);
  }
  return value;
}

/** A QoS option (0, 1 or 2). */
export function qosOption(value: unknown, field: string): QoS {
  if (value !== 0 && value !== 1 && value !== 2) {
    throw new InvalidArgumentError(field, `must be 0, 1 or 2, got ${describe(value)}`);
  }
  return value;
}

/** A topic to publish to: a valid topic name, no wildcards. */
export function topicOption(value: unknown, field: string): string {
  if (typeof value !== 'string' || !isValidTopicName(value)) {
    throw new InvalidArgumentError(field, `must be a topic name without wildcards, got ${describe(value)}`);
  }
  return value;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

/** A string or bytes as bytes; `field` names it in the error. */
export function toBytes(value: unknown, field: string): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === 'string') return Buffer.from(value);
  throw new InvalidArgumentError(field, `must be a string, Buffer or Uint8Array, got ${typeof value}`);
}

function resolveReconnect(r: ReconnectOptions | false | undefined): Required<ReconnectOptions> | false {
  if (r === false) return false;
  if (r !== undefined && (r === null || typeof r !== 'object')) {
    throw new InvalidArgumentError('reconnect', 'must be an object or false');
  }
  const initialDelay = int(r?.initialDelay ?? 1000, 'reconnect.initialDelay', 0, 2 ** 31 - 1);
  const maxDelay = int(r?.maxDelay ?? 120_000, 'reconnect.maxDelay', 0, 2 ** 31 - 1);
  const factor = r?.factor ?? 2;
  if (typeof factor !== 'number' || !(factor >= 1))
    throw new InvalidArgumentError('reconnect.factor', 'must be >= 1');
  const jitter = r?.jitter ?? 0.25;
  if (typeof jitter !== 'number' || !(jitter >= 0 && jitter <= 1)) {
    throw new InvalidArgumentError('reconnect.jitter', 'must be from 0 to 1');
  }
  const resetAfter = int(r?.resetAfter ?? DEFAULTS.resetAfter, 'reconnect.resetAfter', 0, 2 ** 31 - 1);
  return { initialDelay, maxDelay: Math.max(maxDelay, initialDelay), factor, jitter, resetAfter };
}

export function resolveOptions(o: SessionOptions): ResolvedOptions {
  if (o === null || typeof o !== 'object') throw new InvalidArgumentError('options', 'must be an object');
  const list = Array.isArray(o.url) ? o.url : [o.url];
  if (list.length === 0) throw new InvalidArgumentError('url', 'must name at least one broker');
  const urls = list.map((u, i) => {
    const s = u instanceof URL ? u.href : u;
    const field = Array.isArray(o.url) ? `url[${i}]` : 'url';
    if (typeof s !== 'string' || s.length === 0) {
      throw new InvalidArgumentError(field, 'must be a non-empty string or URL');
    }
    try {
      parseBrokerUrl(s); // a bad URL fails here, not at the first connect
    } catch (err) {
      const why = (err as Error).message.replace(/^url: /, '');
      throw new InvalidArgumentError(field, why);
    }
    return s;
  });
  const url = urls[0];
  const reconnect = resolveReconnect(o.reconnect);
  if (o.credentials !== undefined && typeof o.credentials !== 'function') {
    throw new InvalidArgumentError('credentials', 'must be a function');
  }
  const store = o.store ?? new MemoryStore();
  if (typeof store?.load !== 'function' || typeof store.flush !== 'function') {
    throw new InvalidArgumentError('store', 'must implement SessionStore');
  }
  const q = o.offlineQueue ?? {};
  const offlineQueue: Required<OfflineQueueOptions> = {
    maxMessages: int(q.maxMessages ?? 10_000, 'offlineQueue.maxMessages', 0, 2 ** 31 - 1),
    maxBytes: int(q.maxBytes ?? 64 * 1024 * 1024, 'offlineQueue.maxBytes', 0, Number.MAX_SAFE_INTEGER),
    overflow: q.overflow ?? 'reject',
    qos0: q.qos0 ?? false,
  };
  if (!['reject', 'drop-oldest', 'drop-newest'].includes(offlineQueue.overflow)) {
    throw new InvalidArgumentError(
      'offlineQueue.overflow',
      "must be 'reject', 'drop-oldest' or 'drop-newest'",
    );
  }
  const asked = o.protocolVersion ?? DEFAULTS.protocolVersion;
  if (asked !== 4 && asked !== 5 && asked !== 'auto')
    throw new InvalidArgumentError('protocolVersion', `must be 4, 5 or 'auto', got ${describe(asked)}`);
  const v: ProtocolVersion = asked === 'auto' ? 5 : asked;
  const clientId = o.clientId ?? `mqttkit-${randomBytes(6).toString('hex')}`;
  if (typeof clientId !== 'string' || Buffer.byteLength(clientId) > 65_535 || clientId.includes('\0')) {
    throw new InvalidArgumentError('clientId', 'must be a string of at most 65535 bytes without U+0000');
  }
  const clean = o.clean ?? DEFAULTS.clean;
  if (typeof clean !== 'boolean') throw new InvalidArgumentError('clean', 'must be a boolean');
  if (v === 4 && clientId === '' && !clean) {
    throw new InvalidArgumentError('clientId', 'may be empty only with clean: true in MQTT 3.1.1');
  }
  const keepalive = int(o.keepalive ?? DEFAULTS.keepalive, 'keepalive', 0, 65_535);
  if (o.username !== undefined && typeof o.username !== 'string') {
    throw new InvalidArgumentError('username', 'must be a string');
  }
  const password = o.password === undefined ? undefined : toBytes(o.password, 'password');
  if (v === 4 && password !== undefined && o.username === undefined) {
    throw new InvalidArgumentError('password', 'needs a username in MQTT 3.1.1');
  }
  // no username, password or hook given: the userinfo of each URL is the CONNECT's (as MQTT.js does)
  let fromUrls = false;
  if (o.username === undefined && o.password === undefined && o.credentials === undefined) {
    urls.forEach((u, i) => {
      const c = urlCredentials(u);
      if (c === undefined) return;
      fromUrls = true;
      // every URL, not only the first with userinfo: each attempt sends its own
      if (v === 4 && c.password !== undefined && c.username === undefined) {
        throw new InvalidArgumentError(
          Array.isArray(o.url) ? `url[${i}]` : 'url',
          'has a password without a username, which MQTT 3.1.1 does not allow',
        );
      }
    });
  }
  const connectTimeout = int(o.connectTimeout ?? DEFAULTS.connectTimeout, 'connectTimeout', 1, 2 ** 31 - 1);
  const operationTimeout = int(
    o.operationTimeout ?? DEFAULTS.operationTimeout,
    'operationTimeout',
    0,
    2 ** 31 - 1,
  );
  const messageBuffer = int(o.messageBuffer ?? DEFAULTS.messageBuffer, 'messageBuffer', 1, 2 ** 31 - 1);

  let will: Will | undefined;
  if (o.will !== undefined) {
    const w = o.will;
    if (w === null || typeof w !== 'object') throw new InvalidArgumentError('will', 'must be an object');
    if (!isValidTopicName(w.topic)) throw new InvalidArgumentError('will.topic', `is not a valid topic name`);
    const qos = w.qos ?? 0;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw new InvalidArgumentError('will.qos', 'must be 0, 1 or 2');
    will = {
      topic: w.topic,
      payload: toBytes(w.payload, 'will.payload'),
      qos,
      retain: w.retain ?? false,
      properties: v === 5 ? w.properties : undefined,
    };
  }

  let connectProperties: ConnectProperties | undefined;
  if (v === 5) {
    connectProperties = {
      topicAliasMaximum: int(
        o.topicAliasMaximum ?? DEFAULTS.topicAliasMaximum,
        'topicAliasMaximum',
        0,
        65_535,
      ),
    };
    if (o.sessionExpiry !== undefined) {
      connectProperties.sessionExpiryInterval = int(o.sessionExpiry, 'sessionExpiry', 0, 0xffffffff);
    }
    if (o.receiveMaximum !== undefined) {
      connectProperties.receiveMaximum = int(o.receiveMaximum, 'receiveMaximum', 1, 65_535);
    }
    // always announced: a conforming broker then never sends more than this client accepts
    connectProperties.maximumPacketSize = int(
      o.maximumPacketSize ?? DEFAULTS.maximumPacketSize,
      'maximumPacketSize',
      16,
      268_435_460,
    );
    if (o.requestResponseInformation) connectProperties.requestResponseInformation = true;
    if (o.userProperties !== undefined) connectProperties.userProperties = o.userProperties;
    if (o.authenticationMethod !== undefined) {
      if (typeof o.authenticationMethod !== 'string') {
        throw new InvalidArgumentError('authenticationMethod', 'must be a string');
      }
      connectProperties.authenticationMethod = o.authenticationMethod;
      if (o.authenticationData !== undefined) {
        connectProperties.authenticationData = toBytes(o.authenticationData, 'authenticationData');
      }
    } else if (o.authenticationData !== undefined || o.authenticate !== undefined) {
      throw new InvalidArgumentError(
        'authenticationMethod',
        'is required with authenticationData or authenticate',
      );
    }
  } else {
    for (const name of [
      'sessionExpiry',
      'receiveMaximum',
      'topicAliasMaximum',
      'requestResponseInformation',
      'userProperties',
      'authenticationMethod',
      'authenticationData',
      'authenticate',
    ] as const) {
      if (o[name] !== undefined)
        throw new InvalidArgumentError(name, 'is an MQTT 5 feature; protocolVersion is 4');
    }
  }
  const maximumPacketSize = int(
    o.maximumPacketSize ?? DEFAULTS.maximumPacketSize,
    'maximumPacketSize',
    16,
    268_435_460,
  );
  if (o.authenticate !== undefined && typeof o.authenticate !== 'function') {
    throw new InvalidArgumentError('authenticate', 'must be a function');
  }

  const maxInflight = o.maxInflight === undefined ? undefined : int(o.maxInflight, 'maxInflight', 1, 65_535);
  const maximumQoS = qosOption(o.maximumQoS ?? 2, 'maximumQoS');
  const maxDeliveryAttempts = int(
    o.maxDeliveryAttempts ?? DEFAULTS.maxDeliveryAttempts,
    'maxDeliveryAttempts',
    0,
    2 ** 31 - 1,
  );
  return {
    url,
    urls,
    reconnect,
    autoVersion: asked === 'auto',
    maxInflight,
    maximumQoS,
    maxDeliveryAttempts,
    credentials: o.credentials,
    urlCredentials: fromUrls,
    store,
    offlineQueue,
    clientId,
    protocolVersion: v,
    clean,
    keepalive,
    username: o.username,
    password,
    will,
    connectTimeout,
    operationTimeout,
    topicAliases: o.topicAliases ?? true,
    connectProperties,
    authenticate: o.authenticate,
    tls: o.tls,
    ws: o.ws,
    messageBuffer,
    maximumPacketSize,
  };
}
