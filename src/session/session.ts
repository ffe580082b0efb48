/**
 * `Session`: one MQTT session over many network connections in its life.
 *
 * How it works: a {@link ClientEngine} holds the protocol state; the session
 * moves bytes between it and a {@link Transport}, keeps the promises of the
 * operations the engine carries, and routes received messages to handlers,
 * `message` listeners and `messages()` iterators.
 *
 * - Output: the engine says when output appears; the session flushes it once
 *   per turn of the event loop (`setImmediate`), so everything produced in a
 *   turn (publishes, acks of received messages) leaves in one socket write.
 * - Time: operation timeouts, the connect timeout and keepalive are entries
 *   of the process-wide coarse timer, not a timer per message.
 * - QoS 0 publishes of one turn share one promise, settled by the flush.
 * - Write-ahead, with a durable store: a turn's output waits for a store
 *   flush when the store changed, and QoS 1/2 publishes completed in the
 *   turn resolve after it. A failed flush holds back all later output (the
 *   next connections' CONNECT included) until a flush succeeds.
 * - Every operation settles: acknowledged, refused (`RejectedError`), timed
 *   out (`TimeoutError`), aborted (`AbortError`), connection lost
 *   (`ConnectionError`) or closed (`ClosedError`).
 */
import { reasonCodeName } from '../codec/reason-codes.js';
import { isValidTopicFilter } from '../codec/topic.js';
import type {
  AckProperties,
  AuthPacket,
  ConnackPacket,
  PublishPacket,
  QoS,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
  Subscription as WireSubscription,
} from '../codec/types.js';
import { SafeEmitter } from '../core/emitter.js';
import {
  AbortError,
  CLOSED_BEFORE_CONNACK,
  ClosedError,
  ConnectionError,
  DroppedError,
  ErrorCode,
  InvalidArgumentError,
  MqttError,
  ProtocolError,
  RejectedError,
  StoreError,
} from '../core/errors.js';
import { INSPECT, type Inspect, type InspectOptions, inspectAs } from '../core/inspect.js';
import { checkOptions } from '../core/schema.js';
import { sharedTimer, type Timed } from '../core/timer.js';
import { redact, urlCredentials } from '../core/url.js';
import { userPropertyPairs, withUserPropertyPairs } from '../core/user-properties.js';
import { toBytes } from '../core/validate.js';
import {
  ClientEngine,
  type ControlOp,
  type EngineHandler,
  EngineState,
  type PublishOp,
} from '../protocol/engine.js';
import { matchFilter, topicMatches } from '../router/match.js';
import { TopicRouter } from '../router/router.js';
import type { PersistedSession, SessionStore, StoredSubscription } from '../store/types.js';
import { openTransport } from '../transport/index.js';
import type { Transport } from '../transport/types.js';
import { LatencyHistogram } from './latency.js';
import { MessageStream } from './message-stream.js';
import { type ResolvedOptions, resolveOptions, type SessionOptions } from './options.js';
import {
  Attempt,
  type Cancellable,
  ConnectRequest,
  ControlRequest,
  PublishRequest,
  Request,
  type Route,
  SubscriptionHandle,
} from './requests.js';
import {
  CLOSE_OPTIONS,
  CONNECT_OPTIONS,
  OPERATION_OPTIONS,
  PUBLISH_OPTIONS,
  SUBSCRIBE_OPTIONS,
} from './schema.js';
import type {
  ConnackInfo,
  Message,
  MessageHandler,
  OperationOptions,
  PublishOptions,
  PublishResult,
  SessionEvents,
  SessionMetrics,
  SessionState,
  SessionView,
  SubscribeOptions,
  Subscription,
} from './types.js';
import { filterList, handled, noop, quoted, refuseClientProperties, toArgumentError } from './util.js';

/** Why a publish the broker completed rejects: its completion is not durable. */
const UNRECORDED =
  'the broker acknowledged the publish, but the session store could not record it: a session that resumes from this store may send it again';
const QOS0_RESULT: PublishResult = Object.freeze({ reasonCode: 0, properties: undefined });
const V4_CONNACK = [0x00, 0x84, 0x85, 0x88, 0x86, 0x87];
/** The smallest WebSocket message limit, whatever maximumPacketSize: room for a batch of small packets. */
const WS_MESSAGE_FLOOR = 1024 * 1024;

/**
 * One MQTT 3.1.1 or 5.0 session over many network connections in its life:
 * connect, publish, subscribe, reconnect with backoff, and a store that keeps
 * in-flight messages, the offline queue and subscriptions.
 *
 * ```ts
 * const session = new Session({ url: 'mqtt://localhost:1883', clientId: 'device-1' });
 * await session.connect();
 * await session.subscribe('cmd/device-1/#', { qos: 1 }, (m) => console.log(m.topic, m.payload.toString()));
 * await session.publish('state/device-1', JSON.stringify({ on: true }), { qos: 1 });
 * await session.close();
 * ```
 *
 * - Output leaves once per turn of the event loop: everything produced in a
 *   turn (publishes, acknowledgements of received messages) goes out in one
 *   socket write.
 * - While the session is connecting or reconnecting, publishes wait in the
 *   offline queue (`offlineQueue`); in any other state but `connected` they
 *   reject.
 * - After a reconnect the session re-sends what was in flight, oldest
 *   first, and restores subscriptions the broker no longer has; the `ready`
 *   event says when they are in place.
 * - Every operation settles: acknowledged, refused ({@link RejectedError}),
 *   timed out ({@link TimeoutError}), aborted ({@link AbortError}),
 *   connection lost ({@link ConnectionError}) or closed ({@link ClosedError}).
 *
 * Events: see {@link SessionEvents}.
 *
 * @throws {@link InvalidArgumentError} from the constructor when an option is not valid.
 */
