/**
 * The tables every option of the session layer is checked against (see
 * `core/schema.ts`): `new Session()`'s options with their nested objects,
 * and the options of `publish`, `subscribe`, `unsubscribe`, `connect` and
 * `close`. Types and ranges live here, once; what depends on several fields
 * (MQTT 5 options under `protocolVersion: 4`, a password without a user
 * name in 3.1.1) is checked by `resolveOptions`.
 */
import { isIP } from 'node:net';
import { isValidTopicName } from '../codec/topic.js';
import {
  anyObject,
  arrayOf,
  boolean,
  bytes,
  either,
  extend,
  func,
  hinted,
  int,
  kind,
  logger,
  MAX_MS,
  number,
  object,
  oneOf,
  qos,
  type Rule,
  signal,
  string,
  stringRecord,
  table,
  timeout,
  userProperties,
} from '../core/schema.js';
import { parseBrokerUrl } from '../core/url.js';

/** A broker URL: a string or a `URL` that `parseBrokerUrl` takes. */
const brokerUrl: Rule = (v) => {
  if (!(typeof v === 'string' && v !== '') && !(v instanceof URL)) {
    return `must be a non-empty string or URL, got ${kind(v)}`;
  }
  try {
    parseBrokerUrl(v); // a bad URL fails here, not at the first connect
    return undefined;
  } catch (err) {
    return (err as Error).message.replace(/^url: /, '');
  }
};

/** A local address to bind to: an IP address, not a host name (nothing is looked up). */
const ipAddress: Rule = (v) => {
  if (typeof v !== 'string') return `must be an IPv4 or IPv6 address, got ${kind(v)}`;
  return isIP(v) === 0 ? 'must be an IPv4 or IPv6 address (a host name is not looked up)' : undefined;
};

const topicName: Rule = (v) =>
  typeof v === 'string' && isValidTopicName(v) ? undefined : `must be a topic name without wildcards`;

const clientId: Rule = (v) =>
  typeof v === 'string' && Buffer.byteLength(v) <= 65_535 && !v.includes('\0')
    ? undefined
    : 'must be a string of at most 65535 bytes without U+0000';

const store: Rule = (v) => {
  const s = v as { load?: unknown; flush?: unknown } | null;
  return typeof v === 'object' && v !== null && typeof s?.load === 'function' && typeof s.flush === 'function'
    ? undefined
    : 'must implement SessionStore';
};

/** PEM text or DER/PEM bytes, one or several. */
const tlsMaterial: Rule = (v) => {
  const one = (x: unknown) => typeof x === 'string' || x instanceof Uint8Array;
  return one(v) || (Array.isArray(v) && v.every(one))
    ? undefined
    : `must be PEM text, a Buffer, or an array of them, got ${kind(v)}`;
};

const ms = int(0, MAX_MS);

const nonEmpty: Rule = (v) =>
  typeof v === 'string' && v !== '' ? undefined : `must be a non-empty string, got ${kind(v)}`;

export const RECONNECT = table({
  initialDelay: ms,
  maxDelay: ms,
  factor: number(1, Number.MAX_SAFE_INTEGER),
  jitter: number(0, 1),
  resetAfter: ms,
});

export const OFFLINE_QUEUE = table({
  maxMessages: ms,
  maxBytes: int(0),
  overflow: oneOf('reject', 'drop-oldest', 'drop-newest'),
  qos0: boolean,
});

export const WILL = table({ topic: topicName, payload: bytes, qos, retain: boolean, properties: anyObject }, [
  'topic',
  'payload',
]);

export const TLS = table({
  ca: tlsMaterial,
  cert: tlsMaterial,
  key: tlsMaterial,
  passphrase: string,
  servername: string,
  rejectUnauthorized: boolean,
  ALPNProtocols: arrayOf(string),
});

export const WS = table({ headers: stringRecord, protocol: string });

/** What MQTT.js's options are called here (see `Table.hints`), for its users' first try. */
const fromMqttJs = (name: string, ours: string, more = ''): string =>
  `MQTT.js's ${name} is ${ours} here${more}`;
const URL_HINT = "the broker is given by url ('mqtt://host:1883', or a list of URLs)";
const TLS_HINT = (name: string) => `TLS settings go under tls: { ${name}, ... }`;
const STORE_HINT = ': a SessionStore (MemoryStore, FileStore, RedisStore) keeps both directions';

