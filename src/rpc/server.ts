/**
 * How `RpcServer` works. `route()` compiles a pattern once: its named
 * segments (`:id`) become `+` in the filter it subscribes, and the route
 * keeps each name's level index, so a request's params are read from its
 * topic's levels (no regex per request). With a `group` the filter is
 * subscribed as `$share/{group}/{filter}`; the broker delivers the plain
 * topic, so the levels still line up.
 *
 * A request arrives on its route's subscription (`#arrive`). With MQTT 5 its
 * response topic and correlation data are PUBLISH properties; with 3.1.1
 * they are taken out of mqttkit's envelope (`envelope.ts`). It becomes one
 * `Job`, which is both the `RpcRequest` the handler sees and its entry in
 * the shared coarse timer (`core/timer.ts`): no closure or `setTimeout` per
 * request.
 *
 * At most `concurrency` jobs run; up to `maxQueue` more wait in a FIFO, and
 * one beyond that is answered 503 at once. A job's end (its result or its
 * timeout) frees its slot and starts the next queued job. A timeout aborts
 * the job's signal and answers 504; the handler's late result is then
 * dropped (the job's `released` and `answered` flags make each step happen
 * once). Middleware runs as a chain by index, each `next()` running the rest
 * once.
 *
 * A response goes back at the request's QoS. With MQTT 5 an error's status
 * and message are user properties (PUBLISH has no reason string); with
 * 3.1.1 they are fields of the envelope. `stop()` unsubscribes every route,
 * then waits on a deferred that the last job to finish resolves.
 */
import { isValidTopicFilter } from '../codec/topic.js';
import type { PublishProperties, QoS, UserProperty } from '../codec/types.js';
import { type Deferred, deferred } from '../core/deferred.js';
import { SafeEmitter } from '../core/emitter.js';
import { ClosedError, ErrorCode, InvalidArgumentError, MqttError, RpcError } from '../core/errors.js';
import { Fifo } from '../core/fifo.js';
import { checkOptions } from '../core/schema.js';
import { sharedTimer, TimerEntry } from '../core/timer.js';
import {
  LatencyHistogram,
  type Message,
  type Session,
  type Subscription,
  tracerOf,
} from '../session/index.js';
import { type RpcSpan, type TraceCarrier, withOwnSpans } from '../tracing/hooks.js';
import { decodeRequest, encodeResponse } from './envelope.js';
import { listServer, unlistServer } from './running.js';
import { SERVER_OPTIONS } from './schema.js';
import type {
  RpcHandler,
  RpcMiddleware,
  RpcRequest,
  RpcRouteMetrics,
  RpcServerMetrics,
  RpcServerOptions,
} from './types.js';

const JSON_TYPE = 'application/json';
const EMPTY = Buffer.alloc(0);

/** An error a handler can throw to choose the response's status (code `ERR_MQTT_RPC`, as the caller's {@link RpcError}). */
export class RpcStatusError extends MqttError {
  constructor(
    /** The response status, an integer from 400 to 599 (another value answers 500). */
    readonly status: number,
    message: string,
  ) {
    super(ErrorCode.Rpc, message);
  }
}

interface RpcRoute {
  readonly pattern: string;
  readonly filter: string;
  /** Level index of each named segment. */
  readonly names: readonly [name: string, level: number][];
  readonly handler: RpcHandler;
  subscription: Subscription | undefined;
  /** Requests that arrived on it. */
  received: number;
  /** Answers by status ('200', '404', ...; 'none' for requests without a response topic). */
  readonly statuses: Record<string, number>;
  /** Arrival to response written, of the answered requests. */
  readonly latency: LatencyHistogram;
}

/** Lets a job reach its server's private side (set in `RpcServer`'s static block). */
let jobTimedOut: (server: RpcServer, job: Job) => void;

/** One request, from arrival to response: also its entry in the shared timer. */
class Job extends TimerEntry implements RpcRequest {
  answered = false;
  /** No longer counted as active (answered, or timed out). */
  released = false;
  private controller: AbortController | undefined = undefined;
  params: Record<string, string> = NO_PARAMS;
  /** The server span, when traced: the handler and the answer run in it. */
  span: RpcSpan | undefined = undefined;
  /** When it arrived (`performance.now()`), for the route's latency. */
  readonly arrived = performance.now();

