/**
 * What the session, RPC and forwarding layers call to trace, without
 * loading OpenTelemetry: the interfaces, the check whether a tracer provider
 * is registered, and the loader of the implementation (`otel.ts`, which
 * imports `@opentelemetry/api`, an optional peer dependency).
 *
 * A session holds a {@link SessionTracer} only once tracing is loaded and a
 * tracer provider is registered; until then every hot path pays one
 * `tracer !== undefined` check and nothing else.
 */
import type { PublishPacket } from '../codec/types.js';
import { importPeer } from '../core/peer.js';

/** What a tracer needs to know of the session whose spans it makes. */
export interface TracedSession {
  /** The client id in use (the broker may have assigned it). */
  readonly clientId: string;
  /** The `name` option. */
  readonly name: string | undefined;
  /** Where the session connects, without credentials. */
  readonly url: string;
  /** The protocol level in use. */
  readonly protocolVersion: 4 | 5;
}

/** A received message as the tracer sees it: the packet, with the context the tracer stored on it. */
export type TracedMessage = PublishPacket;

/** The producer span of one publish, ended when the publish settles. */
export interface PublishSpan {
  /** The publish settled: `error` when it failed, else the acknowledgement's reason code. */
  end(packetId: number, reasonCode: number | undefined, error: Error | undefined): void;
}

/** An RPC client's or server's span: work runs in its context; it ends with the call. */
export interface RpcSpan {
  /** Runs `fn` with this span as the active one. */
  run<T>(fn: () => T): T;
  /** `traceparent` and `tracestate` of this span, for the MQTT 3.1.1 envelope; undefined when not sampled. */
  carrier(): TraceCarrier | undefined;
  /** The call ended: successfully, or with `error` (an `RpcError`'s `status` is recorded too). */
  end(error?: Error): void;
}

/** W3C trace context as text fields: what MQTT 5 carries in user properties. */
export interface TraceCarrier {
  traceparent?: string;
  tracestate?: string;
}

/** One session's tracer. */
export interface SessionTracer {
  /**
   * Starts the producer span of a publish in the active context and, when
   * it is sampled and the session speaks MQTT 5, writes its context into
   * `packet`'s user properties (`traceparent`, `tracestate`, replacing any
   * there). Undefined when the span is not recorded.
   */
  publish(packet: PublishPacket): PublishSpan | undefined;
  /**
   * Delivers a received message in a consumer `receive` span whose parent
   * is the context the message carries (none: a new trace): `deliver` runs
   * with that span active, and the context is kept on the message for
   * {@link SessionTracer.process} and `for await` deliveries.
   */
  receive(packet: PublishPacket, deliver: (packet: PublishPacket) => void, self: unknown): void;
  /** Runs one handler of `filter` in a consumer `process` span (ended when a promise it returns settles). */
  process(filter: string, message: TracedMessage, handler: (message: never) => unknown): void;
  /** A `for await` consumer took `message`: a `process` span starts; the returned function ends it. */
  delivered(message: TracedMessage, filter: string | undefined): () => void;
  /** An RPC client's call to `topic`: a client span in the active context. */
  rpcRequest(topic: string): RpcSpan;
  /**
   * An RPC server's handling of `message` for `route`: a server span whose
   * parent is `carrier` (MQTT 3.1.1's envelope) or else the message's context.
   */
  rpcServe(message: TracedMessage, route: string, carrier: TraceCarrier | undefined): RpcSpan;
  /** Runs `fn` in the context `message` arrived with (a forwarder publishing it later). */
  within<T>(message: TracedMessage, fn: () => T): T;
  /** The context `message` arrived with, as `traceparent`/`tracestate` (a forwarder's envelope). */
  carrierOf(message: TracedMessage): TraceCarrier | undefined;
  /** The active context, kept by what publishes later (a rate-limited queue) for {@link SessionTracer.runIn}. */
  active(): unknown;
  /** Runs `fn` in `context`, one that {@link SessionTracer.active} gave. */
  runIn<T>(context: unknown, fn: () => T): T;
}

