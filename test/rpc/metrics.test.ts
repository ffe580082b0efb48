/**
 * `RpcServer.metrics().routes` (each route's requests, answers by status and
 * latency) and `rpcServersOf(session)` (the servers running on a session,
 * for the dashboard), against a private mosquitto (MQTT 5) and over aedes
 * with MQTT 3.1.1.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RpcError } from '../../src/core/errors.js';
import { RpcClient, RpcServer, RpcStatusError } from '../../src/rpc/index.js';
import { rpcServersOf } from '../../src/rpc/running.js';
import { LATENCY_BOUNDS, Session } from '../../src/session/index.js';
import { type AedesBroker, startAedes } from '../helpers/aedes.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

async function session(url: string, protocolVersion: 4 | 5 = 5): Promise<Session> {
  const s = closeAfter(new Session({ url, protocolVersion }));
  await s.connect();
  return s;
}

function server(s: Session, options?: ConstructorParameters<typeof RpcServer>[1]): RpcServer {
  const srv = new RpcServer(s, options);
  onCleanup(() => srv.stop());
  return srv;
}

/** The status an error response carried, or 200. */
async function status(p: Promise<unknown>): Promise<number> {
  try {
    await p;
    return 200;
  } catch (err) {
    if (err instanceof RpcError) return err.status;
    throw err;
  }
}

/** Serves four routes, sends a mix of requests, and checks each route's numbers. */
async function mix(url: string, protocolVersion: 4 | 5): Promise<void> {
  const s = await session(url, protocolVersion);
  const srv = server(s, { timeout: 150 });
  srv.route('m/devices/:id/get', (req) => {
    if (req.params.id === '0') throw new RpcStatusError(404, 'no such device');
    if (req.params.id === 'x') throw new Error('broken');
    return { id: req.params.id };
  });
  // never settles on its own: answered 504 when the timeout aborts it
  srv.route('m/hang', (req) => new Promise((_, reject) => req.signal.addEventListener('abort', reject)));
  srv.route('m/notify', () => 'nobody asked');
  srv.route('m/idle', () => 'never called');
  await srv.start();
  const c = closeAfter(new RpcClient(await session(url, protocolVersion), { timeout: 10_000 }));
  const calls = [
    c.request('m/devices/1/get', ''),
    c.request('m/devices/2/get', ''),
    c.request('m/devices/3/get', ''),
    c.request('m/devices/0/get', ''),
    c.request('m/devices/0/get', ''),
    c.request('m/devices/x/get', ''),
    c.request('m/hang', ''),
  ];
  expect(await Promise.all(calls.map(status))).toEqual([200, 200, 200, 404, 404, 500, 504]);
  // published without a response topic: handled, not answered
  await c.session.publish('m/notify', '', { qos: 1 });
  await expect.poll(() => srv.metrics().routes[2].statuses).toEqual({ none: 1 });

  const { routes, received, succeeded, failed } = srv.metrics();
  expect(routes.map((r) => r.pattern)).toEqual(['m/devices/:id/get', 'm/hang', 'm/notify', 'm/idle']);
  expect(routes.map((r) => [r.received, r.statuses])).toEqual([
    [6, { '200': 3, '404': 2, '500': 1 }],
    [1, { '504': 1 }],
    [1, { none: 1 }],
    [0, {}],
  ]);
  // the latency of every answered request, none of the unanswered one
  expect(routes.map((r) => r.latency.count)).toEqual([6, 1, 0, 0]);
  for (const r of routes) {
    expect(r.latency.bounds).toEqual(LATENCY_BOUNDS);
    expect(r.latency.counts.reduce((a, b) => a + b, 0)).toBe(r.latency.count);
  }
  expect(routes[0].latency.sum).toBeGreaterThan(0);
  // the 504 waited for the timeout (150 ms): its bucket is above it
  const hang = routes[1].latency;
  expect(hang.counts.findIndex((n) => n > 0)).toBeGreaterThan(LATENCY_BOUNDS.indexOf(100));
  // the routes add up to the server's counters
  expect(routes.reduce((n, r) => n + r.received, 0)).toBe(received);
  expect(succeeded).toBe(3);
  expect(failed).toBe(4);
  // a copy: changing it changes nothing inside
  routes[0].statuses['200'] = 99;
  expect(srv.metrics().routes[0].statuses['200']).toBe(3);
}

describe.skipIf(!hasMosquitto())('RpcServer route metrics and rpcServersOf (MQTT 5, mosquitto)', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('counts requests, answers by status and latency per route', async () => {
    await mix(broker.url, 5);
  });

  it('answers 503 past the queue, counted on the route with its latency', async () => {
    const srv = server(await session(broker.url), { concurrency: 1, maxQueue: 0, timeout: 0 });
    const release: (() => void)[] = [];
    srv.route('q/slow', () => new Promise<string>((resolve) => release.push(() => resolve('done'))));
    await srv.start();
    const c = closeAfter(new RpcClient(await session(broker.url)));
    const first = c.request('q/slow', '');
    await expect.poll(() => srv.metrics().active).toBe(1);
    expect(await status(c.request('q/slow', ''))).toBe(503);
    for (const r of release) r();
    expect(await status(first)).toBe(200);
    const [route] = srv.metrics().routes;
    expect(route).toMatchObject({ received: 2, statuses: { '200': 1, '503': 1 } });
    expect(route.latency.count).toBe(2);
  });

  it('rpcServersOf lists the servers started on a session, and not once stopped', async () => {
    const s = await session(broker.url);
    const other = await session(broker.url);
    const a = server(s);
    const b = server(s);
    a.route('reg/a', () => 'a');
    b.route('reg/b', () => 'b');
    expect(rpcServersOf(s)).toEqual([]); // made, never started
    await a.start();
    expect(rpcServersOf(s)).toEqual([a]);
    await b.start();
    await b.start(); // again: listed once
    expect(rpcServersOf(s)).toEqual([a, b]);
    expect(rpcServersOf(other)).toEqual([]);
    const [reg] = rpcServersOf(s)[0].metrics().routes;
    expect(reg.pattern).toBe('reg/a');
    const stopping = a.stop();
    expect(rpcServersOf(s)).toEqual([b]); // off the list from the moment it stops
    await stopping;
    await b.stop();
    expect(rpcServersOf(s)).toEqual([]);
    await expect(a.start()).rejects.toThrow();
    expect(rpcServersOf(s)).toEqual([]);
  });
});

describe('RpcServer route metrics over MQTT 3.1.1 (aedes)', () => {
  let broker: AedesBroker;
  beforeAll(async () => {
    broker = await startAedes();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('counts requests, answers by status and latency per route', async () => {
    await mix(broker.url, 4);
  });
});
