/**
 * How `RpcClient` works. All of a client's requests share one response
 * subscription, made by `start()` or the first request: `responseTopic` if
 * given, else `{Response Information or client id}/rpc/res`, with `/2`,
 * `/3`... for a session's second and later clients so their responses do
 * not cross.
 *
 * A response is matched to its request by correlation data: 16 random bytes
 * cut from a 4 KiB pool filled by `randomFillSync` (a fresh pool each time,
 * never reused: ids handed out may still wait in the offline queue), read
 * as a latin1 string key into the pending map. With MQTT 5 they travel as
 * the Correlation Data property, with 3.1.1 in mqttkit's envelope
 * (`envelope.ts`). A response whose key is not pending is counted as
 * unmatched and dropped.
 *
 * Each request is one `Pending`: its entry in the map, and its entry in the
 * shared coarse timer for the timeout (no `setTimeout` per request). It is
 * put in the map before the request is published, so a response that
 * arrives at once finds it. `#settle` is the one way out (response,
 * timeout, abort signal, failed publish, `close()`): it removes the map
 * entry, the timer entry and the abort listener together, so nothing is
 * left behind.
 */
import { randomFillSync } from 'node:crypto';
import { isValidTopicName } from '../codec/topic.js';
import type { PublishProperties, QoS } from '../codec/types.js';
import {
  AbortError,
  ClosedError,
  InvalidArgumentError,
  ProtocolError,
  RpcError,
  TimeoutError,
} from '../core/errors.js';
import { checkOptions } from '../core/schema.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import {
  type Message,
  type PublishPropertiesInit,
  type Session,
  type Subscription,
  tracerOf,
} from '../session/index.js';
import { type RpcSpan, withOwnSpans } from '../tracing/hooks.js';
import { decodeResponse, encodeRequest } from './envelope.js';
import { CLIENT_OPTIONS, REQUEST_OPTIONS } from './schema.js';
import type { RequestOptions, RpcClientMetrics, RpcClientOptions } from './types.js';

const CORRELATION_BYTES = 16;
const POOL_BYTES = 4096;
const JSON_TYPE = 'application/json';

/** Makes an `RpcResponse`, whose constructor is private (set in its static block). */
let newResponse: (topic: string, payload: Buffer, properties: PublishProperties | undefined) => RpcResponse;

/**
 * A successful response to a request: what {@link RpcClient.request} resolves with. An error
 * response rejects with {@link RpcError} instead.
 */
export class RpcResponse {
  static {
    newResponse = (topic, payload, properties) => new RpcResponse(topic, payload, properties);
  }

  /** Private: responses are made by `RpcClient`. */
  private constructor(
    /** The response topic it arrived on. */
    readonly topic: string,
    /** The response body; with MQTT 3.1.1, already taken out of mqttkit's envelope. */
    readonly payload: Buffer,
    /** MQTT 5 properties of the response (for 3.1.1, only `contentType`). */
    readonly properties: PublishProperties | undefined,
  ) {}

  /** The payload as UTF-8 text. */
  text(): string {
    return this.payload.toString();
  }

  /** The payload parsed as JSON (not checked against `T`). @throws SyntaxError when it is not JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.payload.toString()) as T;
  }
}

/** Lets a pending request reach its client's private side (set in `RpcClient`'s static block). */
let requestTimedOut: (client: RpcClient, p: Pending) => void;

/** A request waiting for its response: an entry in the pending map and in the shared timer. */
class Pending extends TimerEntry {
  resolve!: (r: RpcResponse) => void;
  reject!: (e: Error) => void;
  signal: AbortSignal | undefined = undefined;
  onAbort: (() => void) | undefined = undefined;
  /** The client span, when traced. */
  span: RpcSpan | undefined = undefined;
  constructor(
    readonly client: RpcClient,
    readonly key: string,
    readonly topic: string,
  ) {
    super();
  }
  expire(): void {
    requestTimedOut(this.client, this);
  }
}

/**
 * `await request(topic, payload)` over one session, with many requests in
 * flight on one response subscription.
 *
 * ```ts
 * const rpc = new RpcClient(session);
 * const res = await rpc.request('api/devices/42/get', '', { timeout: 5000 });
 * const updated = await rpc.requestJson('api/devices/42/update', { name: 'pump' }); // JSON in and out
 * ```
 *
 * Each request gets 128 bits of random correlation data; its pending entry is
 * removed on the response, the timeout, the signal, a failed publish and
 * {@link RpcClient.close}: nothing is left behind. With MQTT 5 the request
 * carries Response Topic and Correlation Data, as any MQTT 5 responder
 * expects. With MQTT 3.1.1 it is wrapped in mqttkit's envelope, which an
 * mqttkit {@link RpcServer} understands.
 *
 * @throws {@link InvalidArgumentError} from the constructor when an option is not valid.
 */
export class RpcClient {
  static {
    requestTimedOut = (client, p) => client.#timedOut(p);
  }