/** `SessionOptions`: every field, its type and range. */
export const SESSION_OPTIONS = hinted(
  table(
    {
      url: either('a broker URL or a non-empty array of them', brokerUrl, arrayOf(brokerUrl, 1)),
      reconnect: object(RECONNECT, false),
      credentials: func,
      store,
      offlineQueue: object(OFFLINE_QUEUE),
      clientId,
      name: nonEmpty,
      logger,
      tracing: boolean,
      protocolVersion: oneOf(5, 4, 'auto'),
      clean: boolean,
      sessionExpiry: int(0, 0xffffffff),
      keepalive: int(0, 65_535),
      username: string,
      password: bytes,
      will: object(WILL),
      connectTimeout: int(1, MAX_MS),
      operationTimeout: ms,
      receiveMaximum: int(1, 65_535),
      maximumPacketSize: int(16, 268_435_460),
      topicAliasMaximum: int(0, 65_535),
      topicAliases: boolean,
      requestResponseInformation: boolean,
      userProperties,
      authenticationMethod: string,
      authenticationData: bytes,
      authenticate: func,
      tls: object(TLS),
      ws: object(WS),
      localAddress: ipAddress,
      messageBuffer: int(1, MAX_MS),
      maxInflight: int(1, 65_535),
      maximumQoS: qos,
      maxDeliveryAttempts: int(0),
    },
    ['url'],
  ),
  {
    properties:
      'the MQTT 5 CONNECT properties are options of their own here: sessionExpiry, receiveMaximum, maximumPacketSize, topicAliasMaximum, requestResponseInformation, userProperties, authenticationMethod, authenticationData',
    reconnectPeriod: fromMqttJs(
      'reconnectPeriod',
      'reconnect',
      ': { initialDelay, maxDelay }, or false for none',
    ),
    host: URL_HINT,
    hostname: URL_HINT,
    port: URL_HINT,
    protocol: URL_HINT,
    servers: URL_HINT,
    ca: TLS_HINT('ca'),
    cert: TLS_HINT('cert'),
    key: TLS_HINT('key'),
    passphrase: TLS_HINT('passphrase'),
    rejectUnauthorized: TLS_HINT('rejectUnauthorized'),
    servername: TLS_HINT('servername'),
    wsOptions: fromMqttJs('wsOptions', 'ws', ': { headers, protocol }'),
    queueQoSZero: fromMqttJs('queueQoSZero', 'offlineQueue.qos0'),
    autoUseTopicAlias: fromMqttJs('autoUseTopicAlias', 'topicAliases', ' (on by default)'),
    autoAssignTopicAlias: fromMqttJs('autoAssignTopicAlias', 'topicAliases', ' (on by default)'),
    resubscribe: 'the session always restores the subscriptions a broker did not keep',
    incomingStore: fromMqttJs('incomingStore', 'store', STORE_HINT),
    outgoingStore: fromMqttJs('outgoingStore', 'store', STORE_HINT),
  },
);

/** `OperationOptions`: what every call that waits for the broker takes. */
export const OPERATION_OPTIONS = table({ timeout, signal });

/** `PublishOptions`. */
export const PUBLISH_OPTIONS = hinted(
  extend(OPERATION_OPTIONS, { qos, retain: boolean, properties: anyObject }),
  { dup: 'the session sets dup itself when it sends a message again' },
);

/** `SubscribeOptions`. */
export const SUBSCRIBE_OPTIONS = hinted(
  extend(OPERATION_OPTIONS, {
    qos,
    noLocal: boolean,
    retainAsPublished: boolean,
    retainHandling: oneOf(0, 1, 2),
    manualAck: boolean,
    subscriptionIdentifier: int(1, 268_435_455),
    userProperties,
  }),
  {
    nl: fromMqttJs('nl', 'noLocal'),
    rap: fromMqttJs('rap', 'retainAsPublished'),
    rh: fromMqttJs('rh', 'retainHandling'),
    properties: 'subscriptionIdentifier and userProperties are options of their own here',
  },
);

/** The options of `connect()`. */
export const CONNECT_OPTIONS = table({ signal });

/** The options of `close()`: `timeout` 0 closes without waiting for operations in flight. */
export const CLOSE_OPTIONS = table({ timeout, reasonCode: int(0, 255) });