export class Session extends SafeEmitter<SessionEvents> {
  /** Where this session connects (without credentials, query or fragment). */
  readonly url: string;
  private readonly options: ResolvedOptions;
  private readonly engine: ClientEngine;
  private _state: SessionState = 'new';
  private transport: Transport | undefined = undefined;
  private connectRequest: ConnectRequest | undefined = undefined;
  private connectPromise: Promise<ConnackInfo> | undefined = undefined;
  private lastConnack: ConnackInfo | undefined = undefined;
  private flushScheduled = false;
  private qos0: Qos0Turn | undefined;
  // made on first use: thousands of idle sessions should not each hold empty tables
  private routes: Route[] = NO_ROUTES;
  /** Routes whose handler acknowledges itself (`manualAck`). */
  private manualRoutes = 0;
  /** Routes with a handler, by filter: dispatch costs the topic's depth, not the number of routes. */
  private router: TopicRouter<Route> | undefined = undefined;
  private streams: Set<MessageStream> | undefined = undefined;
  private keepalive: Keepalive | undefined = undefined;
  private closePromise: Promise<void> | undefined = undefined;
  private closeHooks: Set<() => unknown> | undefined = undefined;
  private idleWaiter: (() => void) | undefined = undefined;
  private closeWaiter: (() => void) | undefined = undefined;
  private readonly store: SessionStore;
  private attempt: Attempt | undefined = undefined;
  private connectSignal: AbortSignal | undefined = undefined;
  /** Writes waiting behind a store flush: later output must queue behind them. */
  private chained = 0;
  /** The transport's last write did not fit its buffer; cleared on drain. */
  private backlogged = false;
  private drainWaiters: { resolve: () => void; reject: (e: Error) => void }[] | undefined = undefined;
  private urlIndex = 0;
  /** URLs tried by the current connect() call. */
  private tried = 0;
  private connectedOnce = false;
  /** Date.now() of the latest successful CONNACK. */
  private connectedAt = 0;
  /** `protocolVersion: 'auto'` fell back to 3.1.1 in this round of attempts, for this reason. */
  private fallbackReason: MqttError | undefined = undefined;
  private restored = false;
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined = undefined;
  private nextConnected:
    | { promise: Promise<ConnackInfo>; resolve(i: ConnackInfo): void; reject(e: Error): void }
    | undefined;
  private seq = 0;
  /** Active subscriptions by filter, restored when the broker has no session. */
  private subscriptions: Map<string, StoredSubscription> | undefined = undefined;
  /** The store has changes no flush was asked for yet. */
  private storeDirty = false;
  /**
   * A flush failed and none succeeded since: the store holds changes not
   * known to be durable, so every output waits for a successful flush, even
   * a turn's that changed nothing itself.
   */
  private storeBehind = false;
  /** The connection whose output a failed flush held back: nothing more is written to it. */
  private storeFailedOn: Transport | undefined = undefined;
  /** QoS 1/2 publishes acknowledged whose deletion from a durable store is not flushed yet. */
  private completed: PublishRequest[] | undefined = undefined;
  private writeChain: Promise<void> = RESOLVED;
  /** Publish-to-acknowledgement times, from the first acknowledgement on. */
  private latency: LatencyHistogram | undefined = undefined;
  /** Counts CONNACKs: work started for one connection ignores the next. */
  private connection = 0;
  private _ready = false;
  private readonly counters = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    reconnects: 0,
    errors: 0,
    dropped: 0,
  };

  constructor(options: SessionOptions) {
    super();
    this.options = resolveOptions(options);
    this.url = redact(this.options.url);
    this.store = this.options.store;
    const o = this.options;
    try {
      this.engine = this.createEngine(o);
    } catch (err) {
      throw toArgumentError(err, ''); // the CONNECT properties are options of their own
    }
  }

  private createEngine(o: ResolvedOptions): ClientEngine {
    // ResolvedOptions carries every EngineOptions field under the same name
    return new ClientEngine(o, new SessionHandler(this));
  }

  /** Where the session is in its life; see {@link SessionState}. Changes are the `state` event. */
  get state(): SessionState {
    return this._state;
  }

  /** The client identifier in use (the broker may have assigned it). */
  get clientId(): string {
    return this.engine.clientId;
  }

  /**
   * The protocol level in use: 5 (MQTT 5.0) or 4 (MQTT 3.1.1). With
   * `protocolVersion: 'auto'` it is 5 until a broker refused it, then 4.
   */
  get protocolVersion(): 4 | 5 {
    return this.engine.version;
  }

  /** The broker's limits from the last CONNACK. */
  get serverLimits(): ClientEngine['limits'] {
    return this.engine.limits;
  }

  /** The last successful CONNACK (session present, properties such as Response Information). */
  get connack(): ConnackInfo | undefined {
    return this.lastConnack;
  }

  /** Connected, and the subscriptions the broker had lost are restored (the `ready` event). */
  get ready(): boolean {
    return this._ready && this._state === 'connected';
  }

  /** QoS 1/2 publishes, subscribes and unsubscribes sent and not yet acknowledged. */
  get inflight(): number {
    return this.engine.inflightCount;
  }

  /**
   * Connects and resolves on a successful CONNACK. Rejects with
   * `ConnectionError` (network failure, or refused: `reasonCode`),
   * `TimeoutError` after `connectTimeout`, `AbortError`, or `ClosedError`.
   */
  connect(options: { signal?: AbortSignal } = {}): Promise<ConnackInfo> {
    try {
      checkOptions(options, CONNECT_OPTIONS, 'options');
    } catch (err) {
      return Promise.reject(err);
    }
    const state = this._state;
    if (state === 'closing' || state === 'closed') return Promise.reject(new ClosedError());
    if (state === 'connected' && this.lastConnack !== undefined) return Promise.resolve(this.lastConnack);
    if (state === 'connecting' && this.connectPromise !== undefined) return this.connectPromise;
    if (state === 'reconnecting') return this.whenConnected();
    const req = new ConnectRequest(this);
    this.connectRequest = req;
    this.connectSignal = options.signal;
    this.connectPromise = req.start(0, options.signal);
    this.tried = 0;
    this.setState('connecting');
    this.startAttempt();
    return this.connectPromise;
  }

  /** A snapshot of the session's counters. */
  metrics(): SessionMetrics {
    return {
      ...this.counters,
      inflight: this.engine.inflightCount,
      queued: this.engine.pendingCount,
      queuedBytes: this.engine.pendingBytes,
      roundTrip: this.engine.roundTrip,
      publishLatency: this.latency?.snapshot() ?? LatencyHistogram.empty(),
    };
  }

  /**
   * Publishes a message. QoS 0 resolves once written to the network; QoS 1
   * resolves on PUBACK, QoS 2 on PUBCOMP (with a durable store, once the
   * store has also recorded that the message is done). Rejects with
   * `InvalidArgumentError` (bad topic, payload or options, or too large for
   * the broker), `RejectedError` (the broker refused it), `TimeoutError`,
   * `AbortError`, `ConnectionError` or `ClosedError`.
   *
   * A payload of 1 KiB or more is written to the socket as it is, never
   * copied (a smaller one is copied into the packet): do not modify the
   * buffer until the promise settles (at QoS 1/2 a resend after a
   * reconnect sends it again).
   */
  publish(topic: string, payload: string | Uint8Array, options?: PublishOptions): Promise<PublishResult> {
    const state = this._state;
    if (state !== 'connected' && state !== 'connecting' && state !== 'reconnecting') {
      return Promise.reject(this.notConnected());
    }
    let packet: PublishPacket;
    try {
      packet = this.buildPublish(topic, payload, options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (options?.signal?.aborted === true) return abortedBefore(`publish to '${topic}'`, options.signal);
    if (state !== 'connected') {
      const refused = this.makeRoom(packet);
      if (refused !== undefined) return refused;
    }
    this.counters.messagesOut++;
    if (packet.qos === 0 && options?.signal === undefined && state === 'connected') {
      try {
        this.engine.publish({ packet, packetId: 0, stage: 0 });
      } catch (err) {
        return Promise.reject(toArgumentError(err, 'options.properties'));
      }
      return this.qos0Promise();
    }
    const req = new PublishRequest(this, packet);
    const promise = req.start(options?.timeout ?? this.options.operationTimeout, options?.signal);
    const expiry = packet.properties?.messageExpiryInterval;
    if (expiry !== undefined) req.expiresAt = Date.now() + expiry * 1000;
    if (packet.qos > 0) {
      req.seq = ++this.seq;
      req.startedAt = performance.now();
      if (this.store.durable) {
        // a memory store gets what is left when the session closes (see closeNow), not every message
        this.store.putMessage(this.options.clientId, req);
        this.storeDirty = true;
        if (state !== 'connected') this._wantsFlush();
      }
    }
    let sent = false;
    try {
      sent = this.engine.publish(req);
    } catch (err) {
      this.forget(req);
      req.fail(toArgumentError(err, 'options.properties'));
    }
    if (packet.qos === 0 && sent) req.succeed(QOS0_RESULT);
    return promise;
  }

  /**
   * Subscribes to one or several filters. `handler` receives the messages
   * that match them (every message also goes to `message` listeners and
   * `messages()` iterators). Resolves with the broker's reason code per
   * filter; rejects with `RejectedError` when every filter was refused.
   * The handler is in place from the moment the SUBSCRIBE is sent, so it
   * also gets what the broker sends before or with its SUBACK (retained
   * messages, a stream already flowing); a refused filter's handler is
   * removed with the SUBACK.
   */
  subscribe(
    filters: string | readonly string[],
    options: SubscribeOptions = {},
    handler?: MessageHandler,
  ): Promise<Subscription> {
    const state = this._state;
    if (state !== 'connected' && state !== 'connecting') return Promise.reject(this.notConnected());
    let packet: SubscribePacket;
    let list: string[];
    try {
      checkOptions(options, SUBSCRIBE_OPTIONS, 'options');
      list = filterList(filters, 'filters');
      if (handler !== undefined && typeof handler !== 'function') {
        throw new InvalidArgumentError('handler', 'must be a function');
      }
      packet = this.buildSubscribe(list, options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (options.signal?.aborted === true) return abortedBefore(`subscribe ${quoted(list)}`, options.signal);
    const req = new ControlRequest(this, packet);
    // The routes are in place from the SUBSCRIBE on: the broker may send matching messages before
    // its SUBACK (3.8.4), and those right after it arrive in the same read, before a promise resolves.
    const added: Route[] = [];
    for (const filter of list) {
      const route: Route = {
        filter,
        handler,
        owner: undefined,
        id: options.subscriptionIdentifier ?? 0,
        manual: options.manualAck === true,
      };
      if (this.routes === NO_ROUTES) this.routes = [];
      this.routes.push(route);
      if (route.manual) this.manualRoutes++;
      if (handler !== undefined) (this.router ??= new TopicRouter<Route>()).add(filter, route);
      added.push(route);
    }
    return this.sendControl(req, options).then(
      (ack) => {
        const codes = (ack as SubackPacket).reasonCodes;
        this.dropRoutes((r) => {
          const i = added.indexOf(r);
          return i !== -1 && !(codes[i] < 0x80);
        });
        if (codes.every((c) => c >= 0x80)) {
          throw new RejectedError(
            `the broker refused ${req.describe()}: ${codes.map((c) => reasonCodeName(c, 'suback')).join(', ')}`,
            codes[0],
          );
        }
        const handle = new SubscriptionHandle(this, list, codes, ack.properties);
        for (let i = 0; i < added.length; i++) {
          if (codes[i] >= 0x80) continue;
          added[i].owner = handle;
          // a session closed meanwhile has dropped its routes and keeps no subscriptions
          if (this._state !== 'closed') this.remember(packet, i);
        }
        return handle;
      },
      (err: unknown) => {
        this.dropRoutes((r) => added.includes(r));
        throw err;
      },
    );
  }

  /** Removes the routes `which` selects, from the list and the router. */
  private dropRoutes(which: (r: Route) => boolean): void {
    const keep: Route[] = [];
    for (const r of this.routes) {
      if (!which(r)) keep.push(r);
      else {
        if (r.handler !== undefined) this.router?.remove(r.filter, r);
        if (r.manual) this.manualRoutes--;
      }
    }
    this.routes = keep;
  }

  /** Keeps subscription `i` of `packet` to restore it after a reconnect without a broker session. */
  private remember(packet: SubscribePacket, i: number): void {
    const w = packet.subscriptions[i];
    const sub: StoredSubscription = { topicFilter: w.topicFilter, qos: w.qos };
    if (w.noLocal) sub.noLocal = true;
    if (w.retainAsPublished) sub.retainAsPublished = true;
    if (w.retainHandling) sub.retainHandling = w.retainHandling;
    const props = packet.properties;
    if (props?.subscriptionIdentifier !== undefined)
      sub.subscriptionIdentifier = props.subscriptionIdentifier;
    if (props?.userProperties !== undefined) sub.userProperties = props.userProperties;
    (this.subscriptions ??= new Map()).set(sub.topicFilter, sub);
    this.store.putSubscription(this.options.clientId, sub);
    this.storeDirty = true;
  }

  private unremember(filters: readonly string[]): void {
    for (const f of filters) {
      if (this.subscriptions?.delete(f)) this.store.deleteSubscription(this.options.clientId, f);
    }
    this.storeDirty = true;
  }

  /** Unsubscribes filters (and drops every handler bound to them). */
  unsubscribe(filters: string | readonly string[], options: OperationOptions = {}): Promise<void> {
    let list: string[];
    try {
      checkOptions(options, OPERATION_OPTIONS, 'options');
      list = filterList(filters, 'filters');
    } catch (err) {
      return Promise.reject(err);
    }
    if (options.signal?.aborted === true) return abortedBefore(`unsubscribe ${quoted(list)}`, options.signal);
    this.dropRoutes((r) => list.includes(r.filter));
    this.unremember(list);
    return this.sendUnsubscribe(list, options);
  }

  /**
   * Received messages (those matching `filter`, or all) as an async
   * iterator. It does not subscribe: pair it with `subscribe()`. A slow
   * consumer loses the oldest messages past `messageBuffer` (counted in the
   * iterator's `dropped`); the iteration ends when the session closes.
   */
  messages(filter?: string): MessageStream {
    if (filter !== undefined && !isValidTopicFilter(filter)) {
      throw new InvalidArgumentError('filter', `'${filter}' is not a valid topic filter`);
    }
    const stream = new MessageStream(filter, this.options.messageBuffer, (s) => this.streams?.delete(s));
    if (this._state === 'closed') stream.end();
    else (this.streams ??= new Set()).add(stream);
    return stream;
  }

  /**
   * Ends the session: waits up to `timeout` ms (default 5000) for
   * operations in flight, sends DISCONNECT (with `reasonCode`, default 0),
   * closes the connection, rejects whatever is left with `ClosedError` and
   * ends the `messages()` iterators. Always resolves; later calls return
   * the same promise. Options that are not valid (a `timeout` that is not a
   * number of ms) reject with `InvalidArgumentError` and close nothing.
   */
  close(options: { timeout?: number; reasonCode?: number } = {}): Promise<void> {
    try {
      checkOptions(options, CLOSE_OPTIONS, 'options');
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.closePromise !== undefined) return this.closePromise;
    const timeout = options.timeout ?? 5000;
    const reasonCode = options.reasonCode ?? 0;
    const hooks = this.closeHooks;
    this.closeHooks = undefined;
    this.closePromise =
      hooks === undefined
        ? this.closeNow(timeout, reasonCode)
        : Promise.allSettled([...hooks].map((h) => Promise.resolve().then(h))).then((results) => {
            for (const r of results)
              if (r.status === 'rejected') this.report(r.reason, 'a close hook failed');
            return this.closeNow(timeout, reasonCode);
          });
    return this.closePromise;
  }

  /**
   * Runs `hook` when `close()` is called, before anything closes (the
   * session can still publish: channels flush their batches here); `close()`
   * waits for the promise it returns. Returns the function that removes it.
   */
  beforeClose(hook: () => unknown): () => void {
    if (typeof hook !== 'function') throw new InvalidArgumentError('hook', 'must be a function');
    const hooks = (this.closeHooks ??= new Set());
    hooks.add(hook);
    return () => {
      hooks.delete(hook);
    };
  }

  // ---------------------------------------------------------------------------
  // internals used by the engine handler and requests

  /** @internal */
  _cancel(req: Cancellable, error: MqttError): void {
    if (req.settled) return;
    if (req instanceof PublishRequest && req.result !== undefined) {
      // the broker completed it; only the store is late in recording that: say so, not 'timed out'
      req.fail(new StoreError(`${req.describe()}: ${UNRECORDED}`, { cause: error }));
      return;
    }
    if (req instanceof PublishRequest || req instanceof ControlRequest) this.engine.cancel(req);
    if (req instanceof ConnectRequest && this.connectRequest === req) {
      this.connectRequest = undefined;
      if (this.attempt !== undefined) this.endAttempt(this.attempt);
      this.dropTransport();
      this.engine.connectionLost();
      if (!this.connectedOnce) this.failAll(error);
      if (this._state !== 'closing') this.setState('disconnected');
    }
    req.fail(error);
  }

  /** @internal */
  _unsubscribeHandle(handle: SubscriptionHandle, options?: OperationOptions): Promise<void> {
    if (options !== undefined) {
      try {
        checkOptions(options, OPERATION_OPTIONS, 'options');
      } catch (err) {
        return Promise.reject(err);
      }
    }
    if (!handle.active) return Promise.resolve();
    handle.active = false;
    this.dropRoutes((r) => r.owner === handle);
    const unused = handle.filters.filter((f) => !this.routes.some((r) => r.filter === f));
    this.unremember(unused);
    if (unused.length === 0 || (this._state !== 'connected' && this._state !== 'connecting')) {
      return Promise.resolve();
    }
    return this.sendUnsubscribe(unused, options ?? {});
  }

  /**
   * @internal Once per turn: the turn's output goes to the socket, after a
   * store flush when the store changed (write-ahead: no packet that depends
   * on a change leaves before the change is durable), and the publishes
   * acknowledged in the turn resolve once their deletion is flushed.
   */
  _flush(): void {
    this.flushScheduled = false;
    const t = this.transport;
    const out = this.engine.takeOutput(Date.now());
    const durable = this.store.durable && this.storeDirty;
    this.storeDirty = false;
    const done = this.completed;
    this.completed = undefined;
    // the turn's QoS 0 publishes resolve when their bytes are written, not before
    const q = this.qos0;
    this.qos0 = undefined;
    if (durable || this.chained > 0 || this.storeBehind || done !== undefined) {
      // the flush starts now, overlapping those of earlier turns (a store settles flushes in call
      // order, each covering every change made before it); the write waits its turn
      const flushed = durable || this.storeBehind ? this.flushStore() : undefined;
      this.chained++;
      this.writeChain = this.writeChain
        .then(() => this.afterStore(t, out, flushed, done, q))
        .then(undefined, (err: unknown) => this.report(err, 'writing to the connection failed'))
        .finally(() => {
          this.chained--;
        });
      return;
    }
    if (t !== undefined && out.length > 0) this.write(t, out);
    if (q !== undefined) this.settleQos0(q, t === undefined ? this.notConnected() : undefined);
  }

  /**
   * Settles a turn's QoS 0 publishes: rejected with `error` when their bytes
   * were not written; otherwise resolved, or, when the socket is full, held
   * until it drains (their backpressure).
   */
  private settleQos0(q: Qos0Turn, error: MqttError | undefined): void {
    if (error !== undefined) q.reject(error);
    else if (this.backlogged) (this.drainWaiters ??= []).push(q);
    else q.resolve();
  }

  /**
   * One turn's output, in the write chain: once the turn's store flush (if
   * the turn changed the store, or an earlier flush failed) succeeded, writes
   * the output to `t` if it is still the connection, and resolves the turn's
   * completed publishes. A failed flush is reported and keeps everything for
   * the next one (stores keep failed changes); `t` is closed, so the session
   * reconnects with its backoff, and its CONNECT too waits for a flush that
   * succeeds.
   */
  private afterStore(
    t: Transport | undefined,
    out: Buffer[],
    flushed: Promise<unknown> | undefined,
    done: PublishRequest[] | undefined,
    q: Qos0Turn | undefined,
  ): Promise<void> | undefined {
    // the connection this output was for is gone (or failed): the output goes with it
    const gone = t !== undefined && (this.transport !== t || this.storeFailedOn === t);
    if (flushed === undefined) {
      if (!this.storeBehind && done === undefined) {
        if (!gone && t !== undefined && out.length > 0) this.write(t, out);
        if (q !== undefined) this.settleQos0(q, gone || t === undefined ? this.unwritten() : undefined);
        return undefined;
      }
      // nothing to write and nothing to resolve: a later turn flushes before anything that needs it
      if (gone && done === undefined) {
        q?.reject(this.unwritten());
        return undefined;
      }
      flushed = this.flushStore();
    }
    return flushed.then((err) => {
      if (err === undefined) {
        this.storeBehind = false;
        const live = !gone && t !== undefined && this.transport === t;
        if (live && out.length > 0) this.write(t, out);
        if (done !== undefined) this.succeedCompleted(done);
        if (q !== undefined) this.settleQos0(q, live ? undefined : this.unwritten());
        return;
      }
      q?.reject(
        new StoreError('the session store failed; the turn’s output was not written', { cause: err }),
      );
      this.storeBehind = true;
      if (done !== undefined) this.completed = done.concat(this.completed ?? []);
      const live = !gone && t !== undefined && this.transport === t;
      const error = new StoreError(
        live ? 'the session store failed; the connection is closed' : 'the session store failed',
        { cause: err },
      );
      this.report(error, '');
      if (live) {
        this.storeFailedOn = t;
        t.destroy(error);
      }
    });
  }

  /** Flushes the store; the promise never rejects: it resolves with the error, or undefined. */
  private flushStore(): Promise<unknown> {
    return this.store.flush().then(noError, storeFailure);
  }

  private write(t: Transport, out: Buffer[]): void {
    for (let i = 0; i < out.length; i++) this.counters.bytesOut += out[i].length;
    if (!t.write(out)) this.backlogged = true;
  }

  /** Resolves publishes whose completion the store has made durable. */
  private succeedCompleted(done: PublishRequest[]): void {
    for (let i = 0; i < done.length; i++) {
      const req = done[i];
      req.succeed(req.result ?? QOS0_RESULT);
    }
  }

  /** @internal The transport's buffer emptied: release the QoS 0 publishes that waited for it. */
  _drained(): void {
    this.backlogged = false;
    const waiting = this.drainWaiters;
    if (waiting === undefined || waiting.length === 0) return;
    this.drainWaiters = undefined;
    for (const q of waiting) q.resolve();
  }

  /** @internal */
  _wantsFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(flushSession, this);
  }

  /** @internal */
  _connack(p: ConnackPacket): void {
    const attempt = this.attempt;
    if (attempt === undefined) return;
    if (p.reasonCode !== 0) {
      const version = this.engine.version;
      const rc = version === 4 ? (V4_CONNACK[p.reasonCode] ?? 0x80) : p.reasonCode;
      const why = p.properties?.reasonString;
      this._attemptFailed(
        attempt,
        new ConnectionError(
          `${redact(attempt.url)} refused the connection: ${reasonCodeName(p.reasonCode, 'connack', version)}` +
            (why ? `: ${why}` : ''),
          rc,
        ),
      );
      return;
    }
    this.endAttempt(attempt);
    const info: ConnackInfo = {
      sessionPresent: p.sessionPresent,
      reasonCode: p.reasonCode,
      properties: p.properties,
      protocolVersion: this.engine.version,
    };
    const req = this.connectRequest;
    this.connectRequest = undefined;
    this.connectPromise = undefined;
    if (this.connectedOnce) this.counters.reconnects++;
    this.connectedOnce = true;
    this.fallbackReason = undefined;
    this.connectedAt = Date.now();
    this.lastConnack = info;
    const connection = ++this.connection;
    this._ready = false;
    this.setState('connected');
    this.armKeepalive();
    const restoring = p.sessionPresent ? undefined : this.resubscribe();
    req?.succeed(info);
    const waiting = this.nextConnected;
    this.nextConnected = undefined;
    waiting?.resolve(info);
    if (this.listenerCount('connect') > 0) this.emit('connect', info);
    if (restoring === undefined) this.becomeReady(connection, info);
    else restoring.then(() => this.becomeReady(connection, info));
  }

  /** Connected and every subscription restored (refusals were reported as `error`). */
  private becomeReady(connection: number, info: ConnackInfo): void {
    if (this.connection !== connection || this._state !== 'connected') return;
    this._ready = true;
    if (this.listenerCount('ready') > 0) this.emit('ready', info);
  }

  /** @internal A connection attempt failed: the next URL, a reconnect later, or the end. */
  _attemptFailed(attempt: Attempt, failure: MqttError): void {
    if (attempt.done || this.attempt !== attempt) return;
    this.endAttempt(attempt);
    this.dropTransport();
    this.engine.connectionLost();
    this.counters.errors++;
    let error = failure;
    if (this.options.autoVersion && !this.connectedOnce) {
      if (this.engine.version === 5 && attempt.opened && refusesMqtt5(error) && this.engine.useVersion(4)) {
        // 'auto': the same broker again at once, with 3.1.1
        this.fallbackReason = error;
        if (this.listenerCount('fallback') > 0) this.emit('fallback', error);
        this.startAttempt();
        return;
      }
      const first = this.fallbackReason;
      if (first !== undefined) {
        // 3.1.1 failed too: say both, and start the next round with MQTT 5 again (the first
        // refusal may have been the network's, not the broker's)
        this.fallbackReason = undefined;
        this.engine.useVersion(5);
        error = new ConnectionError(
          `${error.message} (with MQTT 3.1.1, after MQTT 5 failed: ${first.message})`,
          error.reasonCode,
          { cause: error },
        );
      }
    }
    const urls = this.options.urls;
    this.urlIndex = (this.urlIndex + 1) % urls.length;
    const req = this.connectRequest;
    if (req !== undefined) {
      if (++this.tried < urls.length) {
        this.startAttempt();
        return;
      }
      this.connectRequest = undefined;
      if (!this.connectedOnce) {
        this.failAll(error);
        this.setState('disconnected');
        req.fail(error);
        return;
      }
      req.fail(error);
    }
    this.scheduleReconnect(error);
  }

  /** @internal */
  _message(p: PublishPacket): void {
    const msg = p as unknown as Message;
    this.counters.messagesIn++;
    // a listener that throws is reported by listenerFailed, and the others still run
    if (this.listenerCount('message') > 0) this.emit('message', msg);
    const router = this.router;
    if (router !== undefined && router.size > 0) {
      const routes = router.lookup(msg.topic);
      // MQTT 5: a message names the subscriptions it is for; a broker sending one copy
      // per overlapping subscription would otherwise reach each handler once per copy
      const ids = msg.properties?.subscriptionIdentifier;
      if (this.manualRoutes > 0) {
        // before any handler runs (one may acknowledge at once): the acknowledgement waits for each
        // manual-ack handler this message reaches
        let manual = 0;
        for (let i = 0; i < routes.length; i++) if (routes[i].manual && forRoute(routes[i], ids)) manual++;
        if (manual > 0) this.deferAck(p, manual);
      }
      for (let i = 0; i < routes.length; i++) {
        const r = routes[i];
        if (!forRoute(r, ids)) continue;
        try {
          (r.handler as MessageHandler)(msg);
        } catch (err) {
          this.report(err, `the handler for '${r.filter}' threw`);
          // a manual handler that failed will not acknowledge: its share is given, or later messages would wait
          if (r.manual) msg.ack?.();
        }
      }
    }
    const streams = this.streams;
    if (streams !== undefined && streams.size > 0) {
      for (const s of streams) if (s.filter === undefined || topicMatches(s.filter, msg.topic)) s.push(msg);
    }
  }

  /**
   * Gives a message bound for `handlers` manual-ack handlers its `ack()`;
   * its acknowledgement goes out once each of them called it.
   */
  private deferAck(p: PublishPacket, handlers: number): void {
    const token = this.engine.deferAck();
    const engine = this.engine;
    let left = handlers;
    (p as { ack?: () => void }).ack =
      token === undefined
        ? noop
        : () => {
            if (left > 0 && --left === 0) engine.acknowledge(token);
          };
  }

  /** @internal */
  _published(req: PublishRequest, reasonCode: number, properties: AckProperties | undefined): void {
    this.forget(req);
    if (reasonCode >= 0x80) {
      const why = properties?.reasonString;
      req.fail(
        new RejectedError(
          `the broker refused ${req.describe()}: ${reasonCodeName(reasonCode, 'puback')}${why ? `: ${why}` : ''}`,
          reasonCode,
        ),
      );
    } else if (!req.settled) {
      if (req.startedAt !== 0)
        (this.latency ??= new LatencyHistogram()).observe(performance.now() - req.startedAt);
      const result: PublishResult =
        req.packet.qos === 2 && req.stage === 1
          ? { reasonCode, properties, qos: 1 } // completed by a PUBACK: the broker took it at QoS 1 (see the engine)
          : reasonCode === 0 && properties === undefined
            ? QOS0_RESULT
            : { reasonCode, properties };
      if (req.seq !== 0 && this.store.durable) {
        // resolved by the flush that makes its deletion durable: a crash before it would send it again
        req.result = result;
        (this.completed ??= []).push(req);
        this._wantsFlush();
      } else req.succeed(result);
    }
    this.checkIdle();
  }

  /** @internal A publish got its packet id or reached PUBREL. */
  _stored(req: PublishRequest): void {
    if (!this.store.durable) return; // the memory store holds this very object
    this.store.putMessage(this.options.clientId, req);
    this.storeDirty = true;
  }

  /** @internal */
  _incomingQoS2(packetId: number, added: boolean): void {
    const id = this.options.clientId;
    if (added) this.store.addIncomingQoS2(id, packetId);
    else this.store.deleteIncomingQoS2(id, packetId);
    this.storeDirty = true;
  }

  /** @internal */
  _expired(req: PublishRequest): void {
    this.drop(req, 'expired', 'expired before it could be sent');
  }

  /** @internal A publish reached `maxDeliveryAttempts` (the engine has let go of it). */
  _abandoned(req: PublishRequest): void {
    this.drop(
      req,
      'attempts',
      `given up: ${req.attempts} connections ended before the broker acknowledged it`,
    );
  }

  /** A publish the engine let go of unsent or unacknowledged: counted, out of the store, rejected. */
  private drop(req: PublishRequest, reason: DroppedError['reason'], why: string): void {
    this.counters.dropped++;
    this.forget(req);
    req.fail(new DroppedError(`publish to '${req.packet.topic}' ${why}`, reason));
    this.checkIdle();
  }

  /** @internal */
  _controlDone(req: ControlRequest, packet: SubackPacket | UnsubackPacket): void {
    req.succeed(packet);
    this.checkIdle();
  }

  /** @internal */
  _auth(packet: AuthPacket): void {
    const auth = this.options.authenticate;
    const method = this.options.connectProperties?.authenticationMethod;
    if (auth === undefined || method === undefined || packet.reasonCode !== 0x18) {
      if (packet.reasonCode === 0) return; // re-authentication succeeded
      // an AUTH this session did not ask for is a protocol error (4.12); 0x8C is no DISCONNECT code
      this.engine.disconnect(0x82);
      this._closing(
        new ProtocolError('the broker asked for authentication this session cannot answer', 0x82),
      );
      return;
    }
    Promise.resolve()
      .then(() =>
        auth({ method, data: packet.properties?.authenticationData, reasonCode: packet.reasonCode ?? 0 }),
      )
      .then(
        (data) => {
          if (this.transport === undefined) return;
          this.engine.auth({
            type: 'auth',
            reasonCode: 0x18,
            properties: { authenticationMethod: method, authenticationData: data },
          });
        },
        (err: unknown) => {
          this.engine.disconnect(0x87);
          this._closing(new ConnectionError(`authentication failed: ${(err as Error)?.message}`, 0x87));
        },
      );
  }

  /** @internal What the server sent instead of CONNACK on the current attempt, described; undefined if nothing. */
  get _unansweredConnect(): string | undefined {
    return this.engine.unansweredConnect;
  }

  /** @internal The engine decided the connection must end (DISCONNECT may be in the output). */
  _closing(error: MqttError): void {
    const t = this.transport;
    if (t !== undefined) {
      this._flush();
      this.transport = undefined;
      t.end();
      // a peer that does not close its side gets no say in how long this takes
      setTimeout(() => t.destroy(), 1000).unref();
    }
    this.lost(error);
  }

  // ---------------------------------------------------------------------------

  /** Ends `attempt` (the current one): it leaves the timer and the session. */
  private endAttempt(attempt: Attempt): void {
    attempt.done = true;
    sharedTimer.remove(attempt);
    if (this.attempt === attempt) this.attempt = undefined;
  }

  /** Opens a connection to the current URL: store, credentials, transport, CONNECT. */
  private startAttempt(): void {
    const url = this.options.urls[this.urlIndex];
    const attempt = new Attempt(this, url);
    this.attempt = attempt;
    attempt.deadline = Date.now() + this.options.connectTimeout;
    sharedTimer.add(attempt);
    const o = this.options;
    const signal = this.connectRequest === undefined ? undefined : this.connectSignal;
    this.prepare(url)
      .then(() =>
        openTransport(url, {
          tls: o.tls,
          ws: o.ws,
          connectTimeout: o.connectTimeout,
          signal,
          // one WebSocket message holds a packet, or a few small ones written together
          maxMessage: Math.max(o.maximumPacketSize, WS_MESSAGE_FLOOR),
        }),
      )
      .then(
        (transport) => {
          if (attempt.done || this.attempt !== attempt) {
            transport.destroy();
            return;
          }
          this.attachTransport(attempt, transport);
        },
        (err: unknown) =>
          this._attemptFailed(
            attempt,
            err instanceof MqttError
              ? err
              : new ConnectionError(`cannot connect to ${redact(url)}`, undefined, { cause: err }),
          ),
      );
  }

  /** Before each attempt: the store (once), then fresh credentials (from the hook, or from the URL). */
  private async prepare(url: string): Promise<void> {
    if (!this.restored) {
      this.restored = true;
      try {
        await this.restore();
      } catch (err) {
        this.restored = false; // the next attempt loads it again: never go on without what it holds
        throw err;
      }
    }
    const hook = this.options.credentials;
    let username: string | undefined;
    let password: Uint8Array | undefined;
    if (this.options.urlCredentials) {
      const c = urlCredentials(url);
      username = c?.username;
      password = c?.password === undefined ? undefined : Buffer.from(c.password);
    } else if (hook !== undefined) {
      let c: Awaited<ReturnType<typeof hook>>;
      try {
        c = await hook();
      } catch (err) {
        throw new ConnectionError('the credentials hook failed', 0x86, { cause: err });
      }
      username = c?.username;
      password = c?.password === undefined ? undefined : toBytes(c.password, 'credentials().password');
    } else return;
    try {
      this.engine.setCredentials(username, password);
    } catch (err) {
      throw toArgumentError(err);
    }
  }

  /** Loads what a previous session with this client id left in the store (or clears it for a clean start). */
  private async restore(): Promise<void> {
    const id = this.options.clientId;
    if (this.options.clean) {
      await this.store.clear(id);
      return;
    }
    let saved: PersistedSession;
    try {
      saved = await this.store.load(id);
    } catch (err) {
      throw new StoreError(`cannot load the session of '${id}' from the store`, { cause: err });
    }
    const ops = saved.messages.map((m) => PublishRequest.restored(this, m));
    if (!this.store.durable) {
      // the live session owns them now; close() puts back what is left
      for (const m of saved.messages) this.store.deleteMessage(id, m.seq);
    }
    for (const op of ops) if (op.seq > this.seq) this.seq = op.seq;
    this.engine.restore(ops, saved.incomingQoS2);
    for (const sub of saved.subscriptions) {
      const subs = (this.subscriptions ??= new Map());
      if (!subs.has(sub.topicFilter)) subs.set(sub.topicFilter, sub);
    }
  }

  private attachTransport(attempt: Attempt, transport: Transport): void {
    this.transport = transport;
    attempt.opened = true;
    const url = attempt.url; // the hooks keep the URL, not the attempt, alive
    transport.onData = (chunk) => {
      this.counters.bytesIn += chunk.length;
      this.engine.receive(chunk, Date.now());
    };
    transport.onDrain = () => {
      if (this.transport === transport) this._drained();
    };
    transport.onClose = (err) => {
      if (this.transport !== transport) return;
      this.transport = undefined;
      // the end of the session's own close(): nobody is told, so no error (and its stack trace) is made
      if (this._state === 'closing' && this.attempt === undefined) return this.lost(undefined);
      // before CONNACK the attempt that opened this transport is still the current one
      const current = this.attempt;
      // a transport's own ConnectionError already says which connection failed and why
      const answer = this.attempt === undefined ? undefined : this.engine.unansweredConnect;
      const error =
        err instanceof ConnectionError
          ? err
          : new ConnectionError(
              `connection to ${redact(url)} ${err ? `failed: ${err.message}` : current === undefined ? 'closed by the broker' : answer === undefined ? CLOSED_BEFORE_CONNACK : `${CLOSED_BEFORE_CONNACK}: ${answer}`}`,
              undefined,
              { cause: err },
            );
      if (current !== undefined) this._attemptFailed(current, error);
      else this.lost(error);
    };
    this.engine.open(Date.now());
    this._flush();
  }

  /**
   * The connection is gone: reconnect, or fail what waits on it, or finish a
   * close. `error` is undefined only for the end of close(), which fails
   * what still waits itself (with ClosedError).
   */
  private lost(error: MqttError | undefined): void {
    // closed by this session (close(), or its store failing before the output left) counts no
    // delivery attempt against what was in flight
    this.engine.connectionLost(error !== undefined && !(error.cause instanceof StoreError));
    this.disarmKeepalive();
    this.backlogged = false;
    if (error !== undefined) {
      this.qos0?.reject(error);
      this.qos0 = undefined;
      this.rejectDrainWaiters(error);
    }
    this.closeWaiter?.();
    // close() waiting for acknowledgements: none can come any more (a closing session does not reconnect)
    if (this._state === 'closing') this.idleWaiter?.();
    if (error === undefined) return;
    const attempt = this.attempt;
    if (attempt !== undefined) {
      this._attemptFailed(attempt, error);
      return;
    }
    // closing, closed, or an attempt that already failed: nothing more to do
    if (this._state !== 'connected') return;
    this.counters.errors++;
    // the backoff starts again only after a connection that lasted: a broker that accepts and
    // drops every connection meets a growing delay, not a storm
    const policy = this.options.reconnect;
    if (policy !== false && Date.now() - this.connectedAt >= policy.resetAfter) this.reconnectAttempt = 0;
    if (policy !== false) {
      this.setState('reconnecting');
      this.emit('disconnect', error);
      this.emit('offline');
      this.scheduleReconnect(error);
      return;
    }
    this.failAll(error);
    this.setState('disconnected');
    this.emit('disconnect', error);
  }

  /** Rejects every operation in flight or waiting, and forgets it in the store. */
  private failAll(error: MqttError): void {
    for (const op of this.engine.drain()) {
      // QoS 0 publishes without a signal are plain operations: their turn's shared promise answers for them
      if (op instanceof Request) {
        if (op instanceof PublishRequest) this.forget(op);
        op.fail(error);
      }
    }
  }

  private scheduleReconnect(error: MqttError): void {
    const policy = this.options.reconnect;
    if (policy === false || this._state === 'closing' || this._state === 'closed') {
      this.failAll(error);
      this.setState('disconnected');
      return;
    }
    const attempt = ++this.reconnectAttempt;
    const base = Math.min(policy.maxDelay, policy.initialDelay * policy.factor ** (attempt - 1));
    const delay = Math.round(base * (1 - policy.jitter + 2 * policy.jitter * Math.random()));
    this.setState('reconnecting');
    if (this.listenerCount('reconnecting') > 0) this.emit('reconnecting', attempt, delay);
    this.reconnectTimer = setTimeout(reconnectSession, delay, this);
  }

  /** @internal */
  _reconnectNow(): void {
    this.reconnectTimer = undefined;
    if (this._state !== 'reconnecting') return;
    this.startAttempt();
  }

  /** Resolves at the next successful CONNACK; rejects when the session closes. */
  private whenConnected(): Promise<ConnackInfo> {
    if (this.nextConnected === undefined) {
      let resolve!: (i: ConnackInfo) => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<ConnackInfo>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      this.nextConnected = { promise, resolve, reject };
    }
    return this.nextConnected.promise;
  }

  /**
   * Subscribes again to every active subscription (the broker has no
   * session), before anything else is sent on the new connection. The
   * promise settles when every SUBACK came back or failed.
   */
  private resubscribe(): Promise<unknown> | undefined {
    const subscriptions = this.subscriptions;
    if (subscriptions === undefined || subscriptions.size === 0) return undefined;
    const groups = new Map<string, StoredSubscription[]>();
    for (const sub of subscriptions.values()) {
      const { topicFilter: _, ...rest } = sub;
      const key = JSON.stringify(rest);
      const g = groups.get(key);
      if (g === undefined) groups.set(key, [sub]);
      else g.push(sub);
    }
    const pending: Promise<void>[] = [];
    for (const subs of groups.values()) {
      let packet: SubscribePacket;
      try {
        packet = this.buildSubscribe(
          subs.map((s) => s.topicFilter),
          subs[0],
        );
      } catch (err) {
        // the new broker cannot take them (no shared or wildcard subscriptions, say)
        this.report(err, 'restoring subscriptions failed');
        continue;
      }
      const req = new ControlRequest(this, packet);
      // ahead of the replayed and queued publishes: a message published while offline to one of
      // these filters (or a request whose reply comes back on one) must find it in place
      const done = this.sendControl(req, {}, true).then(
        (ack) => {
          const codes = (ack as SubackPacket).reasonCodes;
          codes.forEach((c, i) => {
            if (c >= 0x80)
              this.report(new RejectedError(`the broker refused to restore '${subs[i].topicFilter}'`, c), '');
          });
        },
        (err: unknown) => this.report(err, 'restoring subscriptions failed'),
      );
      pending.push(done);
    }
    return Promise.all(pending);
  }

  /** Removes a publish from the store once it is acknowledged, dropped or failed. */
  private forget(req: PublishRequest): void {
    if (req.seq !== 0 && this.store.durable) {
      this.store.deleteMessage(this.options.clientId, req.seq);
      this.storeDirty = true;
    }
  }

  /**
   * Offline: applies the queue's bounds to a new publish. Returns a rejected
   * promise when the publish must not be queued, undefined when it may.
   */
  private makeRoom(packet: PublishPacket): Promise<PublishResult> | undefined {
    const q = this.options.offlineQueue;
    if (packet.qos === 0 && !q.qos0) {
      this.counters.dropped++;
      return handled(new DroppedError(`QoS 0 publish to '${packet.topic}' dropped while offline`, 'offline'));
    }
    const size = packet.payload.byteLength + packet.topic.length;
    const full = () =>
      this.engine.pendingCount + 1 > q.maxMessages || this.engine.pendingBytes + size > q.maxBytes;
    if (!full()) return undefined;
    if (q.overflow === 'drop-oldest') {
      while (full()) {
        const old = this.engine.dropOldest();
        if (old === undefined) break;
        this.counters.dropped++;
        if (old instanceof PublishRequest) {
          this.forget(old);
          old.fail(
            new DroppedError(
              `publish to '${old.packet.topic}' dropped: the offline queue overflowed`,
              'overflow',
            ),
          );
        }
      }
      if (!full()) return undefined;
    }
    this.counters.dropped++;
    const why = `the offline queue is full (${q.maxMessages} messages, ${q.maxBytes} bytes)`;
    return handled(
      q.overflow === 'reject'
        ? new DroppedError(`publish to '${packet.topic}' refused: ${why}`, 'queue-full')
        : new DroppedError(`publish to '${packet.topic}' dropped: ${why}`, 'overflow'),
    );
  }

  private dropTransport(): void {
    const t = this.transport;
    this.transport = undefined;
    t?.destroy();
  }

  private async closeNow(timeout: number, reasonCode: number): Promise<void> {
    const connected = this._state === 'connected';
    this.setState('closing');
    if (this.reconnectTimer !== undefined) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    const req = this.connectRequest;
    if (req !== undefined) this._cancel(req, new ClosedError('the session was closed while connecting'));
    if (this.attempt !== undefined) {
      this.endAttempt(this.attempt);
      this.dropTransport();
    }
    if (connected && timeout > 0 && this.engine.inflightCount + this.engine.pendingCount > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeout);
        this.idleWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.idleWaiter = undefined;
    }
    const t = this.transport;
    if (t !== undefined) {
      this.engine.disconnect(reasonCode);
      this._flush();
      await this.writeChain;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          t.destroy();
          resolve();
        }, 1000);
        timer.unref();
        this.closeWaiter = () => {
          clearTimeout(timer);
          resolve();
        };
        t.end();
      });
      this.closeWaiter = undefined;
      this.transport = undefined;
    }
    this.engine.connectionLost(false);
    this.disarmKeepalive();
    // what is left stays in the store for a session that resumes; only the promises end here
    const id = this.options.clientId;
    for (const op of this.engine.drain()) {
      if (!(op instanceof Request)) continue;
      // what is left stays in the store for a session that resumes; a durable store has it already
      if (op instanceof PublishRequest && op.seq !== 0 && !this.store.durable) {
        this.store.putMessage(id, PublishRequest.snapshot(op));
      }
      op.fail(new ClosedError());
    }
    this.qos0?.reject(new ClosedError());
    this.qos0 = undefined;
    if (this.drainWaiters !== undefined) this.rejectDrainWaiters(new ClosedError());
    this.nextConnected?.reject(new ClosedError());
    this.nextConnected = undefined;
    await this.writeChain;
    const done = this.completed;
    this.completed = undefined;
    try {
      await this.store.flush();
      if (done !== undefined) this.succeedCompleted(done);
    } catch (err) {
      const error = new StoreError('the session store failed while closing', { cause: err });
      this.report(error, '');
      if (done !== undefined) {
        const lost = new StoreError(UNRECORDED, { cause: err });
        for (const req of done) req.fail(lost);
      }
    }
    const streams = this.streams;
    this.streams = undefined;
    if (streams !== undefined) for (const s of streams) s.end();
    this.dropRoutes(() => true);
    this.setState('closed');
  }

  private rejectDrainWaiters(error: MqttError): void {
    const waiting = this.drainWaiters;
    this.drainWaiters = undefined;
    if (waiting !== undefined) for (const q of waiting) q.reject(error);
  }

  private checkIdle(): void {
    if (this.idleWaiter !== undefined && this.engine.inflightCount + this.engine.pendingCount === 0) {
      this.idleWaiter();
    }
  }

  private armKeepalive(): void {
    const deadline = this.engine.nextDeadline();
    if (deadline === Number.POSITIVE_INFINITY) return;
    const entry = new Keepalive(this);
    entry.deadline = deadline;
    this.keepalive = entry;
    sharedTimer.add(entry);
  }

  /** @internal The keepalive deadline passed: let the engine ping or give up, then re-arm. */
  _keepaliveDue(entry: Keepalive, now: number): void {
    if (this.keepalive !== entry || this.engine.state !== EngineState.Connected) return;
    this.engine.tick(now);
    if (this.keepalive !== entry) return; // the tick closed the connection
    entry.deadline = this.engine.nextDeadline();
    if (entry.deadline !== Number.POSITIVE_INFINITY) sharedTimer.add(entry);
  }

  private disarmKeepalive(): void {
    const entry = this.keepalive;
    this.keepalive = undefined;
    if (entry !== undefined) sharedTimer.remove(entry);
  }

  private qos0Promise(): Promise<PublishResult> {
    let q = this.qos0;
    if (q === undefined) {
      let resolve!: () => void;
      let reject!: (e: Error) => void;
      const promise = new Promise<PublishResult>((res, rej) => {
        resolve = () => res(QOS0_RESULT);
        reject = rej;
      });
      promise.catch(noop); // fire-and-forget QoS 0 never raises an unhandled rejection
      q = { promise, resolve, reject };
      this.qos0 = q;
    }
    return q.promise;
  }

  /** Starts a SUBSCRIBE or UNSUBSCRIBE: its timeout and signal, then the engine (`ahead`: before what is queued). */
  private sendControl(
    req: ControlRequest,
    options: OperationOptions,
    ahead = false,
  ): Promise<SubackPacket | UnsubackPacket> {
    const promise = req.start(options.timeout ?? this.options.operationTimeout, options.signal);
    try {
      this.engine.control(req, ahead);
    } catch (err) {
      req.fail(toArgumentError(err));
    }
    return promise;
  }

  private sendUnsubscribe(filters: string[], options: OperationOptions): Promise<void> {
    const state = this._state;
    if (state !== 'connected' && state !== 'connecting') return Promise.reject(this.notConnected());
    const packet: UnsubscribePacket = { type: 'unsubscribe', packetId: 0, topicFilters: filters };
    const req = new ControlRequest(this, packet);
    return this.sendControl(req, options).then((ack) => {
      const codes = (ack as UnsubackPacket).reasonCodes;
      const failed = codes?.find((c) => c >= 0x80);
      if (failed !== undefined) {
        throw new RejectedError(
          `the broker refused ${req.describe()}: ${reasonCodeName(failed, 'unsuback')}`,
          failed,
        );
      }
    });
  }

  private buildPublish(
    topic: string,
    payload: string | Uint8Array,
    o: PublishOptions | undefined,
  ): PublishPacket {
    if (typeof topic !== 'string') throw new InvalidArgumentError('topic', 'must be a string');
    const bytes = typeof payload === 'string' ? Buffer.from(payload) : toBytes(payload, 'payload');
    let qos: QoS = 0;
    let retain = false;
    let properties: PublishPacket['properties'];
    if (o !== undefined) {
      // timeout and signal too: nothing is armed or sent with a bad one
      checkOptions(o, PUBLISH_OPTIONS, 'options');
      qos = o.qos ?? 0;
      retain = o.retain === true;
      const given = o.properties;
      if (given !== undefined) {
        refuseClientProperties(given);
        properties = withUserPropertyPairs(given, 'options.properties');
      }
      const limits = this.engine.limits;
      if (qos > limits.maximumQoS) {
        throw new RejectedError(`the broker accepts QoS ${limits.maximumQoS} at most, not ${qos}`, 0x9b);
      }
      if (retain && !limits.retainAvailable)
        throw new RejectedError('the broker does not support retain', 0x9a);
    }
    return {
      type: 'publish',
      topic,
      payload: bytes,
      qos,
      retain,
      dup: false,
      packetId: undefined,
      properties,
    };
  }

  /** The SUBSCRIBE for `filters` (options checked by `subscribe()`, or restored from the store). */
  private buildSubscribe(filters: string[], o: SubscribeOptions): SubscribePacket {
    const qos = o.qos ?? 0;
    const v5 = this.engine.version === 5;
    const subscriptions: WireSubscription[] = filters.map((topicFilter) =>
      v5
        ? {
            topicFilter,
            qos,
            noLocal: o.noLocal === true,
            retainAsPublished: o.retainAsPublished === true,
            retainHandling: o.retainHandling ?? 0,
          }
        : { topicFilter, qos },
    );
    if (
      !v5 &&
      (o.noLocal || o.retainAsPublished || o.retainHandling || o.subscriptionIdentifier || o.userProperties)
    ) {
      throw new InvalidArgumentError(
        'options',
        'noLocal, retainAsPublished, retainHandling, subscriptionIdentifier and userProperties need MQTT 5',
      );
    }
    const limits = this.engine.limits;
    for (const f of filters) {
      if (!limits.sharedSubscriptionAvailable && f.startsWith('$share/')) {
        throw new RejectedError(`the broker does not support shared subscriptions ('${f}')`, 0x9e);
      }
      if (!limits.wildcardSubscriptionAvailable && /[+#]/.test(matchFilter(f))) {
        throw new RejectedError(`the broker does not support wildcard subscriptions ('${f}')`, 0xa2);
      }
    }
    let properties: SubscribePacket['properties'];
    if (o.subscriptionIdentifier !== undefined || o.userProperties !== undefined) {
      if (o.subscriptionIdentifier !== undefined && !limits.subscriptionIdentifiersAvailable) {
        throw new RejectedError('the broker does not support subscription identifiers', 0xa1);
      }
      const up = o.userProperties;
      properties = {
        subscriptionIdentifier: o.subscriptionIdentifier,
        userProperties: up === undefined ? undefined : userPropertyPairs(up, 'options.userProperties'),
      };
    }
    return { type: 'subscribe', packetId: 0, subscriptions, properties };
  }

  /** Why a turn's QoS 0 publishes were not written: their connection went first. */
  private unwritten(): MqttError {
    const s = this._state;
    if (s === 'closing' || s === 'closed') return new ClosedError();
    return new ConnectionError('the connection was lost before the publish was written');
  }

  private notConnected(): MqttError {
    const s = this._state;
    if (s === 'closing' || s === 'closed') return new ClosedError();
    return new ConnectionError(`the session is ${s}; call connect() first`);
  }

  private setState(next: SessionState): void {
    const prev = this._state;
    if (prev === next) return;
    this._state = next;
    if (this.listenerCount('state') > 0) this.emit('state', next, prev);
  }

  private report(err: unknown, what: string): void {
    this.counters.errors++;
    if (this.listenerCount('error') === 0) return;
    const error =
      err instanceof MqttError
        ? err
        : new MqttError(ErrorCode.Handler, `${what}: ${(err as Error)?.message}`, undefined, { cause: err });
    this.emit('error', error);
  }

  /** @internal A listener threw: reported as `error` (an `error` listener that throws is only counted). */
  protected override listenerFailed(err: unknown, event: keyof SessionEvents): void {
    if (event === 'error') this.counters.errors++;
    else this.report(err, `a '${event}' listener threw`);
  }

  /**
   * @internal What `util.inspect` shows: {@link Session.toJSON}'s view, never the options (they
   * hold the password).
   */
  [INSPECT](depth: number, options: InspectOptions, inspect: Inspect): string {
    return inspectAs('Session', this.toJSON(), depth, options, inspect);
  }

  /**
   * What `JSON.stringify` and `util.inspect` show of the session: where it connects (without
   * credentials, query or fragment), its client id, version, state and operations in flight;
   * never its options, which hold the password and keys.
   */
  toJSON(): SessionView {
    return {
      url: this.url,
      clientId: this.clientId,
      protocolVersion: this.protocolVersion,
      state: this._state,
      inflight: this.inflight,
    };
  }
}

