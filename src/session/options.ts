/**
 * `SessionOptions`: what a user passes to `new Session()`, with documented
 * defaults, validated once in the constructor into `ResolvedOptions`. Every
 * problem throws {@link InvalidArgumentError} naming the option; secrets
 * (password, keys) never appear in a message.
 */
import { randomBytes } from 'node:crypto';
import type { ConnectProperties, ProtocolVersion, QoS, Will, WillProperties } from '../codec/types.js';
import { InvalidArgumentError } from '../core/errors.js';
import { INSPECT, type Inspect, type InspectOptions, inspectAs, REDACTED } from '../core/inspect.js';
import type { Logger } from '../core/logger.js';
import { checkOptions } from '../core/schema.js';
import { redact, urlCredentials } from '../core/url.js';
import {
  type UserPropertiesInit,
  userPropertyPairs,
  withUserPropertyPairs,
} from '../core/user-properties.js';
import { toBytes } from '../core/validate.js';
import { MemoryStore } from '../store/memory.js';
import type { SessionStore } from '../store/types.js';
import type { TlsOptions, WebSocketOptions } from '../transport/types.js';
import { SESSION_OPTIONS } from './schema.js';

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
  properties?: WillPropertiesInit;
}

/**
 * MQTT 5 will properties as `will.properties` takes them: `userProperties`
 * as `[name, value]` pairs or MQTT.js's object (see {@link UserPropertiesInit}).
 */
export type WillPropertiesInit = Omit<WillProperties, 'userProperties'> & {
  /** Sent in order; `{ name: 'value' }` and `{ name: ['a', 'b'] }` are taken too. */
  userProperties?: UserPropertiesInit;
};

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
   * ms a connection must stay up before the backoff starts again from `initialDelay`: a broker
   * that accepts each connection and drops it at once meets longer and longer waits. @default 10000
   */
  resetAfter?: number;
}

/** The defaults of {@link ReconnectOptions}. */
export const RECONNECT_DEFAULTS: Readonly<Required<ReconnectOptions>> = Object.freeze({
  initialDelay: 1000,
  maxDelay: 120_000,
  factor: 2,
  jitter: 0.25,
  resetAfter: 10_000,
});

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
  /**
   * Reconnect after a lost connection, or `false`.
   * @default { initialDelay: 1000, maxDelay: 120000, factor: 2, jitter: 0.25, resetAfter: 10000 }
   */
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
   * What this session is called in logs and traces (the `mqttkit.session.name` span attribute).
   * A `SessionManager` sets it to the session's name. @default none
   */
  name?: string;
  /**
   * Where the session logs its life (connects, disconnects with reasons, reconnects, drops): a
   * pino logger or anything with its `debug`/`info`/`warn`/`error` methods. Nothing is logged per
   * message at `info`. @default none: the session logs nothing
   */
  logger?: Logger;
  /**
   * Spans for publishes and received messages, with W3C trace context carried in MQTT 5 user
   * properties, whenever an OpenTelemetry tracer provider is registered (`@opentelemetry/api`, an
   * optional peer dependency); `false`: never. See docs/observability.md. @default true
   */
  tracing?: boolean;
  /**
   * 5 (MQTT 5.0), 4 (MQTT 3.1.1), or `'auto'`: MQTT 5, falling back to 3.1.1 when the broker
   * refuses 5 (a 3.1.1-style refusal, or a close before CONNACK); the version found is kept for
   * the reconnects. Under `'auto'` the MQTT 5 options are allowed and apply while 5 is in use.
   * @default 5
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
  /**
   * The local IP address connections are made from (like emqtt-bench's
   * `--ifaddr`): one address gives at most about 28,000 connections (the
   * ephemeral ports), so a fleet larger than that spreads its sessions over
   * several (`127.0.0.2`, `127.0.0.3`, ... on loopback). Not for `unix://`
   * URLs. @default the address the system picks for the route
   */
  localAddress?: string;
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
  /** User properties sent in CONNECT (MQTT 5): `[name, value]` pairs or MQTT.js's object. */
  userProperties?: UserPropertiesInit;
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

