/**
 * Dispatch: each received message goes to the session's `message`
 * listeners, to the handlers whose routes match its topic (looked up in the
 * registry's router, filtered by MQTT 5 subscription identifiers), and to
 * the `messages()` streams whose filter matches.
 *
 * A message bound for handlers that acknowledge themselves (`manualAck`)
 * gets an `ack()`; its acknowledgement waits until each of them called it.
 * A handler that throws is reported as `error`, and the others still run.
 */

import { topicFilterOption } from '../codec/topic.js';
import type { PublishPacket } from '../codec/types.js';
import { topicMatches } from '../router/match.js';
import type { SessionContext } from './context.js';
import { createMessageStream, type MessageStream } from './message-stream.js';
import { noop } from './requests.js';
import type { HandlerRoute, Subscriptions } from './subscriptions.js';
import type { Message, MessageHandler } from './types.js';

export class Dispatcher {
  private streams: Set<MessageStream> | undefined = undefined;
  // held here, not read through the context: every message uses them
  private readonly session: SessionContext['session'];
  private readonly counters: SessionContext['counters'];
  private readonly subscriptions: Subscriptions;

  constructor(private readonly ctx: SessionContext) {
    this.session = ctx.session;
    this.counters = ctx.counters;
    this.subscriptions = ctx.subscriptions;
  }

  /** A message arrived (the engine acknowledges it when this returns, unless an ack was deferred). */
  message(p: PublishPacket): void {
    const tracer = this.ctx.tracer;
    if (tracer === undefined) this.deliver(p);
    else tracer.receive(p, this.deliver, this);
  }

  /** Delivers a message to listeners, handlers and streams (in its `receive` span, when traced). */
  private deliver(p: PublishPacket): void {
    const msg = p as unknown as Message;
    this.counters.messagesIn++;
    // a listener that throws is reported by listenerFailed, and the others still run
    if (this.session.listenerCount('message') > 0) this.session.emit('message', msg);
    const subs = this.subscriptions;
    const router = subs.router;
    if (router !== undefined && router.size > 0) {
      const routes = router.lookup(msg.topic);
      // MQTT 5: a message names the subscriptions it is for; a broker sending one copy
      // per overlapping subscription would otherwise reach each handler once per copy
      const ids = msg.properties?.subscriptionIdentifier;
      if (subs.manualRoutes > 0) {
        // before any handler runs (one may acknowledge at once): the acknowledgement waits for each
        // manual-ack handler this message reaches
        let manual = 0;
        for (let i = 0; i < routes.length; i++) if (routes[i].manual && forRoute(routes[i], ids)) manual++;
        if (manual > 0) this.deferAck(p, manual);
      }
      const tracer = this.ctx.tracer;
      for (let i = 0; i < routes.length; i++) {
        const r = routes[i];
        if (!forRoute(r, ids)) continue;
        try {
          if (tracer === undefined) (r.handler as MessageHandler)(msg);
          else tracer.process(r.filter, p, r.handler as MessageHandler);
        } catch (err) {
          this.ctx.report(err, `the handler for '${r.filter}' threw`);
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

  /** `session.messages()`: see there. */
  messages(filter: string | undefined): MessageStream {
    if (filter !== undefined) topicFilterOption(filter, 'filter');
    const log = this.ctx.log;
    const stream = createMessageStream(
      filter,
      this.ctx.options.messageBuffer,
      (s) => this.streams?.delete(s),
      undefined,
      log === undefined ? undefined : () => log.dropped('stream'),
    );
    if (this.ctx.state === 'closed') stream.end();
    else (this.streams ??= new Set()).add(stream);
    return stream;
  }

  /** At close: the `messages()` iterations end. */
  endStreams(): void {
    const streams = this.streams;
    this.streams = undefined;
    if (streams !== undefined) for (const s of streams) s.end();
  }

  /**
   * Gives a message bound for `handlers` manual-ack handlers its `ack()`;
   * its acknowledgement goes out once each of them called it.
   */
  private deferAck(p: PublishPacket, handlers: number): void {
    const engine = this.ctx.engine;
    const token = engine.deferAck();
    let left = handlers;
    (p as { ack?: () => void }).ack =
      token === undefined
        ? noop
        : () => {
            if (left > 0 && --left === 0) engine.acknowledge(token);
          };
  }
}

/** Whether a message carrying subscription identifiers `ids` is for route `r` (MQTT 5). */
function forRoute(r: HandlerRoute, ids: number | number[] | undefined): boolean {
  return r.id === 0 || ids === undefined || ids === r.id || (Array.isArray(ids) && ids.includes(r.id));
}
