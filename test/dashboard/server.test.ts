/**
 * `manager.serveDashboard()` against a private mosquitto, read through its
 * HTTP API as the page reads it: the tick stream (waited on tick by tick,
 * never by time), one snapshot, and publishing. What the page does with it
 * is tested in a real browser (browser.test.ts).
 */
import { request } from 'node:http';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InvalidArgumentError,
  RpcClient,
  RpcServer,
  RpcStatusError,
  Session,
  SessionManager,
} from '../../src/index.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { openStream, rowOf } from '../helpers/dashboard.js';
import { received } from '../helpers/messages.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';

/** A fleet of `n` sessions on the broker, connected, with a dashboard ticking every 50 ms. */
async function fleet(
  broker: Broker,
  n: number,
  options: Parameters<SessionManager['serveDashboard']>[0] = {},
) {
  const manager = closeAfter(new SessionManager());
  for (let i = 0; i < n; i++)
    manager.add({ name: `dev-${i}`, url: broker.url, reconnect: { initialDelay: 20, maxDelay: 100 } });
  await manager.connectAll();
  const dashboard = await manager.serveDashboard({ port: 0, interval: 50, ...options });
  return { manager, dashboard };
}

async function get(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: string }> {
  const res = await fetch(url, { headers, redirect: 'manual' });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

async function publish(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${url}api/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as { ok?: boolean; error?: string; field?: string } };
}

