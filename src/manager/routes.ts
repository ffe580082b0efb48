/**
 * How the routes of a `SessionManager` (`handle`, `handleTo`, `listen`,
 * `listenTo`, a session's own `subscriptions`) become subscriptions; what
 * they mean to a user is in the `SessionManager` class doc.
 *
 * Each session has a `FilterSub` per filter: the routes on it and the one
 * session subscription that feeds them all (QoS the highest the routes ask
 * for, the MQTT 5 options of the first route, and with MQTT 5 a
 * subscription identifier of its own, so overlapping filters deliver once).
 * `sync` brings that subscription in line with the routes: it subscribes
 * when the session is connected (again, at a higher QoS, when a route asks
 * for more) and unsubscribes when the last route left, one operation at a
 * time per filter; `synced` catches up with the changes made meanwhile. A
 * refused filter waits for the next CONNACK (`connected`).
 */
import { topicFilterOption } from '../codec/topic.js';
import type { QoS } from '../codec/types.js';
import { ClosedError, InvalidArgumentError } from '../core/errors.js';
import { DropTally } from '../core/logger.js';
import { intOption, qosOption } from '../core/validate.js';
import type { Message, MessageHandler, Subscription } from '../session/index.js';
import { copyTrace, tracerOfMessage, withOwnSpans } from '../tracing/hooks.js';
import type { Readiness } from './readiness.js';
import { createRouteStream, type RouteStream } from './route-stream.js';
import { type ManagerState, type Member, noop } from './state.js';
import type {
  FleetHandler,
  FleetMessage,
  FleetRoute,
  ListenOptions,
  RouteOptions,
  SessionSubscription,
} from './types.js';

const MAX_SUBSCRIPTION_ID = 268_435_455;

/** A message as a route sees it: the session's message plus the session's name. */
class RoutedMessage implements FleetMessage {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly dup: boolean;
  readonly properties: Message['properties'];
  constructor(
    m: Message,
    readonly session: string,
  ) {
    this.topic = m.topic;
    this.payload = m.payload;
    this.qos = m.qos;
    this.retain = m.retain;
    this.dup = m.dup;
    this.properties = m.properties;
    copyTrace(m, this); // a `listen` stream's deliveries get their spans, `messageContext()` works
  }
}

interface RouteEntry {
  readonly filter: string;
  /** A session name, or undefined for every session. */
  readonly target: string | undefined;
  readonly qos: QoS;
  readonly options: RouteOptions;
  readonly deliver: (m: FleetMessage) => void;
  active: boolean;
  /** Ends a `listen` stream when the route stops. */
  readonly end: (() => void) | undefined;
}

/** A session's own subscription, checked (see {@link checkSubscriptions}). */
export interface OwnSubscription {
  readonly filter: string;
  readonly qos: QoS;
  readonly handler: FleetHandler | undefined;
}

/** One filter of one session: the routes on it and the session subscription that feeds them. */
export class FilterSub {
  readonly routes = new Set<RouteEntry>();
  subscription: Subscription | undefined = undefined;
  subscribedQos = -1;
  /** A subscribe or unsubscribe is in flight: `sync` waits for it. */
  busy = false;
  /** Subscribing failed on this connection (reported): it counts as settled, and the next CONNACK tries again. */
  refused = false;
  /** Its MQTT 5 subscription identifier (0: none), so overlapping filters do not deliver twice. */
  id = 0;
  /** The session subscription's handler: every message, to every route on the filter. */
  readonly dispatch: MessageHandler;
  /** `stop()` calls waiting for the unsubscribe that follows an in-flight subscribe. */
  unsubscribed: (() => void)[] | undefined = undefined;
  constructor(
    readonly member: Member,
    readonly filter: string,
    state: ManagerState,
  ) {
    // traced, each `handle` route gets its own process span (a `listen` stream's consumer gets one per delivery)
    this.dispatch = withOwnSpans((message: Message) => {
      const m = new RoutedMessage(message, member.name);
      const tracer = tracerOfMessage(message);
      for (const r of this.routes) {
        try {
          if (tracer === undefined || r.end !== undefined) r.deliver(m);
          else tracer.process(r.filter, m as never, r.deliver);
        } catch (err) {
          state.sessionError(member.name, err, `the route for '${r.filter}' threw`);
        }
      }
    });
  }

  wantedQos(): QoS {
    let q: QoS = 0;
    for (const r of this.routes) if (r.qos > q) q = r.qos;
    return q;
  }

  /** Subscribed (or refused) at the QoS the routes want. */
  get settled(): boolean {
    return (
      !this.busy &&
      (this.refused || (this.subscription !== undefined && this.subscribedQos >= this.wantedQos()))
    );
  }
}

