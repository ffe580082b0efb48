/**
 * A fluent builder for the options of one managed session:
 *
 * ```ts
 * manager.add(
 *   new SessionBuilder('plant-a')
 *     .url('mqtts://broker:8883')
 *     .clientId('gw-a')
 *     .auth('gw', password)
 *     .clean(false)
 *     .sessionExpiry(3600)
 *     .subscribe('plant/a/#', 1)
 *     .build(),
 * );
 * ```
 *
 * The builder only collects: `build()` checks what it alone can know (a
 * name, at least one URL, TLS URLs for `SessionBuilder.secure`) and every other
 * option is validated by `new Session()`, as for options written by hand.
 * A builder can be built many times: each `build()` returns a fresh object
 * whose arrays and plain objects are copies (stores, functions and buffers
 * are shared).
 */
import type { QoS } from '../codec/types.js';
import { InvalidArgumentError } from '../core/errors.js';
import { isTlsScheme } from '../core/url.js';
import type {
  Credentials,
  OfflineQueueOptions,
  ReconnectOptions,
  SessionOptions,
  WillOptions,
} from '../session/index.js';
import type { SessionStore } from '../store/types.js';
import type { TlsOptions, WebSocketOptions } from '../transport/types.js';
import { PROTOCOL_VERSIONS, type ProtocolVersionInput } from './protocol-version.js';
import type {
  FleetHandler,
  ManagedSessionOptions,
  SessionOptionsBuilder,
  SessionSubscription,
} from './types.js';

/** A broker URL, or several tried in turn: what `SessionOptions.url` takes. */
export type BrokerUrl = SessionOptions['url'];

/**
 * Collects the options of one managed session: `new SessionBuilder(name)`,
 * or the presets {@link SessionBuilder.quick} and {@link SessionBuilder.secure}. Setters
 * return `this`. Scalar setters replace an earlier value; the object
 * setters `tls()`, `ws()`, `reconnect()` and `offlineQueue()` merge their
 * fields over an earlier call's (so `SessionBuilder.secure(…).tls({ servername })` keeps
 * the TLS settings given to `secure`). `options()` assigns whole fields.
 */
export class SessionBuilder implements SessionOptionsBuilder {
  readonly #name: string;
  #options: Partial<SessionOptions> = {};
  readonly #subscriptions: SessionSubscription[] = [];
  #requireTls = false;

  /** `name` is checked by `build()`. */
  constructor(name: string) {
    this.#name = name;
  }

  /**
   * A builder with defaults for trying things: a clean session, keepalive 30 s,
   * a 10 s connect timeout and quick reconnects (0.5 s up to 10 s). Every one
   * can be changed with the setters.
   */
  static quick(name: string, url: BrokerUrl, clientId?: string): SessionBuilder {
    const b = new SessionBuilder(name)
      .url(url)
      .clean(true)
      .keepAlive(30)
      .options({ connectTimeout: 10_000 })
      .reconnect({ initialDelay: 500, maxDelay: 10_000 });
    if (clientId !== undefined) b.clientId(clientId);
    return b;
  }

  /**
   * A builder for a session that must use TLS: `build()` refuses a URL that
   * is not `mqtts://`, `tls://`, `ssl://` or `wss://` (InvalidArgumentError
   * `url`), and the server certificate is verified (`rejectUnauthorized:
   * true`) unless `tls` says otherwise.
   */
  static secure(name: string, url: BrokerUrl, tls: TlsOptions = {}): SessionBuilder {
    return new SessionBuilder(name)
      .url(url)
      .tls({ rejectUnauthorized: true, ...tls })
      .requireTls();
  }

  /** The broker, or several brokers tried in turn when a connection attempt fails. */
  url(url: BrokerUrl): this {
    this.#options.url = Array.isArray(url) ? [...url] : url;
    return this;
  }

  /** The MQTT client identifier. */
  clientId(id: string): this {
    this.#options.clientId = id;
    return this;
  }

  /** Username and (optionally) password sent in CONNECT; a password already set is removed when none is given. */
  auth(username: string, password?: string | Uint8Array): this {
    this.#options.username = username;
    if (password === undefined) delete this.#options.password;
    else this.#options.password = password;
    return this;
  }

  /** Called before every connection attempt; its result replaces username/password (e.g. a fresh JWT). */
  credentials(fn: () => Promise<Credentials> | Credentials): this {
    this.#options.credentials = fn;
    return this;
  }

  /** TLS settings for `mqtts://` and `wss://`, merged over earlier ones. */
  tls(options: TlsOptions): this {
    this.#options.tls = { ...this.#options.tls, ...options };
    return this;
  }

  /** WebSocket settings for `ws://` and `wss://`, merged over earlier ones. */
  ws(options: WebSocketOptions): this {
    this.#options.ws = { ...this.#options.ws, ...options };
    return this;
  }