/** The implementation's entry point: `otel.ts`. */
export interface TracingModule {
  tracerFor(session: TracedSession): SessionTracer;
}

/** Where `@opentelemetry/api` 1.x keeps what is registered (its `globalThis` key). */
const OTEL_GLOBAL = Symbol.for('opentelemetry.js.api.1');

/**
 * Whether a tracer provider is registered with `@opentelemetry/api` 1.x
 * (`NodeSDK.start()`, `provider.register()`, `trace.setGlobalTracerProvider()`),
 * read without loading the package.
 */
export function tracerRegistered(): boolean {
  const g = (globalThis as Record<symbol, { trace?: unknown } | undefined>)[OTEL_GLOBAL];
  return g?.trace !== undefined;
}

let loading: Promise<TracingModule> | undefined;

/** Loads the implementation (and `@opentelemetry/api`), once. */
export function loadTracing(): Promise<TracingModule> {
  // the package first: a MissingPeerError names it and how to install it
  loading ??= importPeer('@opentelemetry/api', 'tracing').then(() => import('./otel.js'));
  return loading;
}

/** Where a traced message keeps the tracer of the session that received it (for `for await` deliveries). */
export const MESSAGE_TRACER: unique symbol = Symbol('mqttkit.tracer');

/** Where a traced message keeps the context of its `receive` span (an OpenTelemetry `Context`). */
export const MESSAGE_CONTEXT: unique symbol = Symbol.for('mqttkit.traceContext');

/**
 * Gives `copy`, a message made from `message` (a manager's route message),
 * the trace of `message`, when it has one.
 */
export function copyTrace(message: object, copy: object): void {
  const m = message as { [MESSAGE_TRACER]?: SessionTracer; [MESSAGE_CONTEXT]?: unknown };
  const tracer = m[MESSAGE_TRACER];
  if (tracer === undefined) return;
  const c = copy as typeof m;
  c[MESSAGE_TRACER] = tracer;
  c[MESSAGE_CONTEXT] = m[MESSAGE_CONTEXT];
}

/** The tracer of the session that received `message` when it was traced, else undefined. */
export function tracerOfMessage(message: object): SessionTracer | undefined {
  return (message as { [MESSAGE_TRACER]?: SessionTracer })[MESSAGE_TRACER];
}

/** Marks a handler that makes its own spans (an RPC server's, an RPC client's responses): no `process` span around it. */
const OWN_SPANS = Symbol('mqttkit.ownSpans');

/** `handler`, marked as making its own spans (see {@link ownsSpans}). */
export function withOwnSpans<F extends (...args: never[]) => unknown>(handler: F): F {
  (handler as unknown as Record<symbol, boolean>)[OWN_SPANS] = true;
  return handler;
}

/** Whether `handler` makes its own spans. */
export function ownsSpans(handler: unknown): boolean {
  return (handler as Record<symbol, boolean | undefined>)[OWN_SPANS] === true;
}

/** The names of the trace context in MQTT 5 user properties (W3C Trace Context: MQTT). */
export const TRACEPARENT = 'traceparent';
export const TRACESTATE = 'tracestate';

/** The names of the span attributes mqttkit sets beyond OpenTelemetry's messaging conventions. */
export const MQTT_ATTRIBUTES = Object.freeze({
  /** The QoS a message was published or delivered with. */
  qos: 'messaging.mqtt.qos',
  /** The MQTT packet identifier of a QoS 1/2 message. */
  packetId: 'messaging.mqtt.packet_id',
  /** The broker's acknowledgement reason code (PUBACK, PUBREC, PUBCOMP). */
  reasonCode: 'messaging.mqtt.reason_code',
  /** Set on retained messages. */
  retain: 'messaging.mqtt.retain',
  /** Set on a message the broker sent again. */
  dup: 'messaging.mqtt.dup',
  /** The session's `name` option (a manager's session name). */
  sessionName: 'mqttkit.session.name',
});