/** Every route of a manager, and the filters they keep subscribed on each session. */
export class RouteTable {
  readonly #routes = new Set<RouteEntry>();
  readonly #state: ManagerState;
  readonly #readiness: Readiness;

  constructor(state: ManagerState, readiness: Readiness) {
    this.#state = state;
    this.#readiness = readiness;
  }

  /** A route on session `target` (undefined: every session), present and future. */
  add(
    target: string | undefined,
    filter: string,
    deliver: FleetHandler,
    options: RouteOptions,
    end: (() => void) | undefined,
  ): FleetRoute {
    if (options === null || typeof options !== 'object')
      throw new InvalidArgumentError('options', 'must be an object');
    const entry: RouteEntry = {
      filter: topicFilterOption(filter, 'filter'),
      target,
      qos: qosOption(options.qos ?? 0, 'options.qos'),
      options,
      deliver,
      active: !this.#state.closed,
      end,
    };
    if (entry.active) {
      this.#routes.add(entry);
      for (const m of this.#state.members.values())
        if (target === undefined || target === m.name) this.#attach(m, entry);
    }
    return {
      filter: entry.filter,
      session: target,
      get active() {
        return entry.active;
      },
      stop: () => this.#stop(entry),
    };
  }

  /** A route whose messages go to a bounded stream (`listen`, `listenTo`). */
  listen(target: string | undefined, filter: string, options: ListenOptions): RouteStream {
    const buffer = intOption(options.buffer ?? 1000, 'options.buffer', 1);
    const drop = options.drop ?? 'drop-oldest';
    if (drop !== 'drop-oldest' && drop !== 'drop-newest') {
      throw new InvalidArgumentError(
        'options.drop',
        `must be 'drop-oldest' or 'drop-newest', got ${String(drop)}`,
      );
    }
    let route!: FleetRoute;
    const log = this.#state.logger;
    // a consumer too slow for its buffer: counted, and told in the manager's log now and then
    const drops =
      log === undefined
        ? undefined
        : new DropTally((count, total) =>
            log.warn({ reason: 'listen', filter, session: target, count, total }, 'messages dropped'),
          );
    const stream = createRouteStream(filter, target, buffer, drop, () => route, drops);
    route = this.add(
      target,
      filter,
      (m) => stream.push(m),
      options,
      () => {
        stream.end();
        drops?.flush();
      },
    );
    if (this.#state.closed) stream.end();
    return stream;
  }

  /**
   * A session was added: its own subscriptions (routes of its own, in no
   * table: they end with it), then the routes that apply to it.
   */
  addMember(m: Member, own: readonly OwnSubscription[]): void {
    for (const sub of own) {
      const entry: RouteEntry = {
        filter: sub.filter,
        target: m.name,
        qos: sub.qos,
        options: {},
        deliver: sub.handler ?? noop,
        active: true,
        end: undefined,
      };
      this.#attach(m, entry);
    }
    for (const r of this.#routes) if (r.target === undefined || r.target === m.name) this.#attach(m, r);
  }

  /** A CONNACK: subscribe every filter of the session again, those refused on the last connection too. */
  connected(m: Member): void {
    for (const fs of m.subs.values()) {
      fs.refused = false;
      this.#sync(fs);
    }
  }

  /** The manager closes: every route ends (its `listen` stream too). */
  close(): void {
    for (const r of this.#routes) {
      r.active = false;
      r.end?.();
    }
    this.#routes.clear();
  }

  #stop(entry: RouteEntry): Promise<void> {
    if (!entry.active) return Promise.resolve();
    entry.active = false;
    this.#routes.delete(entry);
    entry.end?.();
    const pending: Promise<void>[] = [];
    for (const m of this.#state.members.values()) {
      const fs = m.subs.get(entry.filter);
      if (fs === undefined || !fs.routes.delete(entry)) continue;
      const p = this.#sync(fs);
      if (p !== undefined) pending.push(p);
      // the filter that kept the session from being ready may be the one that went
      this.#readiness.check(m);
    }
    return Promise.all(pending).then(noop);
  }

  /** Adds a route to a session's filter, subscribing when needed. */
  #attach(m: Member, entry: RouteEntry): void {
    let fs = m.subs.get(entry.filter);
    if (fs === undefined) {
      fs = new FilterSub(m, entry.filter, this.#state);
      m.subs.set(entry.filter, fs);
    }
    fs.routes.add(entry);
    if (!fs.settled) m.ready = false;
    this.#sync(fs);
  }

  /**
   * Brings a filter's session subscription in line with its routes:
   * subscribes (again, at a higher QoS) when connected, unsubscribes when
   * the last route left. One operation at a time per filter; the result
   * settles when an unsubscribe it started is done.
   */
  #sync(fs: FilterSub): Promise<void> | undefined {
    if (fs.busy) {
      // a subscribe is in flight: a route that stops waits for the unsubscribe that follows it
      if (fs.routes.size === 0) return new Promise<void>((resolve) => (fs.unsubscribed ??= []).push(resolve));
      return undefined;
    }
    const m = fs.member;
    const s = m.session;
    if (fs.routes.size === 0) {
      const sub = fs.subscription;
      fs.subscription = undefined;
      if (sub === undefined) {
        m.subs.delete(fs.filter);
        return undefined;
      }
      fs.busy = true;
      return sub.unsubscribe().then(
        () => this.#synced(fs),
        (err: unknown) => {
          if (!(err instanceof ClosedError))
            this.#state.sessionError(m.name, err, `unsubscribing '${fs.filter}' failed`);
          this.#synced(fs);
        },
      );
    }
    const qos = fs.wantedQos();
    if (fs.refused || (fs.subscription !== undefined && fs.subscribedQos >= qos)) return undefined;
    if (s.state !== 'connected') return undefined; // the next CONNACK subscribes it
    fs.busy = true;
    const first = [...fs.routes][0].options;
    const old = fs.subscription;
    if (fs.id === 0 && s.protocolVersion === 5 && s.serverLimits.subscriptionIdentifiersAvailable) {
      fs.id = m.lastId = (m.lastId % MAX_SUBSCRIPTION_ID) + 1;
    }
    s.subscribe(
      fs.filter,
      {
        qos,
        noLocal: first.noLocal,
        retainAsPublished: first.retainAsPublished,
        retainHandling: first.retainHandling,
        subscriptionIdentifier: fs.id === 0 ? undefined : fs.id,
      },
      fs.dispatch,
    ).then(
      (sub) => {
        fs.subscription = sub;
        fs.subscribedQos = qos;
        // the new subscription replaced the old one at the broker: drop only the old handler
        if (old !== undefined) old.unsubscribe().catch(noop);
        this.#synced(fs);
      },
      (err: unknown) => {
        // refused, invalid for this session (an MQTT 5 option on 3.1.1), timed out or cut off: no
        // immediate retry (that would spin); the next CONNACK tries again
        fs.refused = true;
        if (!(err instanceof ClosedError) && s.state === 'connected') {
          this.#state.sessionError(m.name, err, `subscribing '${fs.filter}' failed`);
        }
        this.#synced(fs);
      },
    );
    return undefined;
  }

  /** An operation on `fs` ended: catch up with route changes made meanwhile. */
  #synced(fs: FilterSub): void {
    fs.busy = false;
    const m = fs.member;
    if (fs.routes.size === 0 && fs.subscription === undefined) {
      if (m.subs.get(fs.filter) === fs) m.subs.delete(fs.filter);
      releaseStops(fs);
      return;
    }
    if (!this.#state.isCurrent(m)) {
      releaseStops(fs); // removed: its session closed, subscriptions and all
      return;
    }
    this.#sync(fs);
    this.#readiness.check(m);
  }
}