  /** Keepalive in seconds; 0 turns it off. */
  keepAlive(seconds: number): this {
    this.#options.keepalive = seconds;
    return this;
  }

  /** Reconnect backoff, merged over earlier settings, or `false` for no reconnect. */
  reconnect(options: ReconnectOptions | false): this {
    const previous = this.#options.reconnect;
    this.#options.reconnect = options === false ? false : { ...(previous || undefined), ...options };
    return this;
  }

  /** Where in-flight messages, the offline queue and subscriptions are kept. */
  store(store: SessionStore): this {
    this.#options.store = store;
    return this;
  }

  /** Bounds of the queue of publishes made while offline, merged over earlier settings. */
  offlineQueue(options: OfflineQueueOptions): this {
    this.#options.offlineQueue = { ...this.#options.offlineQueue, ...options };
    return this;
  }

  /**
   * The MQTT version: 5 (also `'5'`, `'5.0'`), 4 (also `'3.1.1'`, `'4'`), or `'auto'` (5, falling
   * back to 3.1.1 when the broker refuses it).
   * Throws {@link InvalidArgumentError} (`protocolVersion`) at once for anything else.
   */
  version(version: ProtocolVersionInput): this {
    const resolved = PROTOCOL_VERSIONS.get(version);
    if (resolved === undefined) {
      throw new InvalidArgumentError('protocolVersion', "must be 5, '5', '5.0', 4, '4', '3.1.1' or 'auto'");
    }
    this.#options.protocolVersion = resolved;
    return this;
  }

  /** Clean Start (MQTT 5) / Clean Session (3.1.1). */
  clean(clean = true): this {
    this.#options.clean = clean;
    return this;
  }

  /** Seconds the broker keeps the session after a disconnect (MQTT 5). */
  sessionExpiry(seconds: number): this {
    this.#options.sessionExpiry = seconds;
    return this;
  }

  /** The will message the broker publishes when the session disappears without DISCONNECT. */
  will(will: WillOptions): this {
    this.#options.will = will;
    return this;
  }

  /** A subscription the session holds from its first connect on; call it once per filter. */
  subscribe(filter: string, qos?: QoS, handler?: FleetHandler): this {
    const subscription: SessionSubscription = { filter };
    if (qos !== undefined) subscription.qos = qos;
    if (handler !== undefined) subscription.handler = handler;
    this.#subscriptions.push(subscription);
    return this;
  }

  /** Any other `SessionOptions` (escape hatch): each field given replaces what was set before. */
  options(options: Partial<SessionOptions>): this {
    this.#options = { ...this.#options, ...options };
    return this;
  }

  /**
   * The options collected, as a fresh object. Throws
   * {@link InvalidArgumentError} naming `name` (not a non-empty string),
   * `url` (none given) or `url`/`url[i]` (not TLS, for {@link SessionBuilder.secure}).
   * Everything else is checked by `new Session()`.
   */
  build(): ManagedSessionOptions {
    const name = this.#name;
    if (typeof name !== 'string' || name.length === 0) {
      throw new InvalidArgumentError('name', 'must be a non-empty string');
    }
    const url = this.#options.url;
    if (url === undefined || (Array.isArray(url) && url.length === 0)) {
      throw new InvalidArgumentError('url', 'is required');
    }
    if (this.#requireTls) checkTls(url);
    const built = copy({ ...this.#options, url }) as SessionOptions;
    const result: ManagedSessionOptions = { ...built, name };
    if (this.#subscriptions.length > 0) result.subscriptions = this.#subscriptions.map((s) => ({ ...s }));
    return result;
  }

  /** Makes `build()` refuse a URL without TLS (see {@link SessionBuilder.secure}). */
  requireTls(): this {
    this.#requireTls = true;
    return this;
  }
}

/** Throws InvalidArgumentError (`url`, or `url[i]` in a list) for a URL whose scheme does not carry TLS. */
function checkTls(url: BrokerUrl): void {
  const list: readonly (string | URL)[] = Array.isArray(url) ? url : [url as string | URL];
  list.forEach((u, i) => {
    const text = u instanceof URL ? u.href : String(u);
    // only the scheme is echoed: the rest may hold a password
    const scheme = /^([A-Za-z][A-Za-z0-9+.-]*:)/.exec(text)?.[1]?.toLowerCase();
    if (scheme === undefined || !isTlsScheme(scheme)) {
      throw new InvalidArgumentError(
        Array.isArray(url) ? `url[${i}]` : 'url',
        `must use TLS (mqtts://, tls://, ssl:// or wss://) in a secure session${scheme === undefined ? '' : `, not ${scheme}//`}`,
      );
    }
  });
}

/** Copies arrays and plain objects, recursively; everything else (stores, URLs, buffers, functions) is shared. */
function copy(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(copy);
  if (value !== null && typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) return value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = copy(v);
    return out;
  }
  return value;
}