/** Routes engine callbacks to the session (one object per session, no closures). */
class SessionHandler implements EngineHandler {
  constructor(private readonly s: Session) {}
  wantsFlush(): void {
    this.s._wantsFlush();
  }
  connack(p: ConnackPacket): void {
    this.s._connack(p);
  }
  message(p: PublishPacket): void {
    this.s._message(p);
  }
  published(op: PublishOp, rc: number, props: AckProperties | undefined): void {
    if (op instanceof PublishRequest) this.s._published(op, rc, props);
  }
  subscribed(op: ControlOp, p: SubackPacket): void {
    if (op instanceof ControlRequest) this.s._controlDone(op, p);
  }
  unsubscribed(op: ControlOp, p: UnsubackPacket): void {
    if (op instanceof ControlRequest) this.s._controlDone(op, p);
  }
  auth(p: AuthPacket): void {
    this.s._auth(p);
  }
  stored(op: PublishOp): void {
    if (op instanceof PublishRequest) this.s._stored(op);
  }
  incomingQoS2(packetId: number, added: boolean): void {
    this.s._incomingQoS2(packetId, added);
  }
  expired(op: PublishOp): void {
    if (op instanceof PublishRequest) this.s._expired(op);
  }
  abandoned(op: PublishOp): void {
    if (op instanceof PublishRequest) this.s._abandoned(op);
  }
  closing(error: MqttError): void {
    this.s._closing(error);
  }
}

