/**
 * The connector: the session's connections, one after another.
 *
 * - An attempt (one entry of the shared timer, its deadline covering it
 *   all): the store loaded once, fresh credentials, the transport to the
 *   current URL, CONNECT, and the CONNACK. A failed attempt moves to the
 *   next URL; `connect()` fails once every URL failed. Under
 *   `protocolVersion: 'auto'` a broker that refuses MQTT 5 is tried again
 *   at once with 3.1.1.
 * - Connected: keepalive is armed in the shared timer; without a broker
 *   session the subscriptions are restored, and `ready` follows.
 * - Lost: the engine lets go of the connection; the session reconnects
 *   after a backoff (exponential, with jitter, reset by a connection that
 *   lasted), or fails what waits when it may not.
 * - Ending a connection: DISCONNECT flushed, the transport ended, and
 *   destroyed 1 s later if the broker does not close its side.
 */
import { reasonCodeName } from '../codec/reason-codes.js';
import type { ConnackPacket } from '../codec/types.js';
import { type Deferred, deferred } from '../core/deferred.js';
import {
  CLOSED_BEFORE_CONNACK,
  ClosedError,
  ConnectionError,
  MqttError,
  StoreError,
  TimeoutError,
} from '../core/errors.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import { redact, urlCredentials } from '../core/url.js';
import { toBytes } from '../core/validate.js';
import type { PersistedSession } from '../store/types.js';
import { openTransport } from '../transport/index.js';
import type { Transport } from '../transport/types.js';
import type { SessionContext } from './context.js';
import { KeepaliveTimer } from './keepalive.js';
import { toArgumentError } from './packets.js';
import { type Cancellable, ConnectRequest, PublishRequest, type RequestOwner } from './requests.js';
import type { ConnackInfo } from './types.js';

const V4_CONNACK = [0x00, 0x84, 0x85, 0x88, 0x86, 0x87];
/** The smallest WebSocket message limit, whatever maximumPacketSize: room for a batch of small packets. */
const WS_MESSAGE_FLOOR = 1024 * 1024;

export class Connector implements RequestOwner {
  /** The connection, from the transport's opening to its close. */
  transport: Transport | undefined = undefined;
  /** The last successful CONNACK; undefined until the first (the session never connected). */
  lastConnack: ConnackInfo | undefined = undefined;
  /** Connected, and the subscriptions the broker had lost are restored (until the next CONNACK). */
  ready = false;
  /** The `connect()` call waiting for its CONNACK. */
  private request: ConnectRequest | undefined = undefined;
  private promise: Promise<ConnackInfo> | undefined = undefined;
  /** The signal of the `connect()` call: it aborts its transports too. */
  private signal: AbortSignal | undefined = undefined;
  private attempt: Attempt | undefined = undefined;
  private urlIndex = 0;
  /** URLs tried by the current connect() call. */
  private tried = 0;
  /** Date.now() of the latest successful CONNACK. */
  private connectedAt = 0;
  /** `protocolVersion: 'auto'` fell back to 3.1.1 in this round of attempts, for this reason. */
  private fallbackReason: MqttError | undefined = undefined;
  /** The store was loaded (once per session). */
  private restored = false;
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined = undefined;
  /** `connect()` calls made while reconnecting: they resolve at the next CONNACK. */
  private nextConnected: Deferred<ConnackInfo> | undefined = undefined;
  private readonly keepalive: KeepaliveTimer;
  /** `close()` waiting for the transport it ended to close. */
  private closeWaiter: (() => void) | undefined = undefined;

  constructor(private readonly ctx: SessionContext) {
    this.keepalive = new KeepaliveTimer(ctx);
  }

  /** A CONNACK came since the session was made. */
  private get connectedOnce(): boolean {
    return this.lastConnack !== undefined;
  }

  /** `session.connect()` (options checked): see there. */
  connect(signal: AbortSignal | undefined): Promise<ConnackInfo> {
    const ctx = this.ctx;
    const state = ctx.state;
    if (state === 'closing' || state === 'closed') return Promise.reject(new ClosedError());
    if (state === 'connected' && this.lastConnack !== undefined) return Promise.resolve(this.lastConnack);
    if (state === 'connecting' && this.promise !== undefined) return this.promise;
    if (state === 'reconnecting') return this.whenConnected();
    const req = new ConnectRequest(this, ctx.url);
    this.request = req;
    this.signal = signal;
    this.promise = req.start(0, signal);
    this.tried = 0;
    ctx.setState('connecting');
    this.startAttempt();
    return this.promise;
  }