/**
 * `SessionOptions` checked, with every default filled in. `util.inspect`
 * and `JSON.stringify` show it without its secrets.
 */
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
  /** What logs and traces call the session. */
  name: string | undefined;
  logger: Logger | undefined;
  tracing: boolean;
  /** The version to connect with first: 5 under `'auto'`. */
  protocolVersion: ProtocolVersion;
  /** `protocolVersion: 'auto'`: fall back to 3.1.1 when the broker refuses 5. */
  autoVersion: boolean;
  clean: boolean;
  keepalive: number;
  username: string | undefined;
  password: Uint8Array | undefined;
  will: Will | undefined;
  connectTimeout: number;
  localAddress: string | undefined;
  operationTimeout: number;
  topicAliases: boolean;
  connectProperties: ConnectProperties | undefined;
  authenticate: Authenticator | undefined;
  tls: TlsOptions | undefined;
  ws: WebSocketOptions | undefined;
  messageBuffer: number;
  maximumPacketSize: number;
  /** Undefined when not set: the engine then holds 3.1.1 QoS 2 to `DEFAULT_MAX_INFLIGHT` (see the engine). */
  maxInflight: number | undefined;
  maximumQoS: QoS;
  /** 0: no limit. */
  maxDeliveryAttempts: number;
}

/** The defaults of {@link SessionOptions} (see also {@link RECONNECT_DEFAULTS}). */
export const DEFAULTS = {
  protocolVersion: 5,
  clean: true,
  keepalive: 60,
  connectTimeout: 30_000,
  operationTimeout: 60_000,
  topicAliasMaximum: 64,
  messageBuffer: 1000,
  maximumQoS: 2,
  maxDeliveryAttempts: 5,
  /**
   * 16 MiB: a bound on what one broker can make a session buffer. Far above what managed brokers
   * deliver (AWS IoT Core 128 KB, EMQX's default max_packet_size 1 MB), and room for the files and
   * images sent through mosquitto or HiveMQ, whose defaults have no limit (256 MiB).
   */
  maximumPacketSize: 16 * 1024 * 1024,
} as const;

/**
 * Checks `o` against the table of every option (`schema.ts`), then what
 * depends on several options, and fills in the defaults.
 */