/** A session's keepalive entry in the shared timer (a class: no closure per session). */
class Keepalive implements Timed {
  deadline = 0;
  timerBucket: Timed['timerBucket'] = undefined;
  timerPrev: Timed | undefined = undefined;
  timerNext: Timed | undefined = undefined;
  constructor(private readonly session: Session) {}
  expire(now: number): void {
    this.session._keepaliveDue(this, now);
  }
}

/** The promise the QoS 0 publishes of one turn share, settled when the turn's bytes are written. */
interface Qos0Turn {
  promise: Promise<PublishResult>;
  resolve: () => void;
  reject: (e: Error) => void;
}

const NO_ROUTES: Route[] = [];

/** Whether a message carrying subscription identifiers `ids` is for route `r` (MQTT 5). */
function forRoute(r: Route, ids: number | number[] | undefined): boolean {
  return r.id === 0 || ids === undefined || ids === r.id || (Array.isArray(ids) && ids.includes(r.id));
}
const RESOLVED: Promise<void> = Promise.resolve();
const noError = (): undefined => undefined;
/** A flush's rejection as a value (never undefined, which means success). */
const storeFailure = (err: unknown): unknown => err ?? new Error('the store failed');

function flushSession(s: Session): void {
  s._flush();
}

function reconnectSession(s: Session): void {
  s._reconnectNow();
}

/**
 * How a broker that does not speak MQTT 5 answers its CONNECT: a 3.1.1
 * CONNACK 0x01 (read as 0x84), or a close before any CONNACK (RabbitMQ 3).
 */
function refusesMqtt5(error: MqttError): boolean {
  return error instanceof ConnectionError && (error.reasonCode === 0x84 || error.reasonCode === undefined);
}

/** An operation whose signal was aborted before it started: nothing is sent. */
function abortedBefore(what: string, signal: AbortSignal): Promise<never> {
  return Promise.reject(new AbortError(`${what} was aborted before it was sent`, { cause: signal.reason }));
}
