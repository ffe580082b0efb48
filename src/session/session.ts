/**
 * `Session`: the public face of one MQTT session over many network
 * connections in its life.
 *
 * How it works: the session is a façade over parts with one job each (the
 * map is in `context.ts`): the connector makes and loses connections, the
 * subscription registry and dispatch route what arrives, the operations
 * settle what was sent, the offline queue bounds what waits, the journal
 * and the writer put the store and the socket in order. A
 * `ClientEngine` (`protocol/engine.ts`) holds the protocol state. Each call goes to the
 * part that does it; `publish`, the hottest, is done here on the shortest
 * path.
 *
 * Time: operation timeouts, the connect timeout and keepalive are entries
 * of the process-wide coarse timer (`core/timer.ts`), not a timer per
 * message. The reconnect backoff, close()'s wait for what is in flight and
 * the end of a connection each have a timer of their own: one at a time,
 * never one per message.
 */
import type { PublishPacket } from '../codec/types.js';
import { SafeEmitter } from '../core/emitter.js';
import { InvalidArgumentError } from '../core/errors.js';
import { INSPECT, type Inspect, type InspectOptions, inspectAs } from '../core/inspect.js';
import { checkOptions } from '../core/schema.js';
import type { ServerLimits } from '../protocol/engine.js';
import type { StoredSubscription } from '../store/types.js';
import { readContextWith, SessionContext } from './context.js';
import { LatencyHistogram } from './latency.js';
import type { MessageStream } from './message-stream.js';
import { resolveOptions, type SessionOptions } from './options.js';
import { buildPublish, toArgumentError } from './packets.js';
import { abortedBefore, PublishRequest } from './requests.js';
import { CLOSE_OPTIONS, CONNECT_OPTIONS } from './schema.js';
import type {
  ConnackInfo,
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
import { QOS0_RESULT } from './writer.js';

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
  /** The parts that do the work, and what they share. */
  readonly #ctx: SessionContext;
  #closePromise: Promise<void> | undefined = undefined;
  #closeHooks: Set<() => unknown> | undefined = undefined;

  static {
    readContextWith((session) => session.#ctx);
  }

  constructor(options: SessionOptions) {
    super();
    const ctx = new SessionContext(this, resolveOptions(options));
    this.#ctx = ctx;
    this.url = ctx.url;
  }

  /** Where the session is in its life; see {@link SessionState}. Changes are the `state` event. */
  get state(): SessionState {
    return this.#ctx.state;
  }

  /** The client identifier in use (the broker may have assigned it). */
  get clientId(): string {
    return this.#ctx.engine.clientId;
  }

  /**
   * The protocol level in use: 5 (MQTT 5.0) or 4 (MQTT 3.1.1). With
   * `protocolVersion: 'auto'` it is 5 until a broker refused it, then 4.
   */
  get protocolVersion(): 4 | 5 {
    return this.#ctx.engine.version;
  }

  /** The broker's limits from the last CONNACK. */
  get serverLimits(): ServerLimits {
    return this.#ctx.engine.limits;
  }

  /** The last successful CONNACK (session present, properties such as Response Information). */
  get connack(): ConnackInfo | undefined {
    return this.#ctx.connector.lastConnack;
  }

  /** Connected, and the subscriptions the broker had lost are restored (the `ready` event). */
  get ready(): boolean {
    return this.#ctx.connector.ready && this.#ctx.state === 'connected';
  }

  /** QoS 1/2 publishes, subscribes and unsubscribes sent and not yet acknowledged. */
  get inflight(): number {
    return this.#ctx.engine.inflightCount;
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
    return this.#ctx.connector.connect(options.signal);
  }

  /** A snapshot of the session's counters. */
  metrics(): SessionMetrics {
    const ctx = this.#ctx;
    const engine = ctx.engine;
    const c = ctx.counters;
    // written out, not spread: one shape for every snapshot (a spread then more fields costs
    // microseconds and a hidden class of its own per object, which a fleet pays per session per second)
    return {
      messagesIn: c.messagesIn,
      messagesOut: c.messagesOut,
      bytesIn: c.bytesIn,
      bytesOut: c.bytesOut,
      reconnects: c.reconnects,
      errors: c.errors,
      dropped: c.dropped,
      inflight: engine.inflightCount,
      queued: engine.pendingCount,
      queuedBytes: engine.pendingBytes,
      roundTrip: engine.roundTrip,
      publishLatency: ctx.operations.latency?.snapshot() ?? LatencyHistogram.empty(),
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
    const ctx = this.#ctx;
    const state = ctx.state;
    if (state !== 'connected' && state !== 'connecting' && state !== 'reconnecting') {
      return Promise.reject(ctx.notConnected());
    }
    const engine = ctx.engine;
    let packet: PublishPacket;
    try {
      packet = buildPublish(engine, topic, payload, options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (options?.signal?.aborted === true) return abortedBefore(`publish to '${topic}'`, options.signal);
    if (state !== 'connected') {
      const refused = ctx.queue.makeRoom(packet);
      if (refused !== undefined) return refused;
    }
    ctx.counters.messagesOut++;
    // the one check tracing costs when no tracer provider is registered
    const span = ctx.tracer?.publish(packet);
    if (packet.qos === 0 && options?.signal === undefined && state === 'connected') {
      try {
        engine.publish({ packet, packetId: 0, stage: 0 });
      } catch (err) {
        const error = toArgumentError(err, 'options.properties');
        span?.end(0, undefined, error);
        return Promise.reject(error);
      }
      span?.end(0, undefined, undefined);
      return ctx.writer.qos0Promise();
    }
    const operations = ctx.operations;
    const req = new PublishRequest(operations, packet);
    req.span = span;
    const promise = req.start(options?.timeout ?? ctx.options.operationTimeout, options?.signal);
    const expiry = packet.properties?.messageExpiryInterval;
    if (expiry !== undefined) req.expiresAt = Date.now() + expiry * 1000;
    if (packet.qos > 0) {
      req.seq = ++operations.seq;
      req.startedAt = performance.now();
      if (ctx.store.durable) {
        // a memory store gets what is left when the session closes (see Operations.closeAll), not every message
        ctx.journal.putMessage(req);
        if (state !== 'connected') ctx.writer.wantsFlush();
      }
    }
    let sent = false;
    try {
      sent = engine.publish(req);
    } catch (err) {
      ctx.journal.forget(req);
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
    return this.#ctx.subscriptions.subscribe(filters, options, handler);
  }

  /** Unsubscribes filters (and drops every handler bound to them). */
  unsubscribe(filters: string | readonly string[], options: OperationOptions = {}): Promise<void> {
    return this.#ctx.subscriptions.unsubscribe(filters, options);
  }

  /**
   * The subscriptions the session holds (and restores after a reconnect),
   * one per filter, with the options they were made with: a copy, in the
   * order they were made.
   */
  subscriptions(): StoredSubscription[] {
    return this.#ctx.subscriptions.list();
  }

  /**
   * Received messages (those matching `filter`, or all) as an async
   * iterator. It does not subscribe: pair it with `subscribe()`. A slow
   * consumer loses the oldest messages past `messageBuffer` (counted in the
   * iterator's `dropped`); the iteration ends when the session closes.
   */
  messages(filter?: string): MessageStream {
    return this.#ctx.dispatcher.messages(filter);
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
    if (this.#closePromise !== undefined) return this.#closePromise;
    const timeout = options.timeout ?? 5000;
    const reasonCode = options.reasonCode ?? 0;
    const hooks = this.#closeHooks;
    this.#closeHooks = undefined;
    this.#closePromise =
      hooks === undefined
        ? this.#closeNow(timeout, reasonCode)
        : Promise.allSettled([...hooks].map((h) => Promise.resolve().then(h))).then((results) => {
            for (const r of results)
              if (r.status === 'rejected') this.#ctx.report(r.reason, 'a close hook failed');
            return this.#closeNow(timeout, reasonCode);
          });
    return this.#closePromise;
  }

  /**
   * Runs `hook` when `close()` is called, before anything closes (the
   * session can still publish: channels flush their batches here); `close()`
   * waits for the promise it returns. Returns the function that removes it.
   */
  beforeClose(hook: () => unknown): () => void {
    if (typeof hook !== 'function') throw new InvalidArgumentError('hook', 'must be a function');
    const hooks = (this.#closeHooks ??= new Set());
    hooks.add(hook);
    return () => {
      hooks.delete(hook);
    };
  }

  /**
   * The close itself, part by part: no more connecting; the operations in
   * flight get `timeout` ms; DISCONNECT and the end of the connection; what
   * is left rejects with `ClosedError`; a last store flush; the streams end.
   */
  async #closeNow(timeout: number, reasonCode: number): Promise<void> {
    const ctx = this.#ctx;
    const { connector, operations, writer } = ctx;
    const connected = ctx.state === 'connected';
    ctx.setState('closing');
    connector.stop();
    if (connected && timeout > 0 && operations.busy) await operations.idle(timeout);
    const ending = connector.disconnect(reasonCode);
    if (ending !== undefined) await ending;
    connector.release();
    operations.closeAll();
    writer.rejectUnwritten();
    connector.rejectWaiting();
    await writer.finish();
    ctx.dispatcher.endStreams();
    ctx.subscriptions.dropAll();
    ctx.log?.closed(reasonCode);
    ctx.setState('closed');
  }

  /** @internal A listener threw: reported as `error` (an `error` listener that throws is only counted). */
  protected override listenerFailed(err: unknown, event: keyof SessionEvents): void {
    const ctx = this.#ctx;
    if (event === 'error') ctx.counters.errors++;
    else ctx.report(err, `a '${event}' listener threw`);
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
      state: this.state,
      inflight: this.inflight,
    };
  }
}
