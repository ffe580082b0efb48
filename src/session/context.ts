/**
 * What the parts of one session share, and the wiring between them.
 *
 * A `Session` is a façade over parts with one job each:
 *
 * ```
 *   Session (public API)
 *     └─ SessionContext: options, engine, store, state, counters
 *          ├─ Connector      connect attempts, CONNACK, reconnect
 *          │    └─ KeepaliveTimer  pings, in the shared timer
 *          ├─ Subscriptions  routes, what to restore, resubscribe
 *          ├─ Dispatcher     received messages to listeners, handlers, streams
 *          ├─ Operations     publishes and (un)subscribes settled
 *          ├─ OfflineQueue   the queue's bounds and what it drops
 *          ├─ Journal        what goes to the store between flushes
 *          ├─ Writer         the turn's flush: store first, then one write
 *          └─ SessionLog     what the `logger` option hears (none without one)
 * ```
 *
 * (`answerAuth` in authentication.ts answers the broker's AUTH challenges;
 * `packets.ts` builds what the parts send.)
 *
 * The engine's callbacks reach the parts through one {@link EngineHandlerAdapter};
 * the parts reach each other through this object. Nothing here is public:
 * the session holds its context in a `#private` field.
 */
import { ClosedError, ConnectionError, ErrorCode, MqttError } from '../core/errors.js';
import { redact } from '../core/url.js';
import { ClientEngine } from '../protocol/engine.js';
import type { SessionStore } from '../store/types.js';
import { loadTracing, type SessionTracer, tracerRegistered } from '../tracing/hooks.js';
import { Connector } from './connector.js';
import { Dispatcher } from './dispatch.js';
import { EngineHandlerAdapter } from './engine-handler.js';
import { Journal } from './journal.js';
import { SessionLog } from './log.js';
import { OfflineQueue } from './offline-queue.js';
import { Operations } from './operations.js';
import type { ResolvedOptions } from './options.js';
import { toArgumentError } from './packets.js';
import type { Session } from './session.js';
import { Subscriptions } from './subscriptions.js';
import type { SessionState } from './types.js';
import { Writer } from './writer.js';

export class SessionContext {
  /** Where the session is in its life; only {@link SessionContext.setState} changes it. */
  state: SessionState = 'new';
  /** What `metrics()` reports (with what the engine and the histogram add). */
  readonly counters = {
    messagesIn: 0,
    messagesOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    reconnects: 0,
    errors: 0,
    dropped: 0,
  };
  /** Where this session connects (its first URL), without credentials, query or fragment. */
  readonly url: string;
  readonly store: SessionStore;
  readonly engine: ClientEngine;
  readonly writer: Writer;
  readonly journal: Journal;
  readonly operations: Operations;
  readonly queue: OfflineQueue;
  readonly subscriptions: Subscriptions;
  readonly dispatcher: Dispatcher;
  readonly connector: Connector;
  /** Spans and trace context, once a tracer provider is registered and tracing is loaded (option `tracing`). */
  tracer: SessionTracer | undefined = undefined;
  /** Tracing being loaded: `traceIfRegistered()`. */
  private tracing: Promise<void> | undefined = undefined;
  /** Where the session's life is logged; undefined without the `logger` option (then nothing is). */
  readonly log: SessionLog | undefined;

  constructor(
    /** The public object: what emits the session's events. */
    readonly session: Session,
    readonly options: ResolvedOptions,
  ) {
    this.url = redact(options.url);
    this.store = options.store;
    this.log = options.logger === undefined ? undefined : new SessionLog(options.logger, options.name, this);
    // the parts keep this context and read the engine when they act, never while being built
    this.journal = new Journal(options.store, options.clientId);
    this.writer = new Writer(this);
    this.operations = new Operations(this);
    this.queue = new OfflineQueue(this);
    this.subscriptions = new Subscriptions(this);
    this.dispatcher = new Dispatcher(this);
    this.connector = new Connector(this);
    try {
      // ResolvedOptions carries every EngineOptions field under the same name
      this.engine = new ClientEngine(options, new EngineHandlerAdapter(this));
    } catch (err) {
      throw toArgumentError(err, ''); // the CONNECT properties are options of their own
    }
    void this.traceIfRegistered();
  }

  /**
   * Loads the tracer when the `tracing` option is on and an OpenTelemetry
   * tracer provider is registered: at construction, and before each
   * connection attempt (a provider may be registered after the session was
   * made). Resolves once the tracer is in place; undefined when there is
   * nothing to wait for. A failure to load is reported once as `error`,
   * and the session goes on untraced.
   */
  traceIfRegistered(): Promise<void> | undefined {
    if (this.tracer !== undefined) return undefined;
    if (this.tracing !== undefined) return this.tracing;
    if (!this.options.tracing || !tracerRegistered()) return undefined;
    const ctx = this;
    const view = {
      get clientId() {
        return ctx.engine.clientId;
      },
      name: this.options.name,
      url: this.url,
      get protocolVersion() {
        return ctx.engine.version;
      },
    };
    this.tracing = loadTracing().then(
      (m) => {
        this.tracer = m.tracerFor(view);
      },
      (err: unknown) => this.report(err, 'tracing could not be loaded'),
    );
    return this.tracing;
  }

  setState(next: SessionState): void {
    const prev = this.state;
    if (prev === next) return;
    this.state = next;
    if (this.session.listenerCount('state') > 0) this.session.emit('state', next, prev);
  }

  /** Counts an error and emits it as `error` (what is not an MqttError is wrapped, `what` saying where). */
  report(err: unknown, what: string): void {
    this.counters.errors++;
    this.log?.error(err, what);
    if (this.session.listenerCount('error') === 0) return;
    const error =
      err instanceof MqttError
        ? err
        : new MqttError(ErrorCode.Handler, `${what}: ${(err as Error)?.message}`, undefined, { cause: err });
    this.session.emit('error', error);
  }

  /** Why an operation cannot start in the current state. */
  notConnected(): MqttError {
    const s = this.state;
    if (s === 'closing' || s === 'closed') return new ClosedError();
    return new ConnectionError(`the session is ${s}; call connect() first`);
  }
}

/** Reads a session's context: the `Session` class gives it at its definition (its field is `#private`). */
let contextOf: ((session: Session) => SessionContext) | undefined;

/** @internal For the `Session` class only. */
export function readContextWith(reader: (session: Session) => SessionContext): void {
  contextOf ??= reader;
}

/**
 * The parts behind a session, for tests that must look inside it (the
 * bytes its engine holds, its transport). Not exported by the package.
 */
export function sessionContext(session: Session): SessionContext {
  return (contextOf as (session: Session) => SessionContext)(session);
}

/** @internal The tracer of `session`, once loaded: what RPC and forwarders make their spans with. */
export function tracerOf(session: Session): SessionTracer | undefined {
  try {
    return sessionContext(session).tracer;
  } catch {
    return undefined; // a stand-in for a Session (a test's fake) has no context
  }
}