/** A GET with a Host header of our choosing (fetch does not let one set it). */
function getWithHost(url: string, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe.skipIf(!hasMosquitto())('the dashboard server', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('streams the fleet: a complete first tick, then one history point per tick', async () => {
    const { manager, dashboard } = await fleet(broker, 3);
    const stream = await openStream(dashboard.url);
    const first = await stream.until(() => true);
    expect(first.info).toMatchObject({ title: 'mqttkit', publish: true, interval: 50, historySeconds: 45 });
    expect(first.info?.publishers).toEqual(['dev-0', 'dev-1', 'dev-2']);
    expect(first.fleet.total).toBe(3);
    expect(first.fleet.rows.map((r) => r.name)).toEqual(['dev-0', 'dev-1', 'dev-2']);
    expect(rowOf(first, 'dev-1')).toMatchObject({
      state: 'connected',
      ready: true,
      version: 5,
      url: broker.url,
    });
    expect(first.totals).toMatchObject({ sessions: 3, ready: 3, states: { connected: 3 } });
    const later = await stream.until((t) => t !== first);
    expect(later.info).toBeUndefined();
    expect(later.history.t).toHaveLength(1);
    expect(dashboard.clients).toBe(1);
    // messages in and out show as rates
    await manager.get('dev-0')?.subscribe('rates/#');
    const sender = manager.get('dev-1');
    for (let i = 0; i < 20; i++) await sender?.publish('rates/x', 'm', { qos: 1 });
    const busy = await stream.until(
      (t) => (rowOf(t, 'dev-1')?.out ?? 0) > 0 && (rowOf(t, 'dev-0')?.in ?? 0) > 0,
    );
    expect(busy.totals.out).toBeGreaterThan(0);
    expect(rowOf(busy, 'dev-1')?.spark.some((v) => v > 0)).toBe(true);
  });

  it('follows sessions the manager adds and removes', async () => {
    const { manager, dashboard } = await fleet(broker, 2);
    const stream = await openStream(dashboard.url);
    await stream.until((t) => t.fleet.total === 2);
    manager.add({ name: 'late', url: broker.url });
    expect(rowOf(await stream.until((t) => t.fleet.total === 3), 'late')?.state).toBe('new');
    await manager.remove('dev-0');
    const after = await stream.until((t) => t.fleet.total === 2);
    expect(after.fleet.rows.map((r) => r.name)).toEqual(['dev-1', 'late']);
  });

  it('sorts, filters and pages the table on the server', async () => {
    const { manager, dashboard } = await fleet(broker, 12);
    await manager.get('dev-3')?.close();
    const snap = async (q: string) =>
      (await (
        await fetch(`${dashboard.url}api/snapshot?${q}`)
      ).json()) as import('../helpers/dashboard.js').Tick;
    const desc = await snap('sort=name&dir=desc&limit=5');
    expect(desc.fleet.total).toBe(12);
    expect(desc.fleet.rows.map((r) => r.name)).toEqual(['dev-9', 'dev-8', 'dev-7', 'dev-6', 'dev-5']);
    const page = await snap('sort=name&offset=10&limit=5');
    expect(page.fleet.rows.map((r) => r.name)).toEqual(['dev-8', 'dev-9']);
    const closed = await snap('q=closed');
    expect(closed.fleet.rows.map((r) => r.name)).toEqual(['dev-3']);
    const byState = await snap('sort=state&limit=1');
    expect(byState.fleet.rows[0].name).toBe('dev-3'); // 'closed' < 'connected'
    const named = await snap('q=DEV-1');
    expect(named.fleet.rows.map((r) => r.name)).toEqual(['dev-1', 'dev-10', 'dev-11']);
    for (const [query, field] of [
      ['sort=password', 'sort'],
      ['limit=100000', 'limit'],
      ['view=all', 'view'],
      ['offset=-1', 'offset'],
    ]) {
      const res = await get(`${dashboard.url}api/snapshot?${query}`);
      expect(res.status, query).toBe(400);
      expect(JSON.parse(res.body).field).toBe(field);
    }
  });

  it('turns the rows of a killed broker disconnected, and back after its restart, with the events in the session view', async () => {
    const own = await startMosquitto();
    try {
      const { dashboard } = await fleet(own, 3);
      const stream = await openStream(dashboard.url);
      await stream.until((t) => t.totals.states.connected === 3);
      await own.kill();
      const down = await stream.until((t) => t.fleet.rows.every((r) => r.state !== 'connected'));
      expect(down.totals.states.connected ?? 0).toBe(0);
      expect(down.history.disconnected.at(-1)).toBe(3);
      await own.restart();
      const up = await stream.until((t) => t.fleet.rows.every((r) => r.state === 'connected'));
      expect(rowOf(up, 'dev-0')?.lastError?.code).toBe('ERR_MQTT_CONNECTION');
      expect(rowOf(up, 'dev-0')?.reconnects).toBeGreaterThanOrEqual(1);
      const detail = (await (
        await fetch(`${dashboard.url}api/snapshot?view=session&session=dev-0`)
      ).json()) as import('../helpers/dashboard.js').Tick;
      const kinds = detail.session?.events.map((e) => e.kind) ?? [];
      expect(kinds).toContain('disconnected');
      expect(kinds).toContain('reconnecting');
      expect(kinds.lastIndexOf('connected')).toBeGreaterThan(kinds.indexOf('disconnected'));
    } finally {
      await own.stop();
    }
  });

  it('shows one session: history, subscriptions and its timeline', async () => {
    const { manager, dashboard } = await fleet(broker, 2);
    await manager.get('dev-0')?.subscribe(['a/+', 'b/#'], { qos: 1 });
    const stream = await openStream(dashboard.url, 'view=session&session=dev-0');
    const t = await stream.until((x) => (x.session?.history.t.length ?? 0) >= 3);
    expect(t.fleet.rows).toEqual([]);
    expect(t.session).toMatchObject({ name: 'dev-0', state: 'connected', ready: true, version: 5 });
    expect(t.session?.subscriptions).toEqual([
      { filter: 'a/+', qos: 1 },
      { filter: 'b/#', qos: 1 },
    ]);
    expect(t.session?.events.map((e) => e.kind)).toContain('connected');
    const h = t.session?.history;
    expect(h?.in).toHaveLength(h?.t.length ?? -1);
    expect(h?.p99).toHaveLength(h?.t.length ?? -1);
    const missing = (await (
      await fetch(`${dashboard.url}api/snapshot?view=session&session=nobody`)
    ).json()) as import('../helpers/dashboard.js').Tick;
    expect(missing.session).toBeUndefined();
  });

  it('builds the topic table from what the sessions receive: counts, retained, previews, numbers', async () => {
    const { manager, dashboard } = await fleet(broker, 2);
    const sub = manager.get('dev-0');
    await sub?.subscribe('plant/#', { qos: 1 });
    const pub = closeAfter(new Session({ url: broker.url }));
    await pub.connect();
    await pub.publish('plant/boiler/temp', '{"c":71.5,"ok":true,"rpm":900}', { qos: 1 });
    await pub.publish('plant/boiler/temp', '{"c":72,"rpm":910}', { qos: 1 });
    await pub.publish('plant/level', '42', { qos: 1, retain: true });
    await pub.publish('plant/raw', Buffer.from([0, 1, 2, 0xff]), { qos: 1 });
    const stream = await openStream(dashboard.url, 'view=topics&topic=plant%2Fboiler%2Ftemp');
    const t = await stream.until((x) => x.topics?.total === 3 && x.topic?.count === 2);
    expect(t.topics?.items.map((i) => i.topic)).toEqual(['plant/boiler/temp', 'plant/level', 'plant/raw']);
    const level = t.topics?.items.find((i) => i.topic === 'plant/level');
    expect(level).toMatchObject({ count: 1, last: '42' });
    const raw = t.topics?.items.find((i) => i.topic === 'plant/raw');
    expect(raw?.last).toBe('0x000102ff');
    expect(t.topic?.messages.map((m) => Buffer.from(m.payload, 'base64').toString())).toEqual([
      '{"c":71.5,"ok":true,"rpm":900}',
      '{"c":72,"rpm":910}',
    ]);
    expect(t.topic?.messages[0]).toMatchObject({ session: 'dev-0', qos: 1, size: 30, truncated: false });
    expect(t.topic?.series.fields).toEqual({ c: [71.5, 72], rpm: [900, 910] });
    // a retained message arrives with the flag set on a new subscription
    await manager.get('dev-1')?.subscribe('plant/level');
    const retained = await stream.until(
      (x) => x.topics?.items.find((i) => i.topic === 'plant/level')?.retained === true,
    );
    expect(retained.topics?.items.find((i) => i.topic === 'plant/level')?.count).toBe(2);
    // the prefix narrows the list
    const boiler = (await (
      await fetch(`${dashboard.url}api/snapshot?view=topics&prefix=plant%2Fboiler`)
    ).json()) as import('../helpers/dashboard.js').Tick;
    expect(boiler.topics?.items.map((i) => i.topic)).toEqual(['plant/boiler/temp']);
    await pub.publish('plant/level', '', { retain: true, qos: 1 });
  });

  it('shows the RPC routes served on the sessions and the forwarders, with rates, latency and statuses', async () => {
    const { manager, dashboard } = await fleet(broker, 4);
    const server = new RpcServer(manager.get('dev-0') as Session);
    await server.route('things/:id/get', (req) => {
      if (req.params.id === 'missing') throw new RpcStatusError(404, 'no such thing');
      return { id: req.params.id };
    });
    await server.start();
    onCleanup(() => server.stop());
    const client = new RpcClient(manager.get('dev-1') as Session);
    await client.start();
    onCleanup(() => client.close());
    const forwarder = manager.forward({ name: 'up', from: 'dev-2', topics: 'fw/#', to: 'dev-3' });
    await forwarder.start();
    const stream = await openStream(dashboard.url, 'view=rpc');
    // the route and the forwarder are followed from the tick that lists them: what comes after counts in their rates
    await stream.until((x) => x.rpc.length === 1 && x.forwarders.length === 1);
    for (let i = 0; i < 5; i++) await client.request(`things/${i}/get`, '');
    await expect(client.request('things/missing/get', '')).rejects.toThrow(/no such thing/);
    const pub = closeAfter(new Session({ url: broker.url }));
    await pub.connect();
    for (let i = 0; i < 5; i++) await pub.publish('fw/x', 'm', { qos: 1 });
    const t = await stream.until(
      (x) =>
        x.rpc[0]?.total === 6 && x.forwarders[0]?.out === 0 && (x.forwarders[0]?.lagMax ?? null) !== null,
    );
    expect(t.rpc).toHaveLength(1);
    expect(t.rpc[0]).toMatchObject({
      session: 'dev-0',
      route: 'things/:id/get',
      statuses: { '200': 5, '404': 1 },
    });
    expect(t.rpc[0].p50).not.toBeNull();
    expect(t.rpc[0].p99).toBeGreaterThanOrEqual(t.rpc[0].p50 ?? 0);
    expect(t.forwarders[0]).toMatchObject({
      name: 'up',
      from: ['dev-2'],
      to: 'dev-3',
      dropped: 0,
      errors: 0,
    });
    expect(stream.ticks.some((x) => (x.rpc[0]?.rate ?? 0) > 0)).toBe(true);
    expect(stream.ticks.some((x) => (x.forwarders[0]?.in ?? 0) > 0 && (x.forwarders[0]?.out ?? 0) > 0)).toBe(
      true,
    );
    await server.stop();
    await stream.until((x) => x.rpc.length === 0);
  });

  it('publishes from the page through a session of the fleet, and refuses what is not valid', async () => {
    const { dashboard } = await fleet(broker, 2, { explorer: 'dev-1' });
    const watcher = closeAfter(new Session({ url: broker.url }));
    await watcher.connect();
    const got = received(watcher, 2);
    await watcher.subscribe('from-page/#', { qos: 1 });
    expect((await publish(dashboard.url, { topic: 'from-page/a', payload: 'hello', qos: 1 })).body).toEqual({
      ok: true,
      session: 'dev-1',
    });
    const b64 = Buffer.from([1, 2, 3]).toString('base64');
    expect(
      (
        await publish(dashboard.url, {
          session: 'dev-0',
          topic: 'from-page/b',
          payload: b64,
          encoding: 'base64',
        })
      ).status,
    ).toBe(200);
    const [a, b] = await got;
    expect(a.payload.toString()).toBe('hello');
    expect([...b.payload]).toEqual([1, 2, 3]);
    for (const [body, field] of [
      [{ topic: 'a/#', payload: 'x' }, 'topic'],
      [{ topic: '', payload: 'x' }, 'topic'],
      [{ topic: 'a', payload: 5 }, 'payload'],
      [{ topic: 'a', payload: 'x', qos: 3 }, 'qos'],
      [{ topic: 'a', payload: 'x', retain: 'yes' }, 'retain'],
      [{ topic: 'a', payload: 'x', encoding: 'hex' }, 'encoding'],
      [{ topic: 'a', payload: 'x', session: 'nobody' }, 'session'],
    ] as const) {
      const res = await publish(dashboard.url, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect(res.body.field, JSON.stringify(body)).toBe(field);
    }
    const notJson = await fetch(`${dashboard.url}api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'topic=a',
    });
    expect(notJson.status).toBe(415);
    const elsewhere = await publish(
      dashboard.url,
      { topic: 'a', payload: 'x' },
      { origin: 'http://evil.example' },
    );
    expect(elsewhere.status).toBe(403);
    expect((await get(`${dashboard.url}api/publish`)).status).toBe(405);
  });

  it('does not publish when publishing is off', async () => {
    const { dashboard } = await fleet(broker, 1, { publish: false });
    expect((await publish(dashboard.url, { topic: 'a', payload: 'x' })).status).toBe(403);
    const first = (await (
      await fetch(`${dashboard.url}api/snapshot`)
    ).json()) as import('../helpers/dashboard.js').Tick;
    expect(first.info).toMatchObject({ publish: false, publishers: [] });
  });

  it('asks for the token, by header, by query (then a cookie), and never shows it', async () => {
    const token = 'dash-secret-6f1c2a';
    const { dashboard } = await fleet(broker, 1, { token });
    expect(dashboard.url).not.toContain(token);
    const none = await get(`${dashboard.url}api/snapshot`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toContain('Bearer');
    expect((await get(dashboard.url)).status).toBe(401);
    expect((await get(`${dashboard.url}api/snapshot`, { authorization: 'Bearer wrong' })).status).toBe(401);
    expect((await get(`${dashboard.url}api/snapshot?token=wrong`)).status).toBe(401);
    const bearer = await get(`${dashboard.url}api/snapshot`, { authorization: `Bearer ${token}` });
    expect(bearer.status).toBe(200);
    expect(bearer.body).not.toContain(token);
    const query = await get(`${dashboard.url}?token=${token}&x=1`);
    expect(query.status).toBe(303);
    expect(query.headers.get('location')).toBe('/?x=1');
    const cookie = query.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    const withCookie = await get(`${dashboard.url}api/snapshot`, { cookie: cookie.split(';')[0] });
    expect(withCookie.status).toBe(200);
    // a wrong token in the query does not replace the cookie that let the request in
    const wrong = await get(`${dashboard.url}api/snapshot?token=wrong`, { cookie: cookie.split(';')[0] });
    expect(wrong.status).toBe(200);
    expect(wrong.headers.get('set-cookie')).toBeNull();
    // the redirect stays on this site, whatever the path
    const sneaky = await get(`${dashboard.url}.//evil.example/?token=${token}`);
    expect(sneaky.status).toBe(303);
    expect(sneaky.headers.get('location')).toMatch(/^\/(?!\/)/);
    await expect(openStream(dashboard.url)).rejects.toThrow(/401/);
    const stream = await openStream(dashboard.url, '', { authorization: `Bearer ${token}` });
    expect((await stream.until(() => true)).totals.sessions).toBe(1);
  });

  it('answers what is malformed with an error, never a crash', async () => {
    const { manager, dashboard } = await fleet(broker, 1);
    const raw = (line: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connect(dashboard.port, '127.0.0.1', () =>
          socket.end(`${line}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`),
        );
        let got = '';
        socket.on('data', (c) => {
          got += c.toString();
        });
        socket.on('end', () => resolve(got.split('\r\n')[0]));
        socket.on('error', reject);
      });
    expect(await raw('GET //[ HTTP/1.1')).toMatch(/ 400 /);
    expect(await raw('GET http://a:b HTTP/1.1')).toMatch(/ 400 /);
    // a body past the limit is refused before it is all read, and the answer arrives
    const big = await fetch(`${dashboard.url}api/publish`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'a', payload: 'x'.repeat(2 * 1024 * 1024) }),
    }).catch((err: Error) => err);
    expect(big instanceof Response ? big.status : big.message).toBe(413);
    // a payload whose fields are named after Object's own does not break the topic view
    const sub = manager.get('dev-0') as Session;
    await sub.subscribe('proto/#', { qos: 1 });
    const stream = await openStream(dashboard.url, 'view=topics&topic=proto%2Fx');
    await sub.publish('proto/x', '{"toString":1,"__proto__":2,"constructor":3,"valueOf":4}', { qos: 1 });
    const t = await stream.until((x) => x.topic?.count === 1);
    expect(JSON.stringify(t.topic?.series.fields)).toBe(
      '{"toString":[1],"__proto__":[2],"constructor":[3],"valueOf":[4]}',
    );
    // an Origin that is not a URL is refused, not a 500
    expect((await publish(dashboard.url, { topic: 'a', payload: 'x' }, { origin: 'not a url' })).status).toBe(
      403,
    );
    expect((await get(`${dashboard.url}api/snapshot`)).status).toBe(200);
  });

  it('on loopback without a token, answers only loopback host names (no DNS rebinding)', async () => {
    const { dashboard } = await fleet(broker, 1);
    const url = `${dashboard.url}api/snapshot`;
    expect(await getWithHost(url, `127.0.0.1:${dashboard.port}`)).toBe(200);
    expect(await getWithHost(url, `localhost:${dashboard.port}`)).toBe(200);
    expect(await getWithHost(url, `attacker.example:${dashboard.port}`)).toBe(403);
  });

  it('refuses options that are not valid, and a host beyond loopback without a token', async () => {
    const manager = closeAfter(new SessionManager());
    await expect(manager.serveDashboard({ host: '0.0.0.0' })).rejects.toThrow(/token: is required/);
    await expect(manager.serveDashboard({ port: 70000 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(manager.serveDashboard({ token: '' })).rejects.toThrow(/token/);
    await expect(manager.serveDashboard({ prot: 1 } as never)).rejects.toThrow(/did you mean 'port'/);
    const taken = await manager.serveDashboard({ port: 0 });
    await expect(manager.serveDashboard({ port: taken.port })).rejects.toThrow(/EADDRINUSE/);
  });

  it('closes with the manager', async () => {
    const manager = new SessionManager();
    manager.add({ name: 'a', url: broker.url });
    await manager.connectAll();
    const dashboard = await manager.serveDashboard({ port: 0, interval: 50 });
    const stream = await openStream(dashboard.url);
    await stream.until(() => true);
    await manager.close();
    await expect(stream.until(() => false)).rejects.toThrow(/ended/);
    await expect(fetch(`${dashboard.url}api/snapshot`)).rejects.toThrow();
    await expect(manager.serveDashboard()).rejects.toThrow(/closed/);
  });
});
