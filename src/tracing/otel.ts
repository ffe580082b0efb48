/**
 * Spans through `@opentelemetry/api`, following OpenTelemetry's messaging
 * conventions, and W3C trace context carried as MQTT 5 user properties
 * (the "Trace Context: MQTT" draft) through the global propagator.
 *
 * Loaded by `hooks.ts` when a session finds a tracer provider registered;
 * nothing here runs otherwise.
 *
 * ```
 *   publish (PRODUCER)  ─ traceparent ─▶  receive (CONSUMER)
 *      └ ends on PUBACK/PUBCOMP             ├ process <filter> (CONSUMER), one per handler
 *                                           └ process (CONSUMER), one per `for await` delivery
 * ```
 *
 * Span names stay low in cardinality (`publish`, `receive`, `process
 * <filter>`): the topic, which may name a device, is an attribute.
 */
import {
  type Attributes,
  type Context,
  context,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import type { PublishPacket, UserProperty } from '../codec/types.js';
import { parseBrokerUrl } from '../core/url.js';
import {
  MQTT_ATTRIBUTES as A,
  MESSAGE_CONTEXT,
  MESSAGE_TRACER,
  ownsSpans,
  type PublishSpan,
  type RpcSpan,
  type SessionTracer,
  TRACEPARENT,
  TRACESTATE,
  type TraceCarrier,
  type TracedMessage,
  type TracedSession,
} from './hooks.js';

type Carried = { [MESSAGE_CONTEXT]?: Context; [MESSAGE_TRACER]?: SessionTracer };

/** Reads `traceparent`/`tracestate` from user properties (the first of each, as W3C asks). */
const fromPairs: TextMapGetter<readonly UserProperty[] | undefined> = {
  keys: (pairs) => (pairs === undefined ? [] : pairs.map((p) => p[0])),
  get: (pairs, key) => {
    if (pairs === undefined) return undefined;
    for (let i = 0; i < pairs.length; i++) if (pairs[i][0] === key) return pairs[i][1];
    return undefined;
  },
};

const intoCarrier: TextMapSetter<TraceCarrier> = {
  set: (carrier, key, value) => {
    (carrier as Record<string, string>)[key] = value;
  },
};

const fromCarrier: TextMapGetter<TraceCarrier> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => (carrier as Record<string, string | undefined>)[key],
};

/** `traceparent` and `tracestate` of `ctx`, as the global propagator writes them; undefined when not sampled. */
function carrierOf(ctx: Context): TraceCarrier | undefined {
  const sc = trace.getSpanContext(ctx);
  if (sc === undefined || (sc.traceFlags & TraceFlags.SAMPLED) === 0) return undefined;
  const carrier: TraceCarrier = {};
  propagation.inject(ctx, carrier, intoCarrier);
  for (const _ in carrier) return carrier;
  return undefined; // the propagator wrote nothing
}

/**
 * `pairs` without any trace context (W3C's, and whatever fields the global
 * propagator writes), then `carrier`'s.
 */
function withCarrier(pairs: readonly UserProperty[] | undefined, carrier: TraceCarrier): UserProperty[] {
  const out: UserProperty[] = [];
  if (pairs !== undefined)
    for (const p of pairs)
      if (p[0] !== TRACEPARENT && p[0] !== TRACESTATE && !Object.hasOwn(carrier, p[0])) out.push(p);
  for (const key of Object.keys(carrier)) out.push([key, (carrier as Record<string, string>)[key]]);
  return out;
}