  /** The session requests are published and responses received on. */
  readonly session: Session;
  readonly #pending = new Map<string, Pending>();
  readonly #timeout: number;
  readonly #qos: QoS;
  readonly #envelopeTrace: boolean;
  readonly #explicitTopic: string | undefined;
  /** Which of its session's clients this is (1, 2, ...): the default topic of the second ends in /2. */
  readonly #index: number = 1;
  #topic: string | undefined = undefined;
  #subscription: Subscription | undefined = undefined;
  #starting: Promise<void> | undefined = undefined;
  #closed = false;
  #pool: Buffer = Buffer.alloc(0);
  #poolPos = 0;
  readonly #counters = { sent: 0, received: 0, unmatched: 0, timeouts: 0, errors: 0 };
  // its messages end the client spans: no process span of their own
  readonly #onResponse = withOwnSpans((m: Message): void => this.#response(m));

  constructor(session: Session, options: RpcClientOptions = {}) {
    if (session === null || typeof session !== 'object' || typeof session.publish !== 'function') {
      throw new InvalidArgumentError('session', 'must be a Session');
    }
    checkOptions(options, CLIENT_OPTIONS, 'options');
    this.session = session;
    this.#timeout = options.timeout ?? 30_000;
    this.#qos = options.qos ?? 1;
    this.#envelopeTrace = options.envelopeTrace ?? true;
    this.#explicitTopic = options.responseTopic;
    if (this.#explicitTopic === undefined) {
      this.#index = (clientsPerSession.get(session) ?? 0) + 1;
      clientsPerSession.set(session, this.#index);
    }
  }

  /** The topic responses come back on (known once started). */
  get responseTopic(): string | undefined {
    return this.#topic;
  }

  /**
   * Subscribes to the response topic (the first request does it too).
   * Rejects like `Session.subscribe` (e.g. when the session is not connected).
   */
  start(): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError('the RPC client is closed'));
    if (this.#starting === undefined) {
      const topic = this.#explicitTopic ?? defaultResponseTopic(this.session, this.#index);
      this.#starting = this.session.subscribe(topic, { qos: this.#qos }, this.#onResponse).then(
        (sub) => {
          this.#subscription = sub;
          this.#topic = topic;
          if (this.#closed) void sub.unsubscribe().catch(() => undefined);
        },
        (err: unknown) => {
          this.#starting = undefined; // the next request tries again
          throw err;
        },
      );
    }
    return this.#starting;
  }

