/**
 * Traces through a private mosquitto with the OpenTelemetry SDK registered
 * as an application registers it (in-memory exporter): publish and receive
 * spans joined by W3C trace context in MQTT 5 user properties, process spans
 * around handlers and `for await` deliveries, RPC across the broker on MQTT 5
 * and 3.1.1, MQTT.js on either end, and nothing at all when sampling is off
 * or `tracing: false`.
 */
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  TraceFlags,
  trace,
} from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import mqtt from 'mqtt';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { QueueChannel } from '../../src/channels/index.js';
import { SessionManager } from '../../src/manager/index.js';
import { RpcClient, RpcServer, RpcStatusError } from '../../src/rpc/index.js';
import { type Message, Session } from '../../src/session/index.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { received } from '../helpers/messages.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { type Otel, parentOf, registerOtel } from '../helpers/otel.js';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

let otel: Otel;
let broker: Broker;

async function session(options: { protocolVersion?: 4 | 5; name?: string; tracing?: boolean } = {}) {
  const s = closeAfter(new Session({ url: broker.url, ...options }));
  await s.connect();
  return s;
}

describe.skipIf(!hasMosquitto())('tracing through mosquitto', () => {
  beforeAll(async () => {
    otel = registerOtel();
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
    await otel?.shutdown();
  });
  beforeEach(() => {
    otel.sampling(true);
    otel.exporter.reset();
  });

  it('joins a publish and its receipt in one trace: producer, consumer and a process span per handler', async () => {
    const sub = await session({ name: 'sub' });
    const got: Message[] = [];
    await sub.subscribe('t/+/temp', { qos: 1 }, (m) => got.push(m));
    const pub = await session({ name: 'pub' });
    await pub.publish('t/7/temp', '21.5', { qos: 1 });
    const [publish] = await otel.waitFor('publish');
    const [receive] = await otel.waitFor('receive');
    const [process] = await otel.waitFor('process t/+/temp');

    expect(publish.kind).toBe(SpanKind.PRODUCER);
    expect(publish.attributes).toMatchObject({
      'messaging.system': 'mqtt',
      'messaging.operation.type': 'send',
      'messaging.operation.name': 'publish',
      'messaging.destination.name': 't/7/temp',
      'messaging.message.body.size': 4,
      'messaging.mqtt.qos': 1,
      'messaging.client.id': pub.clientId,
      'mqttkit.session.name': 'pub',
      'server.address': '127.0.0.1',
      'server.port': broker.port,
    });
    expect(publish.attributes['messaging.mqtt.packet_id']).toBeGreaterThan(0);
    expect(receive.kind).toBe(SpanKind.CONSUMER);
    expect(receive.attributes).toMatchObject({
      'messaging.operation.type': 'receive',
      'messaging.destination.name': 't/7/temp',
      'messaging.client.id': sub.clientId,
      'mqttkit.session.name': 'sub',
    });
    expect(receive.spanContext().traceId).toBe(publish.spanContext().traceId);
    expect(parentOf(receive)).toBe(publish.spanContext().spanId);
    expect(process.kind).toBe(SpanKind.CONSUMER);
    expect(process.attributes['messaging.destination.template']).toBe('t/+/temp');
    expect(parentOf(process)).toBe(receive.spanContext().spanId);
    // the wire carries the producer span's context
    const [, traceId, spanId] = TRACEPARENT.exec(
      got[0].properties?.userProperties?.find(([k]) => k === 'traceparent')?.[1] ?? '',
    ) ?? ['', '', ''];
    expect(traceId).toBe(publish.spanContext().traceId);
    expect(spanId).toBe(publish.spanContext().spanId);
  });

  it("parents a publish to the caller's active span, and a handler's own publish to its process span", async () => {
    const a = await session();
    const b = await session();
    await b.subscribe('in/x', { qos: 0 }, () => {
      void b.publish('out/x', 'echo');
    });
    const echoed = received(a, 1);
    await a.subscribe('out/x', { qos: 0 });
    const tracer = trace.getTracer('test');
    await tracer.startActiveSpan('request', async (root) => {
      await a.publish('in/x', 'hi');
      root.end();
    });
    await echoed;
    const [root] = otel.named('request');
    const publishes = await otel.waitFor('publish', 2);
    const first = publishes.find((s) => s.attributes['messaging.destination.name'] === 'in/x');
    const echo = publishes.find((s) => s.attributes['messaging.destination.name'] === 'out/x');
    const [process] = await otel.waitFor('process in/x');
    expect(parentOf(first as never)).toBe(root.spanContext().spanId);
    expect(parentOf(echo as never)).toBe(process.spanContext().spanId);
    expect(new Set(otel.spans().map((s) => s.spanContext().traceId))).toEqual(
      new Set([root.spanContext().traceId]),
    );
  });

  it('ends a process span when the promise of an async handler settles, and marks a throwing one failed', async () => {
    const s = await session();
    s.on('error', () => undefined);
    let finish!: () => void;
    const waiting = new Promise<void>((resolve) => {
      finish = resolve;
    });
    await s.subscribe('slow', { qos: 0 }, (async () => {
      await waiting;
    }) as never);
    await s.subscribe('bad', { qos: 0 }, () => {
      throw new Error('handler bug');
    });
    await s.publish('slow', 'x');
    await s.publish('bad', 'x');
    const [bad] = await otel.waitFor('process bad');
    expect(bad.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'handler bug' });
    await otel.waitFor('receive', 2);
    expect(otel.named('process slow')).toHaveLength(0);
    finish();
    const [slow] = await otel.waitFor('process slow');
    expect(slow.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('leaves a rejected async handler as unhandled as it is untraced', async () => {
    const s = await session();
    const unhandled = new Promise<unknown>((resolve) => process.once('unhandledRejection', resolve));
    await s.subscribe('reject', { qos: 0 }, (async () => {
      throw new Error('async handler bug');
    }) as never);
    await s.publish('reject', 'x');
    expect(await unhandled).toMatchObject({ message: 'async handler bug' });
    const [span] = await otel.waitFor('process reject');
    expect(span.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'async handler bug' });
  });

  it('gives each `for await` delivery a process span that lasts until the next one is asked for', async () => {
    const s = await session();
    const stream = s.messages('it/#');
    await s.subscribe('it/#', { qos: 1 });
    await s.publish('it/1', 'a', { qos: 1 });
    await s.publish('it/2', 'b', { qos: 1 });
    const seen: string[] = [];
    for await (const m of stream) {
      seen.push(m.topic);
      // the span of the message in hand is still open
      expect(otel.named('process it/#')).toHaveLength(seen.length - 1);
      if (seen.length === 2) break;
    }
    const processes = await otel.waitFor('process it/#', 2);
    const receives = otel.named('receive');
    expect(processes.map((p) => p.attributes['messaging.destination.name']).sort()).toEqual(['it/1', 'it/2']);
    for (const p of processes) {
      const parent = receives.find((r) => r.spanContext().spanId === parentOf(p));
      expect(parent?.attributes['messaging.destination.name']).toBe(
        p.attributes['messaging.destination.name'],
      );
    }
  });

  it("traces a manager's routes: a process span per handle route (to its promise's end), one per `listen` delivery", async () => {
    const manager = new SessionManager();
    onCleanup(() => manager.close());
    manager.add({ name: 'fleet-a', url: broker.url });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const handled = new Promise<void>((resolve) =>
      manager.handle(
        'mgr/h',
        (async () => {
          resolve();
          await gate;
        }) as never,
        { qos: 1 },
      ),
    );
    const stream = manager.listen('mgr/l', { qos: 1 });
    await manager.connectAll();
    await manager.waitReady();
    const pub = await session();
    await pub.publish('mgr/h', 'x', { qos: 1 });
    await pub.publish('mgr/l', 'y', { qos: 1 });
    await handled;
    await otel.waitFor('receive', 2);
    // the route's promise is still pending: its span is too
    expect(otel.named('process mgr/h')).toEqual([]);
    release();
    const [handle] = await otel.waitFor('process mgr/h');
    expect(handle.attributes['mqttkit.session.name']).toBe('fleet-a');
    for await (const m of stream) {
      expect(m.topic).toBe('mgr/l');
      break;
    }
    const [listened] = await otel.waitFor('process mgr/l');
    const arrival = otel.named('receive').find((r) => r.attributes['messaging.destination.name'] === 'mgr/l');
    expect(parentOf(listened)).toBe(arrival?.spanContext().spanId);
    // the loop's delivery only: the manager's push into the stream is no span of its own
    expect(otel.named('process mgr/l')).toHaveLength(1);
  });

  it('parents each message of a rate-limited QueueChannel to the span it was pushed in, though a timer sends it', async () => {
    const s = await session();
    const q = new QueueChannel(s, 'q/data', { rate: 10 }); // a burst of 1: the others wait for the timer
    const tracer = trace.getTracer('test');
    const pushed = [0, 1, 2].map((i) =>
      tracer.startActiveSpan(`job-${i}`, (job) => {
        const p = q.push(`${i}`);
        job.end();
        return p;
      }),
    );
    await Promise.all(pushed);
    const publishes = await otel.waitFor('publish', 3);
    for (const i of [0, 1, 2]) {
      const [job] = otel.named(`job-${i}`);
      const publish = publishes.find((p) => parentOf(p) === job.spanContext().spanId);
      expect(publish?.attributes['messaging.destination.name']).toBe('q/data');
    }
    await q.close();
  });

  it('traces an RPC call as one trace: client, request publish, server receive, server span, response', async () => {
    const server = new RpcServer(await session({ name: 'server' }));
    onCleanup(() => server.stop());
    server.route('api/:id/get', (req) => {
      // work in the handler is a child of the server span
      trace.getTracer('test').startSpan('lookup').end();
      return { id: req.params.id };
    });
    server.route('api/fail', () => {
      throw new RpcStatusError(404, 'no such thing');
    });
    await server.start();
    const client = closeAfter(new RpcClient(await session({ name: 'client' })));
    expect(await client.requestJson('api/7/get', {})).toEqual({ id: '7' });

    const [call] = await otel.waitFor('request');
    expect(call.attributes['rpc.method']).toBe('api/7/get');
    const [served] = await otel.waitFor('api/:id/get');
    const [lookup] = otel.named('lookup');
    const publishes = await otel.waitFor('publish', 2);
    const receives = await otel.waitFor('receive', 2);
    const request = publishes.find((p) => p.attributes['messaging.destination.name'] === 'api/7/get');
    const response = publishes.find((p) => p !== request);
    const arrival = receives.find((r) => r.attributes['messaging.destination.name'] === 'api/7/get');
    const answer = receives.find((r) => r !== arrival);

    const traceIds = new Set(otel.spans().map((s) => s.spanContext().traceId));
    expect(traceIds.size).toBe(1);
    expect(call.kind).toBe(SpanKind.CLIENT);
    expect(served.kind).toBe(SpanKind.SERVER);
    expect(parentOf(call)).toBeUndefined();
    expect(parentOf(request as never)).toBe(call.spanContext().spanId);
    expect(parentOf(arrival as never)).toBe(request?.spanContext().spanId);
    expect(parentOf(served)).toBe(arrival?.spanContext().spanId);
    expect(parentOf(lookup)).toBe(served.spanContext().spanId);
    expect(parentOf(response as never)).toBe(served.spanContext().spanId);
    expect(parentOf(answer as never)).toBe(response?.spanContext().spanId);
    // RPC handlers make their own spans: no process span around them
    expect(otel.spans().filter((s) => s.name.startsWith('process'))).toHaveLength(0);
    expect(served.attributes).toMatchObject({ 'rpc.system': 'mqtt', 'rpc.method': 'api/:id/get' });

    await expect(client.request('api/fail', '')).rejects.toMatchObject({ status: 404 });
    const [failedServe] = await otel.waitFor('api/fail');
    const [, failedCall] = await otel.waitFor('request', 2);
    expect([failedServe.status.code, failedCall.status.code]).toEqual([
      SpanStatusCode.ERROR,
      SpanStatusCode.ERROR,
    ]);
    expect(failedCall.attributes['rpc.response.status_code']).toBe('404');
  });

  it('ends the server span of a request that asks for no answer (no response topic)', async () => {
    const server = new RpcServer(await session());
    onCleanup(() => server.stop());
    let handled!: () => void;
    const done = new Promise<void>((resolve) => {
      handled = resolve;
    });
    server.route('fire/:id', () => {
      handled();
      return 'nobody reads this';
    });
    await server.start();
    await (await session()).publish('fire/1', 'x', { qos: 1 });
    await done;
    const [served] = await otel.waitFor('fire/:id');
    expect(served.kind).toBe(SpanKind.SERVER);
    expect(served.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('carries the trace over MQTT 3.1.1 in the RPC envelope: the server span is the client span’s child', async () => {
    const server = new RpcServer(await session({ protocolVersion: 4 }));
    onCleanup(() => server.stop());
    server.route('v4/echo', (req) => req.text());
    await server.start();
    const client = closeAfter(new RpcClient(await session({ protocolVersion: 4 })));
    expect((await client.request('v4/echo', 'hello')).text()).toBe('hello');
    const [served] = await otel.waitFor('v4/echo');
    const [call] = await otel.waitFor('request');
    expect([call.kind, served.kind]).toEqual([SpanKind.CLIENT, SpanKind.SERVER]);
    expect(served.spanContext().traceId).toBe(call.spanContext().traceId);
    expect(parentOf(served)).toBe(call.spanContext().spanId);
    // 3.1.1 has no user properties: nothing else carries it
    const request = otel
      .named('publish')
      .find((p) => p.attributes['messaging.destination.name'] === 'v4/echo');
    expect(request?.attributes['network.protocol.version']).toBe('3.1.1');

    // envelopeTrace: false, for servers that read version 1 only: the envelope carries nothing
    otel.exporter.reset();
    const old = closeAfter(new RpcClient(await session({ protocolVersion: 4 }), { envelopeTrace: false }));
    const spy = await session({ protocolVersion: 4, tracing: false });
    const sent = received(spy, 1);
    await spy.subscribe('v4/echo', { qos: 0 });
    expect((await old.request('v4/echo', 'again')).text()).toBe('again');
    expect((await sent)[0].payload[3]).toBe(1); // version 1
    const [served2] = await otel.waitFor('v4/echo');
    const [call2] = await otel.waitFor('request');
    expect(served2.spanContext().traceId).not.toBe(call2.spanContext().traceId);
  });

  it('continues the trace of an MQTT.js publisher that sets traceparent, and hands its own to an MQTT.js subscriber', async () => {
    const s = await session();
    const got = received(s, 1);
    await s.subscribe('js/in', { qos: 1 });
    const peer = mqtt.connect(broker.url, { protocolVersion: 5 });
    onCleanup(() => peer.endAsync());
    await new Promise<void>((resolve) => peer.once('connect', () => resolve()));
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    await peer.publishAsync('js/in', 'x', {
      qos: 1,
      properties: { userProperties: { traceparent: `00-${traceId}-${parent}-01`, tracestate: 'vendor=1' } },
    });
    await got;
    const [receive] = await otel.waitFor('receive');
    expect(receive.spanContext().traceId).toBe(traceId);
    expect(parentOf(receive)).toBe(parent);
    expect(receive.spanContext().traceState?.get('vendor')).toBe('1');

    const arrived = new Promise<Record<string, unknown> | undefined>((resolve) =>
      peer.on('message', (topic, _payload, packet) => {
        if (topic === 'js/out') resolve(packet.properties?.userProperties as Record<string, unknown>);
      }),
    );
    await peer.subscribeAsync('js/out', { qos: 1 });
    await s.publish('js/out', 'y', { qos: 1, properties: { userProperties: { app: 'a' } } });
    const props = await arrived;
    const [publish] = otel.named('publish');
    expect(props?.app).toBe('a');
    expect(props?.traceparent).toBe(`00-${publish.spanContext().traceId}-${publish.spanContext().spanId}-01`);
  });

  it('replaces a traceparent the caller copied into the properties with the publish span’s own', async () => {
    const s = await session();
    const got = received(s, 1);
    await s.subscribe('copy', { qos: 0 });
    const stale = '00-11111111111111111111111111111111-2222222222222222-01';
    await s.publish('copy', 'x', {
      properties: {
        userProperties: [
          ['traceparent', stale],
          ['k', 'v'],
        ],
      },
    });
    const [m] = await got;
    const pairs = m.properties?.userProperties ?? [];
    expect(pairs.filter(([k]) => k === 'traceparent')).toHaveLength(1);
    expect(pairs.find(([k]) => k === 'traceparent')?.[1]).not.toBe(stale);
    expect(pairs).toContainEqual(['k', 'v']);
  });

  it('injects and extracts through the global propagator, so another one carries its own fields', async () => {
    // a propagator of one field, 'x-trace': '<trace id>:<span id>'
    const custom: TextMapPropagator = {
      fields: () => ['x-trace'],
      inject(ctx, carrier, setter) {
        const sc = trace.getSpanContext(ctx);
        if (sc !== undefined) setter.set(carrier, 'x-trace', `${sc.traceId}:${sc.spanId}`);
      },
      extract(ctx, carrier, getter) {
        const [traceId, spanId] = String(getter.get(carrier, 'x-trace') ?? '').split(':');
        if (spanId === undefined) return ctx;
        return trace.setSpanContext(ctx, { traceId, spanId, traceFlags: TraceFlags.SAMPLED, isRemote: true });
      },
    };
    propagation.disable();
    propagation.setGlobalPropagator(custom);
    try {
      const s = await session();
      const got = received(s, 1);
      await s.subscribe('custom', { qos: 0 }, () => undefined);
      await s.publish('custom', 'x', { properties: { userProperties: [['x-trace', 'stale:stale']] } });
      const [m] = await got;
      const [publish] = await otel.waitFor('publish');
      const [receive] = await otel.waitFor('receive');
      expect(m.properties?.userProperties).toEqual([
        ['x-trace', `${publish.spanContext().traceId}:${publish.spanContext().spanId}`],
      ]);
      expect(parentOf(receive)).toBe(publish.spanContext().spanId);
    } finally {
      propagation.disable();
      propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    }
  });

  it('with sampling off makes no span and sends no trace context', async () => {
    otel.sampling(false);
    const s = await session();
    const got = received(s, 2);
    await s.subscribe('off/#', { qos: 1 }, () => undefined);
    await s.publish('off/1', 'x', { qos: 1 });
    await s.publish('off/2', 'y', { qos: 0 });
    const messages = await got;
    for (const m of messages) expect(m.properties?.userProperties ?? []).toEqual([]);
    expect(otel.spans()).toEqual([]);
  });

  it('with tracing: false makes no span and passes a caller’s traceparent on untouched', async () => {
    const s = await session({ tracing: false });
    const got = received(s, 1);
    await s.subscribe('untraced', { qos: 1 }, () => undefined);
    const theirs = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await context.with(context.active(), () =>
      s.publish('untraced', 'x', { qos: 1, properties: { userProperties: { traceparent: theirs } } }),
    );
    const [m] = await got;
    expect(m.properties?.userProperties).toEqual([['traceparent', theirs]]);
    expect(otel.spans()).toEqual([]);
  });

  it('a publish made while the broker is down keeps its span and its trace across the restart', async () => {
    const down = await startMosquitto({ persistence: true });
    onCleanup(() => down.stop());
    const fast = { initialDelay: 50, maxDelay: 200, jitter: 0 };
    const sub = closeAfter(
      new Session({
        url: down.url,
        clientId: 'trace-down-sub',
        clean: false,
        sessionExpiry: 300,
        reconnect: fast,
      }),
    );
    await sub.connect();
    const got = new Promise<Message>((resolve) => {
      void sub.subscribe('down/x', { qos: 1 }, resolve);
    });
    await sub.subscribe('down/none', { qos: 0 }); // in place before the broker goes
    const pub = closeAfter(new Session({ url: down.url, reconnect: fast }));
    await pub.connect();
    const offline = new Promise<void>((resolve) => pub.once('offline', () => resolve()));
    const restarted = down.restart(); // SIGTERM: mosquitto saves the subscriber's session
    await offline;
    const root = trace.getTracer('test').startSpan('while-down');
    const published = context.with(trace.setSpan(context.active(), root), () =>
      pub.publish('down/x', 'queued', { qos: 1 }),
    );
    root.end();
    await restarted;
    await published;
    const m = await got;
    expect(m.payload.toString()).toBe('queued');
    const spans = await otel.waitFor('publish');
    const mine = spans.filter((x) => x.attributes['messaging.destination.name'] === 'down/x');
    expect(mine).toHaveLength(1);
    expect(parentOf(mine[0])).toBe(root.spanContext().spanId);
    expect(mine[0].attributes['messaging.mqtt.packet_id']).toBeGreaterThan(0);
    const receive = (await otel.waitFor('receive')).find(
      (x) => x.attributes['messaging.destination.name'] === 'down/x',
    );
    expect(parentOf(receive as never)).toBe(mine[0].spanContext().spanId);
  });
});