  constructor(
    readonly server: RpcServer,
    readonly route: RpcRoute,
    readonly message: Message,
    readonly payload: Buffer,
    readonly properties: PublishProperties | undefined,
    readonly responseTopic: string | undefined,
    readonly correlation: Uint8Array | undefined,
  ) {
    super();
  }

  get topic(): string {
    return this.message.topic;
  }

  get qos(): QoS {
    return this.message.qos;
  }

  get signal(): AbortSignal {
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  text(): string {
    return this.payload.toString();
  }

  json<T = unknown>(): T {
    try {
      return JSON.parse(this.payload.toString()) as T;
    } catch {
      throw new RpcStatusError(400, 'the request payload is not valid JSON');
    }
  }

  abort(reason: string): void {
    this.controller?.abort(new MqttError('ERR_MQTT_RPC', reason));
  }

  expire(): void {
    jobTimedOut(this.server, this);
  }
}

const NO_PARAMS: Record<string, string> = Object.freeze({}) as Record<string, string>;

/**
 * A route table over one session, the way a web framework serves HTTP.
 *
 * ```ts
 * const server = new RpcServer(session, { group: 'api' });
 * server.use((req, next) => {
 *   if (req.params.id === '0') throw new RpcStatusError(404, 'no such device');
 *   return next();
 * });
 * await server.route('api/devices/:id/get', (req) => ({ id: req.params.id, on: true }));
 * await server.start();
 * ```
 *
 * `route('api/devices/:id/get', handler)` subscribes `api/devices/+/get`
 * (as `$share/{group}/api/devices/+/get` with a `group`, so several server
 * processes share the load) and gives the handler `req.params.id`.
 * Middleware ({@link RpcServer.use}) runs around every handler. A handler's
 * result becomes the response: a string or bytes as they are, any other
 * value as JSON with content type `application/json`, undefined as an empty
 * payload.
 *
 * Errors: a handler that throws answers with status `err.status` (when it is
 * an integer from 400 to 599, as {@link RpcStatusError} sets it) or 500, and
 * the error's message; never its stack. With MQTT 5 the status and message
 * travel as user properties `status` and `error`, and the payload is
 * `{"error": message, "status": n}` in JSON for requesters that only read
 * payloads. A payload that `req.json()` cannot parse answers 400, a request
 * beyond the queue 503, a handler slower than `timeout` 504.
 *
 * A request without a response topic is handled and not answered.
 * Responses that cannot be sent are reported as the `error` event.
 *
 * @throws {@link InvalidArgumentError} from the constructor when an option is not valid.
 */
export class RpcServer extends SafeEmitter<{
  /** A response could not be published, or an unsubscribe at `stop()` failed. */
  error: [error: Error];
}> {
  static {
    jobTimedOut = (server, job) => server.#timedOut(job);
  }

  /** The session the routes are subscribed and the responses published on. */
  readonly session: Session;
  readonly #routes: RpcRoute[] = [];
  readonly #middleware: RpcMiddleware[] = [];
  readonly #group: string | undefined;
  readonly #concurrency: number;
  readonly #maxQueue: number;
  readonly #timeout: number;
  readonly #qos: QoS;
  /** Requests waiting for a free handler slot. */
  readonly #queue = new Fifo<Job>();
  #active = 0;
  #started = false;
  #stopping: Promise<void> | undefined = undefined;
  /** Resolved when the last request is done, while `stop()` waits. */
  #idle: Deferred<void> | undefined = undefined;
  readonly #counters = { received: 0, succeeded: 0, failed: 0, unanswered: 0 };

  constructor(session: Session, options: RpcServerOptions = {}) {
    super();
    if (session === null || typeof session !== 'object' || typeof session.subscribe !== 'function') {
      throw new InvalidArgumentError('session', 'must be a Session');
    }
    checkOptions(options, SERVER_OPTIONS, 'options');
    this.session = session;
    this.#group = options.group;
    this.#concurrency = options.concurrency ?? 256;
    this.#maxQueue = options.maxQueue ?? 10_000;
    this.#timeout = options.timeout ?? 30_000;
    this.#qos = options.qos ?? 1;
  }

  /** @internal An `error` listener threw: there is nothing left to report it to. */
  protected override listenerFailed(): void {}

  /**
   * Adds a route: MQTT wildcards (`+`, `#`) and named segments (`:id`, one
   * level, like `+`). Routes added after `start()` subscribe at once (the
   * returned promise, if awaited, says when). A bad pattern or handler
   * throws `InvalidArgumentError` at once, and a call after `stop()`
   * `ClosedError`: a route table fails where it is written, whether its
   * calls are awaited or not (a rejected promise nobody awaits would end
   * the process later, far from the mistake).
   */
  route(pattern: string, handler: RpcHandler): Promise<void> {
    if (typeof handler !== 'function') throw new InvalidArgumentError('handler', 'must be a function');
    if (typeof pattern !== 'string') throw new InvalidArgumentError('pattern', 'must be a string');
    const levels = pattern.split('/');
    const names: [string, number][] = [];
    const filter = levels
      .map((level, i) => {
        if (!level.startsWith(':')) return level;
        const name = level.slice(1);
        if (!/^[A-Za-z_$][\w$]*$/.test(name)) {
          throw new InvalidArgumentError(
            'pattern',
            `'${level}' in '${pattern}' is not a valid parameter name`,
          );
        }
        names.push([name, i]);
        return '+';
      })
      .join('/');
    if (!isValidTopicFilter(filter) || filter.startsWith('$share/')) {
      throw new InvalidArgumentError('pattern', `'${pattern}' is not a valid route`);
    }
    if (this.#stopping !== undefined) throw new ClosedError('the RPC server was stopped');
    const route: RpcRoute = {
      pattern,
      filter,
      names,
      handler,
      subscription: undefined,
      received: 0,
      statuses: {},
      latency: new LatencyHistogram(),
    };
    this.#routes.push(route);
    return this.#started ? this.#subscribe(route) : Promise.resolve();
  }

  /** Adds middleware, run in the order added around every handler. */
  use(middleware: RpcMiddleware): this {
    if (typeof middleware !== 'function') throw new InvalidArgumentError('middleware', 'must be a function');
    this.#middleware.push(middleware);
    return this;
  }

  /** Subscribes every route; resolves when the broker granted them. */
  async start(): Promise<void> {
    if (this.#stopping !== undefined) throw new ClosedError('the RPC server was stopped');
    if (this.#started) return;
    this.#started = true;
    try {
      await Promise.all(
        this.#routes.map((r) => (r.subscription === undefined ? this.#subscribe(r) : undefined)),
      );
    } catch (err) {
      this.#started = false; // start() may be called again; routes already subscribed stay
      throw err;
    }
    if (this.#stopping === undefined) listServer(this);
  }

  /** Unsubscribes, then waits for the requests already received (handled and answered). */
  stop(): Promise<void> {
    if (this.#stopping === undefined) {
      unlistServer(this);
      this.#stopping = this.#stopNow();
    }
    return this.#stopping;
  }

  /**
   * Counters since the server was made, what is active and queued now, and
   * each route's numbers in the order the routes were added, as a new object.
   */
  metrics(): RpcServerMetrics {
    const routes: RpcRouteMetrics[] = this.#routes.map((r) => ({
      pattern: r.pattern,
      received: r.received,
      statuses: { ...r.statuses },
      latency: r.latency.snapshot(),
    }));
    return { ...this.#counters, active: this.#active, queued: this.#queue.length, routes };
  }

  #timedOut(job: Job): void {
    job.abort('the request timed out');
    this.#answerError(job, 504, `the handler did not answer within ${this.#timeout} ms`);
    // its slot goes to the next request: a handler that never settles must not hold it (or stop()) forever
    this.#release(job);
    this.#next();
  }

  /** The job no longer counts as active (once: on its result or its timeout). */
  #release(job: Job): boolean {
    if (job.released) return false;
    job.released = true;
    this.#active--;
    return true;
  }

  async #stopNow(): Promise<void> {
    const subs = this.#routes.map((r) => r.subscription).filter((s) => s !== undefined);
    await Promise.all(subs.map((s) => s.unsubscribe().catch((err: unknown) => this.#report(err))));
    if (this.#active + this.#queue.length > 0) {
      this.#idle = deferred();
      await this.#idle.promise;
    }
  }

  #subscribe(route: RpcRoute): Promise<void> {
    const filter = this.#group === undefined ? route.filter : `$share/${this.#group}/${route.filter}`;
    return this.session
      .subscribe(
        filter,
        { qos: this.#qos },
        withOwnSpans((m: Message) => this.#arrive(route, m)),
      )
      .then((sub) => {
        route.subscription = sub;
        // stop() came while this subscribe was in flight: it must not outlive the server
        if (this.#stopping !== undefined) return sub.unsubscribe().catch((err: unknown) => this.#report(err));
      });
  }

  /** A request arrived: unwrap it, then run it or queue it. */
  #arrive(route: RpcRoute, m: Message): void {
    this.#counters.received++;
    route.received++;
    let payload = m.payload;
    let properties = m.properties;
    let responseTopic: string | undefined;
    let correlation: Uint8Array | undefined;
    let trace: TraceCarrier | undefined;
    if (this.session.protocolVersion === 5) {
      responseTopic = properties?.responseTopic;
      correlation = properties?.correlationData;
    } else {
      const r = decodeRequest(payload);
      if (r !== undefined) {
        payload = r.body;
        responseTopic = r.responseTopic;
        correlation = r.correlation;
        properties = r.contentType === undefined ? undefined : { contentType: r.contentType };
        trace = r.trace;
      }
    }
    const job = new Job(this, route, m, payload, properties, responseTopic, correlation);
    if (route.names.length > 0) job.params = params(route, m.topic);
    const tracer = tracerOf(this.session);
    if (tracer !== undefined) job.span = tracer.rpcServe(m as never, route.pattern, trace);
    if (this.#active < this.#concurrency) {
      this.#run(job);
    } else if (this.#queue.length < this.#maxQueue) {
      this.#queue.push(job);
    } else {
      this.#answerError(job, 503, 'the server is overloaded');
    }
  }

  #run(job: Job): void {
    this.#active++;
    if (this.#timeout > 0) {
      job.deadline = Date.now() + this.#timeout;
      sharedTimer.add(job);
    }
    let result: Promise<unknown>;
    try {
      const span = job.span;
      result = Promise.resolve(span === undefined ? this.#handle(job) : span.run(() => this.#handle(job)));
    } catch (err) {
      result = Promise.reject(err);
    }
    result.then(
      (value) => this.#finish(job, value, false, undefined),
      (err: unknown) => this.#finish(job, undefined, true, err),
    );
  }

  /** The middleware, then the handler. */
  #handle(job: Job): unknown {
    return this.#middleware.length === 0 ? job.route.handler(job) : this.#chain(job, 0);
  }

  /** Middleware `i`, whose `next` runs the rest and then the handler. */
  #chain(job: Job, i: number): unknown {
    if (i === this.#middleware.length) return job.route.handler(job);
    let called = false;
    return this.#middleware[i](job, () => {
      if (called) return Promise.reject(new Error('next() called twice'));
      called = true;
      try {
        return Promise.resolve(this.#chain(job, i + 1));
      } catch (err) {
        return Promise.reject(err);
      }
    });
  }

  #finish(job: Job, value: unknown, failed: boolean, error: unknown): void {
    sharedTimer.remove(job);
    if (!this.#release(job)) return; // timed out and answered already
    if (failed) {
      const status =
        error instanceof RpcStatusError || (error as { status?: unknown })?.status !== undefined
          ? Number((error as { status: unknown }).status)
          : 500;
      const ok = Number.isInteger(status) && status >= 400 && status <= 599;
      const message = error instanceof Error ? error.message : String(error);
      this.#answerError(job, ok ? status : 500, message);
    } else {
      this.#answer(job, value);
    }
    this.#next();
  }

  #next(): void {
    while (this.#active < this.#concurrency && this.#queue.length > 0) this.#run(this.#queue.shift() as Job);
    if (this.#idle !== undefined && this.#active === 0 && this.#queue.length === 0) {
      const idle = this.#idle;
      this.#idle = undefined;
      idle.resolve();
    }
  }

  #answer(job: Job, value: unknown): void {
    if (job.answered) return;
    job.answered = true;
    if (job.responseTopic === undefined) {
      this.#counters.unanswered++;
      count(job.route, 'none');
      job.span?.end();
      return;
    }
    let body: Uint8Array;
    let contentType: string | undefined;
    try {
      if (value === undefined || value === null) body = EMPTY;
      else if (typeof value === 'string') body = Buffer.from(value);
      else if (value instanceof Uint8Array) body = value;
      else {
        const json = JSON.stringify(value);
        if (json === undefined) throw new TypeError(`a ${typeof value} cannot be sent as JSON`);
        body = Buffer.from(json);
        contentType = JSON_TYPE;
      }
    } catch (err) {
      // BigInt, a cycle, a function...: the handler's result cannot be sent
      job.answered = false;
      this.#answerError(job, 500, `the handler's result cannot be sent: ${(err as Error).message}`);
      return;
    }
    this.#counters.succeeded++;
    this.#respond(job, 0, '', contentType, body);
    answered(job, '200');
    job.span?.end();
  }

  #answerError(job: Job, status: number, message: string): void {
    if (job.answered) return;
    job.answered = true;
    this.#counters.failed++;
    if (job.responseTopic !== undefined) {
      this.#respond(job, status, message, JSON_TYPE, Buffer.from(JSON.stringify({ error: message, status })));
      answered(job, statusKey(status));
    } else count(job.route, 'none');
    job.span?.end(new RpcError(status, message));
  }

