/**
 * The subscription registry: which handler gets which filter's messages,
 * and which subscriptions the session restores.
 *
 * - Routes: one per filter of a `subscribe()` call, in place from the
 *   SUBSCRIBE on (the broker may send matching messages before its SUBACK),
 *   removed for the filters it refused, by `unsubscribe()` or by the
 *   handle's `unsubscribe()`. Routes with a handler are also in a topic
 *   router, so dispatch costs the topic's depth, not the number of routes.
 * - Subscriptions to restore: each filter the broker granted, with its
 *   options, kept in memory and in the store. After a CONNACK without a
 *   broker session they are subscribed again, grouped by options, ahead of
 *   the replayed and queued publishes (`resubscribe`).
 */
import { reasonCodeName } from '../codec/reason-codes.js';
import { topicFilterList } from '../codec/topic.js';
import type { AckProperties, SubackPacket, SubscribePacket, UnsubackPacket } from '../codec/types.js';
import { InvalidArgumentError, RejectedError } from '../core/errors.js';
import { checkOptions } from '../core/schema.js';
import { TopicRouter } from '../router/router.js';
import type { StoredSubscription } from '../store/types.js';
import type { SessionContext } from './context.js';
import { buildSubscribe, buildUnsubscribe } from './packets.js';
import { abortedBefore, ControlRequest, quoted } from './requests.js';
import { OPERATION_OPTIONS, SUBSCRIBE_OPTIONS } from './schema.js';
import type { MessageHandler, OperationOptions, SubscribeOptions, Subscription } from './types.js';

/** A handler bound to a filter by one `subscribe()` call. */
export interface HandlerRoute {
  readonly filter: string;
  readonly handler: MessageHandler | undefined;
  /** Its subscribe() call's handle, once the SUBACK came (the route is in place from the SUBSCRIBE on). */
  owner: SubscriptionHandle | undefined;
  /** The subscription identifier it was made with (MQTT 5), 0 for none. */
  readonly id: number;
  /** Its handler acknowledges each message itself (`message.ack()`). */
  readonly manual: boolean;
}

/** What `subscribe()` resolves with: the broker's answer, and the way to undo the call. */
export class SubscriptionHandle implements Subscription {
  /** False once unsubscribed. */
  active = true;
  readonly #registry: Subscriptions;
  constructor(
    registry: Subscriptions,
    readonly filters: readonly string[],
    readonly reasonCodes: readonly number[],
    readonly properties: AckProperties | undefined,
  ) {
    this.#registry = registry;
  }
  unsubscribe(options?: OperationOptions): Promise<void> {
    return this.#registry.unsubscribeHandle(this, options);
  }
}

const NO_ROUTES: HandlerRoute[] = [];

export class Subscriptions {
  // made on first use: thousands of idle sessions should not each hold empty tables
  private routes: HandlerRoute[] = NO_ROUTES;
  /** Routes whose handler acknowledges itself (`manualAck`). */
  manualRoutes = 0;
  /** Routes with a handler, by filter: dispatch costs the topic's depth, not the number of routes. */
  router: TopicRouter<HandlerRoute> | undefined = undefined;
  /** Active subscriptions by filter, restored when the broker has no session. */
  private subscriptions: Map<string, StoredSubscription> | undefined = undefined;

  constructor(private readonly ctx: SessionContext) {}

  /** `session.subscriptions()`: see there. */
  list(): StoredSubscription[] {
    if (this.subscriptions === undefined) return [];
    return [...this.subscriptions.values()].map((s) => ({ ...s }));
  }

  /** `session.subscribe()`: see there. */
  subscribe(
    filters: string | readonly string[],
    options: SubscribeOptions,
    handler: MessageHandler | undefined,
  ): Promise<Subscription> {
    const ctx = this.ctx;
    const state = ctx.state;
    if (state !== 'connected' && state !== 'connecting') return Promise.reject(ctx.notConnected());
    let packet: SubscribePacket;
    let list: string[];
    try {
      checkOptions(options, SUBSCRIBE_OPTIONS, 'options');
      list = topicFilterList(filters, 'filters');
      if (handler !== undefined && typeof handler !== 'function') {
        throw new InvalidArgumentError('handler', 'must be a function');
      }
      packet = buildSubscribe(ctx.engine, list, options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (options.signal?.aborted === true) return abortedBefore(`subscribe ${quoted(list)}`, options.signal);
    const req = new ControlRequest(ctx.operations, packet);
    // The routes are in place from the SUBSCRIBE on: the broker may send matching messages before
    // its SUBACK (3.8.4), and those right after it arrive in the same read, before a promise resolves.
    const added: HandlerRoute[] = [];
    for (const filter of list) {
      const route: HandlerRoute = {
        filter,
        handler,
        owner: undefined,
        id: options.subscriptionIdentifier ?? 0,
        manual: options.manualAck === true,
      };
      if (this.routes === NO_ROUTES) this.routes = [];
      this.routes.push(route);
      if (route.manual) this.manualRoutes++;
      if (handler !== undefined) (this.router ??= new TopicRouter<HandlerRoute>()).add(filter, route);
      added.push(route);
    }
    return ctx.operations.sendControl(req, options).then(
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
          if (ctx.state !== 'closed') this.remember(packet, i);
        }
        return handle;
      },
      (err: unknown) => {
        this.dropRoutes((r) => added.includes(r));
        throw err;
      },
    );
  }