/** Marks `span` failed with `error`. */
function failed(span: Span, error: Error, type?: string): void {
  span.recordException(error);
  span.setAttribute('error.type', type ?? ((error as { code?: string }).code || error.name));
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/**
 * Whether `message` arrived in a sampled `receive` span (its flags, not
 * `isRecording()`: a `for await` loop takes the message after that span ended).
 */
function recorded(message: TracedMessage): boolean {
  const ctx = (message as Carried)[MESSAGE_CONTEXT];
  const sc = ctx === undefined ? undefined : trace.getSpanContext(ctx);
  return sc !== undefined && (sc.traceFlags & TraceFlags.SAMPLED) !== 0;
}

function noop(): void {}

/**
 * The context `message` arrived in: its `receive` span's, or for a message
 * its session did not trace (it came before the tracer), what its user
 * properties carry, from the root. Never the active context: a forwarder
 * that publishes a message later runs in whatever context armed its timer.
 */
function arrivedIn(message: TracedMessage): Context {
  return (
    (message as Carried)[MESSAGE_CONTEXT] ??
    propagation.extract(ROOT_CONTEXT, message.properties?.userProperties, fromPairs)
  );
}

class Publish implements PublishSpan {
  constructor(private readonly span: Span) {}
  end(packetId: number, reasonCode: number | undefined, error: Error | undefined): void {
    const span = this.span;
    if (packetId !== 0) span.setAttribute(A.packetId, packetId);
    if (reasonCode !== undefined) span.setAttribute(A.reasonCode, reasonCode);
    if (error !== undefined) failed(span, error);
    span.end();
  }
}

class Rpc implements RpcSpan {
  private readonly ctx: Context;
  constructor(
    private readonly span: Span,
    parent: Context,
  ) {
    this.ctx = trace.setSpan(parent, span);
  }
  run<T>(fn: () => T): T {
    return context.with(this.ctx, fn);
  }
  carrier(): TraceCarrier | undefined {
    const carrier = carrierOf(this.ctx);
    // the RPC envelope carries W3C's fields only: another propagator's have no place there
    return carrier?.traceparent === undefined ? undefined : carrier;
  }
  end(error?: Error): void {
    const span = this.span;
    if (error !== undefined) {
      const status = (error as { status?: unknown }).status;
      if (typeof status === 'number') {
        span.setAttribute('rpc.response.status_code', String(status));
        failed(span, error, String(status));
      } else failed(span, error);
    }
    span.end();
  }
}

class Tracer implements SessionTracer {
  /** What every span of this session carries besides its own fields (the broker, the session's name). */
  private readonly fixed: Attributes;
  /** Taken from the provider registered when the session found it: a session made later may see another. */
  private readonly tracer = trace.getTracer('mqttkit');

  constructor(private readonly session: TracedSession) {
    const fixed: Attributes = {};
    try {
      const endpoint = parseBrokerUrl(session.url);
      if (endpoint.kind === 'unix') fixed['network.transport'] = 'unix';
      else {
        fixed['server.address'] = endpoint.host;
        fixed['server.port'] = endpoint.port;
      }
    } catch {
      // the session checked its URL already; nothing to add
    }
    if (session.name !== undefined) fixed[A.sessionName] = session.name;
    this.fixed = fixed;
  }

  /**
   * A message span's attributes. Built on each span (the SDK keeps the
   * object): one literal of constant shape, then the session's few, added
   * in the same order each time. A spread or a computed key here made
   * this function half of what a traced publish cost.
   */
  private attributes(operation: 'send' | 'receive' | 'process', name: string, p: PublishPacket): Attributes {
    const s = this.session;
    const a: Attributes = {
      'messaging.system': 'mqtt',
      'messaging.operation.type': operation,
      'messaging.operation.name': name,
      'messaging.destination.name': p.topic,
      'messaging.message.body.size': p.payload.length,
      'messaging.mqtt.qos': p.qos,
      'messaging.client.id': s.clientId,
      'network.protocol.name': 'mqtt',
      'network.protocol.version': s.protocolVersion === 5 ? '5' : '3.1.1',
    };
    const fixed = this.fixed;
    for (const key in fixed) a[key] = fixed[key];
    return a;
  }

  /** An RPC span's attributes. */
  private rpcAttributes(method: string, topic: string): Attributes {
    const a: Attributes = {
      'messaging.system': 'mqtt',
      'rpc.system': 'mqtt',
      'rpc.method': method,
      'messaging.destination.name': topic,
      'messaging.client.id': this.session.clientId,
    };
    const fixed = this.fixed;
    for (const key in fixed) a[key] = fixed[key];
    return a;
  }

  publish(packet: PublishPacket): PublishSpan | undefined {
    const parent = context.active();
    const attributes = this.attributes('send', 'publish', packet);
    if (packet.retain) attributes[A.retain] = true;
    const span = this.tracer.startSpan('publish', { kind: SpanKind.PRODUCER, attributes }, parent);
    if (this.session.protocolVersion === 5) {
      const carrier = carrierOf(trace.setSpan(parent, span));
      if (carrier !== undefined) {
        const props = packet.properties;
        packet.properties = { ...props, userProperties: withCarrier(props?.userProperties, carrier) };
      }
    }
    return span.isRecording() ? new Publish(span) : undefined;
  }

  receive(packet: PublishPacket, deliver: (packet: PublishPacket) => void, self: unknown): void {
    // from the root, not the active context: a socket's callbacks run in whatever context connect() was called in
    const parent = propagation.extract(ROOT_CONTEXT, packet.properties?.userProperties, fromPairs);
    const attributes = this.attributes('receive', 'receive', packet);
    if (packet.packetId !== undefined) attributes[A.packetId] = packet.packetId;
    if (packet.dup) attributes[A.dup] = true;
    if (packet.retain) attributes[A.retain] = true;
    const span = this.tracer.startSpan('receive', { kind: SpanKind.CONSUMER, attributes }, parent);
    const ctx = trace.setSpan(parent, span);
    (packet as Carried)[MESSAGE_CONTEXT] = ctx;
    (packet as Carried)[MESSAGE_TRACER] = this;
    try {
      context.with(ctx, deliver, self, packet);
    } finally {
      span.end();
    }
  }

  private processSpan(message: TracedMessage, filter: string | undefined): { span: Span; ctx: Context } {
    const parent = (message as Carried)[MESSAGE_CONTEXT] ?? context.active();
    const attributes = this.attributes('process', 'process', message);
    if (filter !== undefined) {
      attributes['messaging.destination.template'] = filter;
      if (filter.startsWith('$share/')) {
        const group = filter.slice(7, filter.indexOf('/', 7));
        attributes['messaging.consumer.group.name'] = group;
      }
    }
    const name = filter === undefined ? 'process' : `process ${filter}`;
    const span = this.tracer.startSpan(name, { kind: SpanKind.CONSUMER, attributes }, parent);
    return { span, ctx: trace.setSpan(parent, span) };
  }

  process(filter: string, message: TracedMessage, handler: (message: never) => unknown): void {
    // a message whose receive span was not sampled gets no process spans either (as a parent-based sampler
    // would decide, without the cost of asking): half of what an unsampled message cost was asking
    if (ownsSpans(handler) || !recorded(message)) {
      (handler as (m: TracedMessage) => unknown)(message);
      return;
    }
    const { span, ctx } = this.processSpan(message, filter);
    let result: unknown;
    try {
      result = context.with(ctx, handler as (m: TracedMessage) => unknown, undefined, message);
    } catch (err) {
      failed(span, err as Error);
      span.end();
      throw err;
    }
    if (result !== null && typeof (result as Promise<unknown>)?.then === 'function') {
      (result as Promise<unknown>).then(
        () => span.end(),
        (err: unknown) => {
          failed(span, err as Error);
          span.end();
          throw err; // still unhandled, as it is untraced: tracing must not change what a failure does
        },
      );
    } else span.end();
  }

  delivered(message: TracedMessage, filter: string | undefined): () => void {
    if (!recorded(message)) return noop;
    const { span } = this.processSpan(message, filter);
    return () => span.end();
  }

  rpcRequest(topic: string): RpcSpan {
    const parent = context.active();
    const attributes = this.rpcAttributes(topic, topic);
    // named for what it does, not its topic: a topic often names a device (the topic is `rpc.method`)
    const span = this.tracer.startSpan('request', { kind: SpanKind.CLIENT, attributes }, parent);
    return new Rpc(span, parent);
  }

  rpcServe(message: TracedMessage, route: string, carrier: TraceCarrier | undefined): RpcSpan {
    const parent =
      carrier === undefined ? arrivedIn(message) : propagation.extract(ROOT_CONTEXT, carrier, fromCarrier);
    const attributes = this.rpcAttributes(route, message.topic);
    attributes['messaging.destination.template'] = route;
    const span = this.tracer.startSpan(route, { kind: SpanKind.SERVER, attributes }, parent);
    return new Rpc(span, parent);
  }

  within<T>(message: TracedMessage, fn: () => T): T {
    return context.with(arrivedIn(message), fn);
  }

  active(): unknown {
    return context.active();
  }

  runIn<T>(ctx: unknown, fn: () => T): T {
    return context.with(ctx as Context, fn);
  }

  carrierOf(message: TracedMessage): TraceCarrier | undefined {
    return carrierOf(arrivedIn(message));
  }
}

/** The tracer of one session. */
export function tracerFor(session: TracedSession): SessionTracer {
  return new Tracer(session);
}