  /**
   * Publishes a request and resolves with its response. Rejects with
   * `RpcError` (the responder answered with an error: `status`, message),
   * `TimeoutError`, `AbortError`, `ClosedError`, or the publish's own error.
   */
  request(topic: string, payload: string | Uint8Array, options: RequestOptions = {}): Promise<RpcResponse> {
    if (this.#closed) return Promise.reject(new ClosedError('the RPC client is closed'));
    try {
      // before anything starts: a bad signal or timeout must not leave an entry or a timer behind
      checkOptions(options, REQUEST_OPTIONS, 'options');
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#topic === undefined) return this.start().then(() => this.request(topic, payload, options));
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new AbortError(`request to '${topic}' was aborted`));
    const timeout = options.timeout ?? this.#timeout;
    const qos: QoS = options.qos ?? this.#qos;
    const correlation = this.#nextCorrelation();
    const key = correlation.toString('latin1');
    const p = new Pending(this, key, topic);
    const promise = new Promise<RpcResponse>((resolve, reject) => {
      p.resolve = resolve;
      p.reject = reject;
    });
    // registered before the publish: a response cannot arrive before its entry
    this.#pending.set(key, p);
    if (timeout > 0) {
      p.deadline = Date.now() + timeout;
      sharedTimer.add(p);
    }
    if (signal !== undefined) {
      p.signal = signal;
      p.onAbort = () => this.#settle(p, new AbortError(`request to '${topic}' was aborted`));
      signal.addEventListener('abort', p.onAbort, { once: true });
    }
    const span = tracerOf(this.session)?.rpcRequest(topic);
    p.span = span;
    let published: Promise<unknown> | undefined;
    if (span === undefined) published = this.#publish(p, payload, options.properties, qos, correlation);
    else published = span.run(() => this.#publish(p, payload, options.properties, qos, correlation));
    if (published === undefined) return promise;
    this.#counters.sent++;
    published.then(undefined, (err: Error) => {
      if (this.#pending.get(key) !== p) return; // settled already (close, timeout, abort)
      this.#counters.errors++;
      this.#settle(p, err);
    });
    return promise;
  }

  /** Publishes the request of `p` (undefined when it cannot be encoded: `p` is settled). */
  #publish(
    p: Pending,
    payload: string | Uint8Array,
    props: PublishPropertiesInit | undefined,
    qos: QoS,
    correlation: Buffer,
  ): Promise<unknown> | undefined {
    const topic = p.topic;
    if (this.session.protocolVersion === 5) {
      return this.session.publish(topic, payload, {
        qos,
        properties:
          props === undefined
            ? { responseTopic: this.#topic, correlationData: correlation }
            : { ...props, responseTopic: this.#topic, correlationData: correlation },
      });
    }
    const body = typeof payload === 'string' ? Buffer.from(payload) : payload;
    let wrapped: Buffer;
    try {
      wrapped = encodeRequest(
        correlation,
        this.#topic as string,
        props?.contentType,
        body,
        this.#envelopeTrace ? p.span?.carrier() : undefined,
      );
    } catch (err) {
      this.#settle(p, new InvalidArgumentError('options.properties', (err as Error).message));
      return undefined;
    }
    return this.session.publish(topic, wrapped, { qos });
  }

  /**
   * `request` with a JSON body (content type `application/json`), resolving
   * with the parsed response (undefined for an empty one). Rejects as
   * `request` does, and with `ProtocolError` when the response is not JSON.
   */
  async requestJson<T = unknown>(topic: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    checkOptions(options, REQUEST_OPTIONS, 'options');
    const properties: PublishPropertiesInit = { ...options.properties, contentType: JSON_TYPE };
    const res = await this.request(topic, JSON.stringify(body) ?? 'null', { ...options, properties });
    if (res.payload.length === 0) return undefined as T;
    try {
      return res.json<T>();
    } catch (err) {
      throw new ProtocolError(
        `the response to '${topic}' is not JSON: ${(err as Error).message}`,
        undefined,
        {
          cause: err,
        },
      );
    }
  }

  /** Counters since the client was made, and the requests pending now, as a new object. */
  metrics(): RpcClientMetrics {
    return { pending: this.#pending.size, ...this.#counters };
  }

  /** Rejects every pending request with `ClosedError` and unsubscribes the response topic. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of [...this.#pending.values()])
      this.#settle(p, new ClosedError('the RPC client was closed'));
    const sub = this.#subscription;
    this.#subscription = undefined;
    if (sub !== undefined) await sub.unsubscribe().catch(() => undefined);
  }

  #timedOut(p: Pending): void {
    this.#counters.timeouts++;
    this.#settle(p, new TimeoutError(`no response to the request to '${p.topic}' in time`));
  }

  #response(m: Message): void {
    let correlation: Uint8Array | undefined;
    let payload = m.payload;
    let properties = m.properties;
    let status = 0;
    let message = '';
    if (this.session.protocolVersion === 5) {
      correlation = properties?.correlationData;
      const up = properties?.userProperties;
      if (up !== undefined) {
        for (const [k, v] of up) {
          if (k === 'status') status = Number(v) || 0;
          else if (k === 'error') message = v;
        }
      }
    } else {
      const r = decodeResponse(payload);
      if (r === undefined) {
        this.#counters.unmatched++;
        return;
      }
      correlation = r.correlation;
      payload = r.body;
      properties = r.contentType === undefined ? undefined : { contentType: r.contentType };
      status = r.status;
      message = r.message;
    }
    if (correlation === undefined) {
      this.#counters.unmatched++;
      return;
    }
    const key = Buffer.from(correlation.buffer, correlation.byteOffset, correlation.byteLength).toString(
      'latin1',
    );
    const p = this.#pending.get(key);
    if (p === undefined) {
      this.#counters.unmatched++;
      return;
    }
    this.#counters.received++;
    if (status >= 400) {
      this.#counters.errors++;
      this.#settle(p, new RpcError(status, message || `the responder answered ${status}`));
    } else {
      this.#settle(p, undefined, newResponse(m.topic, payload, properties));
    }
  }

  #settle(p: Pending, error: Error | undefined, response?: RpcResponse): void {
    if (this.#pending.get(p.key) !== p) return;
    this.#pending.delete(p.key);
    sharedTimer.remove(p);
    if (p.onAbort !== undefined) p.signal?.removeEventListener('abort', p.onAbort);
    if (p.span !== undefined) p.span.end(error);
    if (error !== undefined) p.reject(error);
    else p.resolve(response as RpcResponse);
  }

  #nextCorrelation(): Buffer {
    if (this.#poolPos + CORRELATION_BYTES > this.#pool.length) {
      // a fresh pool each time: ids handed out earlier may still wait in the offline queue
      this.#pool = randomFillSync(Buffer.allocUnsafe(POOL_BYTES));
      this.#poolPos = 0;
    }
    const id = this.#pool.subarray(this.#poolPos, this.#poolPos + CORRELATION_BYTES);
    this.#poolPos += CORRELATION_BYTES;
    return id;
  }
}

/** RpcClients made on each session: the second and later get their own response topic. */
const clientsPerSession = new WeakMap<Session, number>();

function defaultResponseTopic(session: Session, n: number): string {
  const info = session.connack?.properties?.responseInformation;
  const base =
    info !== undefined && isValidTopicName(info)
      ? `${info.replace(/\/+$/, '')}/rpc/res`
      : `${session.clientId}/rpc/res`;
  return n === 1 ? base : `${base}/${n}`;
}