  /** `session.unsubscribe()`: drops every route of the filters and unsubscribes them. */
  unsubscribe(filters: string | readonly string[], options: OperationOptions): Promise<void> {
    let list: string[];
    try {
      checkOptions(options, OPERATION_OPTIONS, 'options');
      list = topicFilterList(filters, 'filters');
    } catch (err) {
      return Promise.reject(err);
    }
    if (options.signal?.aborted === true) return abortedBefore(`unsubscribe ${quoted(list)}`, options.signal);
    this.dropRoutes((r) => list.includes(r.filter));
    this.unremember(list);
    return this.sendUnsubscribe(list, options);
  }

  /** A handle's `unsubscribe()`: drops its routes, and unsubscribes the filters no other route uses. */
  unsubscribeHandle(handle: SubscriptionHandle, options?: OperationOptions): Promise<void> {
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
    const state = this.ctx.state;
    if (unused.length === 0 || (state !== 'connected' && state !== 'connecting')) {
      return Promise.resolve();
    }
    return this.sendUnsubscribe(unused, options ?? {});
  }

  /** Takes the subscriptions a previous session left in the store (those made since win). */
  restore(saved: readonly StoredSubscription[]): void {
    for (const sub of saved) {
      const subs = (this.subscriptions ??= new Map());
      if (!subs.has(sub.topicFilter)) subs.set(sub.topicFilter, sub);
    }
  }

  /**
   * Subscribes again to every active subscription (the broker has no
   * session), before anything else is sent on the new connection. The
   * promise settles when every SUBACK came back or failed.
   */
  resubscribe(): Promise<unknown> | undefined {
    const subscriptions = this.subscriptions;
    if (subscriptions === undefined || subscriptions.size === 0) return undefined;
    const ctx = this.ctx;
    ctx.log?.logger.debug({ filters: subscriptions.size }, 'restoring subscriptions');
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
        packet = buildSubscribe(
          ctx.engine,
          subs.map((s) => s.topicFilter),
          subs[0],
        );
      } catch (err) {
        // the new broker cannot take them (no shared or wildcard subscriptions, say)
        ctx.report(err, 'restoring subscriptions failed');
        continue;
      }
      const req = new ControlRequest(ctx.operations, packet);
      // ahead of the replayed and queued publishes: a message published while offline to one of
      // these filters (or a request whose reply comes back on one) must find it in place
      const done = ctx.operations.sendControl(req, {}, true).then(
        (ack) => {
          const codes = (ack as SubackPacket).reasonCodes;
          codes.forEach((c, i) => {
            if (c >= 0x80)
              ctx.report(new RejectedError(`the broker refused to restore '${subs[i].topicFilter}'`, c), '');
          });
        },
        (err: unknown) => ctx.report(err, 'restoring subscriptions failed'),
      );
      pending.push(done);
    }
    return Promise.all(pending);
  }

  /** At close: every route goes (the session keeps no handlers). */
  dropAll(): void {
    this.dropRoutes(() => true);
  }

  /** Removes the routes `which` selects, from the list and the router. */
  private dropRoutes(which: (r: HandlerRoute) => boolean): void {
    const keep: HandlerRoute[] = [];
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
    this.ctx.journal.putSubscription(sub);
  }

  private unremember(filters: readonly string[]): void {
    const journal = this.ctx.journal;
    for (const f of filters) {
      if (this.subscriptions?.delete(f)) journal.deleteSubscription(f);
    }
    journal.dirty = true;
  }

  private sendUnsubscribe(filters: string[], options: OperationOptions): Promise<void> {
    const ctx = this.ctx;
    const state = ctx.state;
    if (state !== 'connected' && state !== 'connecting') return Promise.reject(ctx.notConnected());
    const req = new ControlRequest(ctx.operations, buildUnsubscribe(filters));
    return ctx.operations.sendControl(req, options).then((ack) => {
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
}