/** Resolves the `stop()` calls that waited on `fs`. */
function releaseStops(fs: FilterSub): void {
  const waiting = fs.unsubscribed;
  fs.unsubscribed = undefined;
  if (waiting !== undefined) for (const resolve of waiting) resolve();
}

/** A session's own `subscriptions`, checked before the session is made. */
export function checkSubscriptions(
  subscriptions: readonly SessionSubscription[] | undefined,
): OwnSubscription[] {
  return (subscriptions ?? []).map((sub, i) => {
    const field = `subscriptions[${i}]`;
    if (sub === null || typeof sub !== 'object') throw new InvalidArgumentError(field, 'must be an object');
    if (sub.handler !== undefined && typeof sub.handler !== 'function') {
      throw new InvalidArgumentError(`${field}.handler`, 'must be a function');
    }
    return {
      filter: topicFilterOption(sub.filter, `${field}.filter`),
      qos: qosOption(sub.qos ?? 0, `${field}.qos`),
      handler: sub.handler,
    };
  });
}

/** `fn` of `handle` and `handleTo`. */
export function checkHandler(fn: unknown): FleetHandler {
  if (typeof fn !== 'function') throw new InvalidArgumentError('fn', 'must be a function');
  return fn as FleetHandler;
}

/** A session name: `add()`'s, and the target of `handleTo` and `listenTo`. */
export function checkName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0)
    throw new InvalidArgumentError('name', 'must be a non-empty string');
  return name;
}