export function resolveOptions(o: SessionOptions): ResolvedOptions {
  checkOptions(o, SESSION_OPTIONS, '');
  const list = Array.isArray(o.url) ? o.url : [o.url];
  const urls = list.map((u) => (u instanceof URL ? u.href : u));
  const url = urls[0];
  const r = o.reconnect;
  const reconnect: Required<ReconnectOptions> | false =
    r === false
      ? false
      : {
          initialDelay: r?.initialDelay ?? RECONNECT_DEFAULTS.initialDelay,
          // a maxDelay below initialDelay means initialDelay
          maxDelay: Math.max(
            r?.maxDelay ?? RECONNECT_DEFAULTS.maxDelay,
            r?.initialDelay ?? RECONNECT_DEFAULTS.initialDelay,
          ),
          factor: r?.factor ?? RECONNECT_DEFAULTS.factor,
          jitter: r?.jitter ?? RECONNECT_DEFAULTS.jitter,
          resetAfter: r?.resetAfter ?? RECONNECT_DEFAULTS.resetAfter,
        };
  const store = o.store ?? new MemoryStore();
  const q = o.offlineQueue;
  const offlineQueue: Required<OfflineQueueOptions> = {
    maxMessages: q?.maxMessages ?? 10_000,
    maxBytes: q?.maxBytes ?? 64 * 1024 * 1024,
    overflow: q?.overflow ?? 'reject',
    qos0: q?.qos0 ?? false,
  };
  const requested = o.protocolVersion ?? DEFAULTS.protocolVersion;
  const autoVersion = requested === 'auto';
  // 'auto' starts with MQTT 5: its options apply while 5 is in use
  const v: ProtocolVersion = requested === 'auto' ? 5 : requested;
  const clientId = o.clientId ?? `mqttkit-${randomBytes(6).toString('hex')}`;
  const clean = o.clean ?? DEFAULTS.clean;
  if (v === 4 && clientId === '' && !clean) {
    throw new InvalidArgumentError('clientId', 'may be empty only with clean: true in MQTT 3.1.1');
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

  let will: Will | undefined;
  const w = o.will;
  if (w !== undefined) {
    will = {
      topic: w.topic,
      payload: toBytes(w.payload, 'will.payload'),
      qos: w.qos ?? 0,
      retain: w.retain ?? false,
      properties:
        v === 5 && w.properties !== undefined
          ? withUserPropertyPairs(w.properties, 'will.properties')
          : undefined,
    };
  }

  let connectProperties: ConnectProperties | undefined;
  if (v === 5) {
    connectProperties = { topicAliasMaximum: o.topicAliasMaximum ?? DEFAULTS.topicAliasMaximum };
    if (o.sessionExpiry !== undefined) connectProperties.sessionExpiryInterval = o.sessionExpiry;
    if (o.receiveMaximum !== undefined) connectProperties.receiveMaximum = o.receiveMaximum;
    // always announced: a conforming broker then never sends more than this client accepts
    connectProperties.maximumPacketSize = o.maximumPacketSize ?? DEFAULTS.maximumPacketSize;
    if (o.requestResponseInformation) connectProperties.requestResponseInformation = true;
    if (o.userProperties !== undefined) {
      connectProperties.userProperties = userPropertyPairs(o.userProperties, 'userProperties');
    }
    if (o.authenticationMethod !== undefined) {
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
    for (const name of MQTT5_ONLY) {
      if (o[name] !== undefined)
        throw new InvalidArgumentError(name, "is an MQTT 5 feature; protocolVersion is 4 (use 5 or 'auto')");
    }
  }

  const resolved: ResolvedOptions = {
    url,
    urls,
    reconnect,
    credentials: o.credentials,
    urlCredentials: fromUrls,
    store,
    offlineQueue,
    clientId,
    name: o.name,
    logger: o.logger,
    tracing: o.tracing ?? true,
    protocolVersion: v,
    autoVersion,
    clean,
    keepalive: o.keepalive ?? DEFAULTS.keepalive,
    username: o.username,
    password,
    will,
    connectTimeout: o.connectTimeout ?? DEFAULTS.connectTimeout,
    localAddress: o.localAddress,
    operationTimeout: o.operationTimeout ?? DEFAULTS.operationTimeout,
    topicAliases: o.topicAliases ?? true,
    connectProperties,
    authenticate: o.authenticate,
    tls: o.tls,
    ws: o.ws,
    messageBuffer: o.messageBuffer ?? DEFAULTS.messageBuffer,
    maximumPacketSize: o.maximumPacketSize ?? DEFAULTS.maximumPacketSize,
    maxInflight: o.maxInflight,
    maximumQoS: o.maximumQoS ?? DEFAULTS.maximumQoS,
    maxDeliveryAttempts: o.maxDeliveryAttempts ?? DEFAULTS.maxDeliveryAttempts,
  };
  // what holds secrets (URLs with userinfo or a token, the password, keys) is never printed
  Object.defineProperties(resolved, {
    [INSPECT]: { value: inspectResolved },
    toJSON: { value: printableOptions },
  });
  return resolved;
}

/** The options only MQTT 5 has: refused with `protocolVersion: 4`. */
const MQTT5_ONLY = [
  'sessionExpiry',
  'receiveMaximum',
  'topicAliasMaximum',
  'requestResponseInformation',
  'userProperties',
  'authenticationMethod',
  'authenticationData',
  'authenticate',
] as const;

/** `ResolvedOptions` without its secrets, for `util.inspect` and `JSON.stringify`. */
function printableOptions(this: ResolvedOptions): Record<string, unknown> {
  const { tls, ws, connectProperties: cp, password, logger, ...rest } = this;
  return {
    ...rest,
    // a logger object (pino's holds streams and their state) is not an option to show
    logger: logger === undefined ? undefined : '[Logger]',
    url: redact(this.url),
    urls: this.urls.map(redact),
    password: password === undefined ? undefined : REDACTED,
    connectProperties: cp?.authenticationData === undefined ? cp : { ...cp, authenticationData: REDACTED },
    tls:
      tls === undefined
        ? undefined
        : {
            ...tls,
            key: tls.key === undefined ? undefined : REDACTED,
            passphrase: tls.passphrase && REDACTED,
          },
    ws:
      ws?.headers === undefined
        ? ws
        : { ...ws, headers: Object.fromEntries(Object.keys(ws.headers).map((k) => [k, REDACTED])) },
  };
}

function inspectResolved(
  this: ResolvedOptions,
  depth: number,
  options: InspectOptions,
  inspect: Inspect,
): string {
  return inspectAs('ResolvedOptions', printableOptions.call(this), depth, options, inspect);
}