  #respond(
    job: Job,
    status: number,
    message: string,
    contentType: string | undefined,
    body: Uint8Array,
  ): void {
    const topic = job.responseTopic as string;
    let sent: Promise<unknown>;
    if (this.session.protocolVersion === 5) {
      const properties: PublishProperties = {};
      if (job.correlation !== undefined) properties.correlationData = job.correlation;
      if (contentType !== undefined) properties.contentType = contentType;
      if (status !== 0) {
        const up: UserProperty[] = [
          ['status', String(status)],
          ['error', message],
        ];
        properties.userProperties = up;
      }
      sent = this.#send(job, topic, body, properties);
    } else {
      sent = this.#send(
        job,
        topic,
        encodeResponse(job.correlation ?? EMPTY, status, message, contentType, body),
        undefined,
      );
    }
    sent.then(undefined, (err: unknown) => this.#report(err));
  }

  /** Publishes an answer (in the server span, when traced: the response is its child). */
  #send(
    job: Job,
    topic: string,
    body: Uint8Array,
    properties: PublishProperties | undefined,
  ): Promise<unknown> {
    const options = { qos: job.qos, properties };
    const span = job.span;
    if (span === undefined) return this.session.publish(topic, body, options);
    return span.run(() => this.session.publish(topic, body, options));
  }

  #report(err: unknown): void {
    if (this.listenerCount('error') > 0) this.emit('error', err as Error);
  }
}

/** The statuses' keys in a route's counts, made once (not a string per answer). */
const STATUS_KEYS: string[] = [];

function statusKey(status: number): string {
  return status >= 400 && status <= 599 ? (STATUS_KEYS[status - 400] ??= String(status)) : String(status);
}

function count(route: RpcRoute, key: string): void {
  route.statuses[key] = (route.statuses[key] ?? 0) + 1;
}

/** A response was written: its status counted, its latency observed. */
function answered(job: Job, key: string): void {
  count(job.route, key);
  job.route.latency.observe(performance.now() - job.arrived);
}

function params(route: RpcRoute, topic: string): Record<string, string> {
  const levels = topic.split('/');
  // a shared subscription delivers the plain topic; the levels line up with the pattern
  const out: Record<string, string> = {};
  for (const [name, i] of route.names) out[name] = levels[i] ?? '';
  return out;
}