  /** The `connect()` call was aborted (or the session closed while connecting). */
  cancel(req: Cancellable, error: MqttError): void {
    if (req.settled) return;
    if (req === this.request) {
      const ctx = this.ctx;
      this.request = undefined;
      if (this.attempt !== undefined) this.endAttempt(this.attempt);
      this.dropTransport();
      ctx.engine.connectionLost();
      if (!this.connectedOnce) ctx.operations.failAll(error);
      if (ctx.state !== 'closing') ctx.setState('disconnected');
    }
    req.fail(error);
  }

  /** The CONNACK of the current attempt. */
  connack(p: ConnackPacket): void {
    const attempt = this.attempt;
    if (attempt === undefined) return;
    const ctx = this.ctx;
    const engine = ctx.engine;
    if (p.reasonCode !== 0) {
      const version = engine.version;
      const rc = version === 4 ? (V4_CONNACK[p.reasonCode] ?? 0x80) : p.reasonCode;
      const why = p.properties?.reasonString;
      this.attemptFailed(
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
      protocolVersion: engine.version,
    };
    const req = this.request;
    this.request = undefined;
    this.promise = undefined;
    if (this.connectedOnce) ctx.counters.reconnects++;
    ctx.log?.connected(attempt.url, p, this.connectedOnce);
    this.fallbackReason = undefined;
    this.connectedAt = Date.now();
    this.lastConnack = info;
    this.ready = false;
    ctx.setState('connected');
    this.keepalive.arm();
    const restoring = p.sessionPresent ? undefined : ctx.subscriptions.resubscribe();
    req?.succeed(info);
    const waiting = this.nextConnected;
    this.nextConnected = undefined;
    waiting?.resolve(info);
    const session = ctx.session;
    if (session.listenerCount('connect') > 0) session.emit('connect', info);
    if (restoring === undefined) this.becomeReady(info);
    else restoring.then(() => this.becomeReady(info));
  }

  /** Connected with `info` and every subscription restored (refusals were reported as `error`). */
  private becomeReady(info: ConnackInfo): void {
    // a later CONNACK (a new connection) has its own restore to wait for
    if (this.lastConnack !== info || this.ctx.state !== 'connected') return;
    this.ready = true;
    const session = this.ctx.session;
    if (session.listenerCount('ready') > 0) session.emit('ready', info);
  }

  /** A connection attempt failed: the next URL, a reconnect later, or the end. */
  attemptFailed(attempt: Attempt, failure: MqttError): void {
    if (attempt.done || this.attempt !== attempt) return;
    const ctx = this.ctx;
    const engine = ctx.engine;
    this.endAttempt(attempt);
    this.dropTransport();
    engine.connectionLost();
    ctx.counters.errors++;
    let error = failure;
    if (ctx.options.autoVersion && !this.connectedOnce) {
      if (engine.version === 5 && attempt.opened && refusesMqtt5(error) && engine.useVersion(4)) {
        // 'auto': the same broker again at once, with 3.1.1
        this.fallbackReason = error;
        ctx.log?.fallback(attempt.url, error);
        if (ctx.session.listenerCount('fallback') > 0) ctx.session.emit('fallback', error);
        this.startAttempt();
        return;
      }
      const first = this.fallbackReason;
      if (first !== undefined) {
        // 3.1.1 failed too: say both, and start the next round with MQTT 5 again (the first
        // refusal may have been the network's, not the broker's)
        this.fallbackReason = undefined;
        engine.useVersion(5);
        error = new ConnectionError(
          `${error.message} (with MQTT 3.1.1, after MQTT 5 failed: ${first.message})`,
          error.reasonCode,
          { cause: error },
        );
      }
    }
    const urls = ctx.options.urls;
    this.urlIndex = (this.urlIndex + 1) % urls.length;
    const req = this.request;
    if (req !== undefined) {
      if (++this.tried < urls.length) {
        ctx.log?.attemptFailed(attempt.url, error, 'next url');
        this.startAttempt();
        return;
      }
      this.request = undefined;
      if (!this.connectedOnce) {
        ctx.log?.attemptFailed(attempt.url, error, 'give up');
        ctx.operations.failAll(error);
        ctx.setState('disconnected');
        req.fail(error);
        return;
      }
      req.fail(error);
    }
    const ending = ctx.options.reconnect === false || ctx.state === 'closing' || ctx.state === 'closed';
    ctx.log?.attemptFailed(attempt.url, error, ending ? 'give up' : 'reconnect');
    this.scheduleReconnect(error);
  }

  /** The attempt's deadline passed before its CONNACK. */
  attemptExpired(attempt: Attempt): void {
    if (attempt.done) return;
    const answer = this.ctx.engine.unansweredConnect;
    this.attemptFailed(
      attempt,
      new TimeoutError(
        `connect to ${redact(attempt.url)} timed out` +
          (answer === undefined ? '' : ` waiting for CONNACK: ${answer}`),
      ),
    );
  }

  /** The engine decided the connection must end (DISCONNECT may be in the output). */
  closing(error: MqttError): void {
    const t = this.transport;
    if (t !== undefined) {
      this.ctx.writer.flush();
      this.transport = undefined;
      endThenDestroy(t);
    }
    this.lost(error);
  }

  /** The transport's buffer emptied. */
  drained(transport: Transport): void {
    if (this.transport === transport) this.ctx.writer.drained();
  }

  /** At close, first: no reconnect, no attempt, and the `connect()` call waiting rejects. */
  stop(): void {
    if (this.reconnectTimer !== undefined) {
      clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
    }
    const req = this.request;
    if (req !== undefined) this.cancel(req, new ClosedError('the session was closed while connecting'));
    if (this.attempt !== undefined) {
      this.endAttempt(this.attempt);
      this.dropTransport();
    }
  }

  /**
   * At close, once the operations in flight had their time: DISCONNECT with
   * `reasonCode`, written after everything before it, then the transport
   * ended. The promise resolves when it closed (or was destroyed after 1 s);
   * undefined when there is no connection.
   */
  disconnect(reasonCode: number): Promise<void> | undefined {
    const t = this.transport;
    if (t === undefined) return undefined;
    this.ctx.engine.disconnect(reasonCode);
    this.ctx.writer.flush();
    return this.endConnection(t);
  }

  private async endConnection(t: Transport): Promise<void> {
    await this.ctx.writer.settled();
    await new Promise<void>((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let closed = false;
      this.closeWaiter = () => {
        closed = true;
        clearTimeout(timer);
        resolve();
      };
      timer = endThenDestroy(t, resolve);
      // a transport whose end() closed it at once: the destroy timer is not needed
      if (closed) clearTimeout(timer);
    });
    this.closeWaiter = undefined;
    this.transport = undefined;
  }

  /** At close, after the connection: the engine and keepalive let go of it. */
  release(): void {
    this.ctx.engine.connectionLost(false);
    this.keepalive.disarm();
  }

  /** At close, last: the `connect()` calls waiting for a reconnect reject. */
  rejectWaiting(): void {
    this.nextConnected?.reject(new ClosedError());
    this.nextConnected = undefined;
  }

  /** Ends `attempt` (the current one): it leaves the timer and the session. */
  private endAttempt(attempt: Attempt): void {
    attempt.done = true;
    sharedTimer.remove(attempt);
    if (this.attempt === attempt) this.attempt = undefined;
  }

  /** Opens a connection to the current URL: store, credentials, transport, CONNECT. */
  private startAttempt(): void {
    const o = this.ctx.options;
    const url = o.urls[this.urlIndex];
    const attempt = new Attempt(this, url);
    this.attempt = attempt;
    attempt.deadline = Date.now() + o.connectTimeout;
    sharedTimer.add(attempt);
    const signal = this.request === undefined ? undefined : this.signal;
    this.prepare(url)
      .then(() =>
        openTransport(url, {
          tls: o.tls,
          ws: o.ws,
          connectTimeout: o.connectTimeout,
          localAddress: o.localAddress,
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
          this.attemptFailed(
            attempt,
            err instanceof MqttError
              ? err
              : new ConnectionError(`cannot connect to ${redact(url)}`, undefined, { cause: err }),
          ),
      );
  }

  /** Before each attempt: the store (once), then fresh credentials (from the hook, or from the URL). */
  private async prepare(url: string): Promise<void> {
    const tracing = this.ctx.traceIfRegistered();
    if (tracing !== undefined) await tracing;
    if (!this.restored) {
      this.restored = true;
      try {
        await this.restore();
      } catch (err) {
        this.restored = false; // the next attempt loads it again: never go on without what it holds
        throw err;
      }
    }
    const o = this.ctx.options;
    const hook = o.credentials;
    let username: string | undefined;
    let password: Uint8Array | undefined;
    if (o.urlCredentials) {
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
      this.ctx.engine.setCredentials(username, password);
    } catch (err) {
      throw toArgumentError(err);
    }
  }

  /** Loads what a previous session with this client id left in the store (or clears it for a clean start). */
  private async restore(): Promise<void> {
    const ctx = this.ctx;
    const store = ctx.store;
    const id = ctx.options.clientId;
    if (ctx.options.clean) {
      await store.clear(id);
      ctx.log?.logger.debug({}, 'clean start: the store holds nothing for this client id');
      return;
    }
    let saved: PersistedSession;
    // a FileStore tells what it skipped in this client's log while loading it
    const unwatch = ctx.log?.watchStore(store);
    try {
      saved = await store.load(id);
    } catch (err) {
      throw new StoreError(`cannot load the session of '${id}' from the store`, { cause: err });
    } finally {
      unwatch?.();
    }
    ctx.log?.restored(saved);
    const operations = ctx.operations;
    const ops = saved.messages.map((m) => PublishRequest.restored(operations, m));
    if (!store.durable) {
      // the live session owns them now; close() puts back what is left
      for (const m of saved.messages) store.deleteMessage(id, m.seq);
    }
    for (const op of ops) if (op.seq > operations.seq) operations.seq = op.seq;
    ctx.engine.restore(ops, saved.incomingQoS2);
    ctx.subscriptions.restore(saved.subscriptions);
  }

  private attachTransport(attempt: Attempt, transport: Transport): void {
    const ctx = this.ctx;
    const engine = ctx.engine;
    const counters = ctx.counters;
    this.transport = transport;
    attempt.opened = true;
    const url = attempt.url; // the hooks keep the URL, not the attempt, alive
    transport.onData = (chunk) => {
      counters.bytesIn += chunk.length;
      engine.receive(chunk, Date.now());
    };
    transport.onDrain = () => this.drained(transport);
    transport.onClose = (err) => {
      if (this.transport !== transport) return;
      this.transport = undefined;
      // the end of the session's own close(): nobody is told, so no error (and its stack trace) is made
      if (ctx.state === 'closing' && this.attempt === undefined) return this.lost(undefined);
      // before CONNACK the attempt that opened this transport is still the current one
      const current = this.attempt;
      // a transport's own ConnectionError already says which connection failed and why
      const answer = this.attempt === undefined ? undefined : engine.unansweredConnect;
      const error =
        err instanceof ConnectionError
          ? err
          : new ConnectionError(
              `connection to ${redact(url)} ${err ? `failed: ${err.message}` : current === undefined ? 'closed by the broker' : answer === undefined ? CLOSED_BEFORE_CONNACK : `${CLOSED_BEFORE_CONNACK}: ${answer}`}`,
              undefined,
              { cause: err },
            );
      if (current !== undefined) this.attemptFailed(current, error);
      else this.lost(error);
    };
    engine.open(Date.now());
    ctx.writer.flush();
  }

  /**
   * The connection is gone: reconnect, or fail what waits on it, or finish a
   * close. `error` is undefined only for the end of close(), which fails
   * what still waits itself (with ClosedError).
   */
  private lost(error: MqttError | undefined): void {
    const ctx = this.ctx;
    // closed by this session (close(), or its store failing before the output left) counts no
    // delivery attempt against what was in flight
    ctx.engine.connectionLost(error !== undefined && !(error.cause instanceof StoreError));
    this.keepalive.disarm();
    ctx.writer.connectionLost(error);
    this.closeWaiter?.();
    // close() waiting for acknowledgements: none can come any more (a closing session does not reconnect)
    if (ctx.state === 'closing') ctx.operations.wakeIdle();
    if (error === undefined) return;
    const attempt = this.attempt;
    if (attempt !== undefined) {
      this.attemptFailed(attempt, error);
      return;
    }
    // closing, closed, or an attempt that already failed: nothing more to do
    if (ctx.state !== 'connected') return;
    ctx.counters.errors++;
    ctx.log?.lost(ctx.options.urls[this.urlIndex], error);
    // the backoff starts again only after a connection that lasted: a broker that accepts and
    // drops every connection meets a growing delay, not a storm
    const policy = ctx.options.reconnect;
    if (policy !== false && Date.now() - this.connectedAt >= policy.resetAfter) this.reconnectAttempt = 0;
    const session = ctx.session;
    if (policy !== false) {
      ctx.setState('reconnecting');
      session.emit('disconnect', error);
      session.emit('offline');
      this.scheduleReconnect(error);
      return;
    }
    ctx.operations.failAll(error);
    ctx.setState('disconnected');
    session.emit('disconnect', error);
  }

  private scheduleReconnect(error: MqttError): void {
    const ctx = this.ctx;
    const policy = ctx.options.reconnect;
    if (policy === false || ctx.state === 'closing' || ctx.state === 'closed') {
      ctx.operations.failAll(error);
      ctx.setState('disconnected');
      return;
    }
    const attempt = ++this.reconnectAttempt;
    const base = Math.min(policy.maxDelay, policy.initialDelay * policy.factor ** (attempt - 1));
    const delay = Math.round(base * (1 - policy.jitter + 2 * policy.jitter * Math.random()));
    ctx.setState('reconnecting');
    ctx.log?.reconnecting(attempt, delay);
    if (ctx.session.listenerCount('reconnecting') > 0) ctx.session.emit('reconnecting', attempt, delay);
    this.reconnectTimer = setTimeout(reconnectNow, delay, this);
  }

  /** The backoff delay passed: the next attempt. */
  reconnect(): void {
    this.reconnectTimer = undefined;
    if (this.ctx.state !== 'reconnecting') return;
    this.startAttempt();
  }

  /** Resolves at the next successful CONNACK; rejects when the session closes. */
  private whenConnected(): Promise<ConnackInfo> {
    this.nextConnected ??= deferred<ConnackInfo>();
    return this.nextConnected.promise;
  }

  private dropTransport(): void {
    const t = this.transport;
    this.transport = undefined;
    t?.destroy();
  }
}

/** One connection attempt: its deadline covers transport, credentials and CONNACK. */
export class Attempt extends TimerEntry {
  done = false;
  /** The network connection is open and CONNECT went out: a close now is the broker's answer. */
  opened = false;
  constructor(
    private readonly connector: Connector,
    readonly url: string,
  ) {
    super();
  }
  expire(): void {
    this.connector.attemptExpired(this);
  }
}

/**
 * Ends `t` (after its queued output) and destroys it if it has not closed
 * 1 s later: a peer that does not close its side gets no say in how long
 * this takes. `destroyed` runs if it came to that. Returns the timer, for
 * the caller to clear when the transport closed in time.
 */
function endThenDestroy(t: Transport, destroyed?: () => void): NodeJS.Timeout {
  const timer = setTimeout(destroyAfterEnd, 1000, t, destroyed);
  timer.unref();
  t.end();
  return timer;
}

function destroyAfterEnd(t: Transport, destroyed: (() => void) | undefined): void {
  t.destroy();
  destroyed?.();
}

function reconnectNow(c: Connector): void {
  c.reconnect();
}

/**
 * How a broker that does not speak MQTT 5 answers its CONNECT: a 3.1.1
 * CONNACK 0x01 (read as 0x84), or a close before any CONNACK (RabbitMQ 3).
 */
function refusesMqtt5(error: MqttError): boolean {
  return error instanceof ConnectionError && (error.reasonCode === 0x84 || error.reasonCode === undefined);
}
