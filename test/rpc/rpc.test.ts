/**
 * RpcClient and RpcServer against a private mosquitto (MQTT 5), with MQTT.js
 * requesters and responders written the way people write them, and over
 * aedes with MQTT 3.1.1 (mqttkit's envelope).
 */
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  ClosedError,
  ErrorCode,
  InvalidArgumentError,
  MqttError,
  ProtocolError,
  RpcError,
  TimeoutError,
} from '../../src/core/errors.js';
import { RpcClient, RpcServer, RpcStatusError } from '../../src/rpc/index.js';
import { Session } from '../../src/session/index.js';
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

function client(s: Session, options?: ConstructorParameters<typeof RpcClient>[1]): RpcClient {
  return closeAfter(new RpcClient(s, options));
}

describe.skipIf(!hasMosquitto())('RPC over MQTT 5 through mosquitto', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('routes with named segments, answers JSON, and the client parses it', async () => {
    const srv = server(await session(broker.url));
    srv.route('api/devices/:id/get', (req) => ({ id: req.params.id, body: req.text(), topic: req.topic }));
    srv.route('api/devices/:id/set', (req) => ({ id: req.params.id, got: req.json() }));
    srv.route('api/raw', () => Buffer.from([1, 2, 3]));
    srv.route('api/empty', () => undefined);
    await srv.start();
    const c = client(await session(broker.url));
    const r = await c.request('api/devices/7/get', 'hello');
    expect(r.json()).toEqual({ id: '7', body: 'hello', topic: 'api/devices/7/get' });
    expect(r.properties?.contentType).toBe('application/json');
    expect(await c.requestJson('api/devices/9/set', { on: true })).toEqual({ id: '9', got: { on: true } });
    expect([...(await c.request('api/raw', '')).payload]).toEqual([1, 2, 3]);
    expect((await c.request('api/empty', '')).payload.length).toBe(0);
    expect(await c.requestJson('api/empty', null)).toBeUndefined();
    // a response that is not JSON is a typed error naming the request, not a bare SyntaxError
    const notJson = (await c.requestJson('api/raw', null).catch((e: unknown) => e)) as ProtocolError;
    expect(notJson).toBeInstanceOf(ProtocolError);
    expect(notJson.message).toMatch(/^the response to 'api\/raw' is not JSON: /);
    expect(c.responseTopic).toBe(`${c.session.clientId}/rpc/res`);
    // a second client on the same session gets its own topic, and neither sees the other's responses
    const c2 = client(c.session);
    const [x, y] = await Promise.all([
      c.request('api/devices/1/get', ''),
      c2.request('api/devices/2/get', ''),
    ]);
    expect([x.json(), y.json()]).toMatchObject([{ id: '1' }, { id: '2' }]);
    expect(c2.responseTopic).toBe(`${c.session.clientId}/rpc/res/2`);
    expect([c.metrics().unmatched, c2.metrics().unmatched]).toEqual([0, 0]);
  });

  it('RpcStatusError is an MqttError (ERR_MQTT_RPC) with its status', () => {
    const e = new RpcStatusError(404, 'no such device');
    expect(e).toBeInstanceOf(MqttError);
    expect(e).toMatchObject({
      code: ErrorCode.Rpc,
      status: 404,
      message: 'no such device',
      name: 'RpcStatusError',
    });
  });

  it('turns thrown errors into error responses with status and message, never the stack', async () => {
    const srv = server(await session(broker.url));
    srv.route('e/plain', () => {
      throw new Error('it broke');
    });
    srv.route('e/status', () => {
      throw new RpcStatusError(404, 'no such device');
    });
    srv.route('e/async', async () => {
      throw Object.assign(new Error('teapot'), { status: 418 });
    });
    srv.route('e/json', (req) => req.json());
    srv.route('e/undefined', () => Promise.reject(undefined));
    await srv.start();
    const c = client(await session(broker.url));
    const fail = (topic: string, payload = ''): Promise<RpcError> =>
      c.request(topic, payload).then(
        () => new RpcError(0, 'unexpected success'),
        (e: unknown) => e as RpcError,
      );
    const plain = await fail('e/plain');
    expect(plain).toBeInstanceOf(RpcError);
    expect([plain.status, plain.message]).toEqual([500, 'it broke']);
    expect([(await fail('e/status')).status, (await fail('e/status')).message]).toEqual([
      404,
      'no such device',
    ]);
    expect((await fail('e/async')).status).toBe(418);
    expect((await fail('e/json', '{nope')).status).toBe(400);
    expect((await fail('e/undefined')).status).toBe(500);
    expect(srv.metrics()).toMatchObject({ failed: 6, succeeded: 0 });
    // what an MQTT.js requester sees: user properties and a JSON payload, no stack
    const raw = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    onCleanup(() => raw.endAsync());
    await raw.subscribeAsync('raw/res', { qos: 1 });
    const got = new Promise<mqtt.IPublishPacket>((resolve) =>
      raw.once('message', (_t, _p, packet) => resolve(packet)),
    );
    await raw.publishAsync('e/plain', 'x', {
      qos: 1,
      properties: { responseTopic: 'raw/res', correlationData: Buffer.from('c1') },
    });
    const packet = await got;
    expect(packet.properties?.userProperties).toEqual({ status: '500', error: 'it broke' });
    expect(JSON.parse(packet.payload.toString())).toEqual({ error: 'it broke', status: 500 });
    expect(packet.payload.toString()).not.toMatch(/at .*\.ts/);
  });

  it('answers an MQTT.js requester that uses Response Topic and Correlation Data', async () => {
    const srv = server(await session(broker.url));
    srv.route('svc/echo', (req) => `echo:${req.text()}`);
    await srv.start();
    const js = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    onCleanup(() => js.endAsync());
    await js.subscribeAsync('js/responses', { qos: 1 });
    const pending = new Map<string, (payload: string) => void>();
    js.on('message', (_t, payload, packet) => {
      const id = packet.properties?.correlationData?.toString();
      if (id !== undefined) pending.get(id)?.(payload.toString());
    });
    const ask = (i: number) =>
      new Promise<string>((resolve) => {
        pending.set(`${i}`, resolve);
        js.publish('svc/echo', `m${i}`, {
          qos: 1,
          properties: { responseTopic: 'js/responses', correlationData: Buffer.from(`${i}`) },
        });
      });
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => ask(i)));
    expect(answers).toEqual(Array.from({ length: 50 }, (_, i) => `echo:m${i}`));
  });

  it('calls an MQTT.js responder written the usual way', async () => {
    const js: MqttClient = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    onCleanup(() => js.endAsync());
    await js.subscribeAsync('jsvc/upper', { qos: 1 });
    js.on('message', (_t, payload, packet) => {
      const p = packet.properties;
      if (p?.responseTopic === undefined) return;
      js.publish(p.responseTopic, payload.toString().toUpperCase(), {
        qos: 1,
        properties: { correlationData: p.correlationData },
      });
    });
    const c = client(await session(broker.url));
    const results = await Promise.all(['a', 'b', 'c'].map((x) => c.request('jsvc/upper', x)));
    expect(results.map((r) => r.text())).toEqual(['A', 'B', 'C']);
  });

  it("sends request user properties given in MQTT.js's shape; an MQTT.js responder's come back as pairs", async () => {
    const js: MqttClient = await mqtt.connectAsync(broker.url, { protocolVersion: 5, reconnectPeriod: 0 });
    onCleanup(() => js.endAsync());
    await js.subscribeAsync('jsvc/props', { qos: 1 });
    js.on('message', (_t, _payload, packet) => {
      const p = packet.properties;
      if (p?.responseTopic === undefined) return;
      js.publish(p.responseTopic, JSON.stringify(p.userProperties), {
        qos: 1,
        properties: { correlationData: p.correlationData, userProperties: { tag: ['r1', 'r2'], by: 'js' } },
      });
    });
    const c = client(await session(broker.url));
    const r = await c.request('jsvc/props', '', {
      properties: { userProperties: { trace: 'abc', tag: ['x', 'y'] } },
    });
    expect(r.json()).toEqual({ trace: 'abc', tag: ['x', 'y'] });
    expect(r.properties?.userProperties).toEqual([
      ['tag', 'r1'],
      ['tag', 'r2'],
      ['by', 'js'],
    ]);
    const bad = await c
      .request('jsvc/props', '', { properties: { userProperties: { n: 1 } } } as never)
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(InvalidArgumentError);
    expect((bad as Error).message).toMatch(/^options\.properties\.userProperties\.n: /);
  });

  it('resolves 10,000 concurrent requests on one client, each with its own response', async () => {
    const srv = server(await session(broker.url), { concurrency: 1000 });
    srv.route('many/:i', (req) => req.params.i);
    await srv.start();
    const c = client(await session(broker.url));
    const n = 10_000;
    const res = await Promise.all(Array.from({ length: n }, (_, i) => c.request(`many/${i}`, '')));
    expect(res.every((r, i) => r.text() === String(i))).toBe(true);
    expect(c.metrics()).toMatchObject({ pending: 0, sent: n, received: n, unmatched: 0 });
  }, 60_000);

  it('leaves nothing pending after a timeout, an abort, a refused publish or close', async () => {
    const c = client(await session(broker.url));
    await expect(c.request('nobody/home', 'x', { timeout: 150 })).rejects.toThrow(TimeoutError);
    const ac = new AbortController();
    const aborted = c.request('nobody/home', 'x', { signal: ac.signal, timeout: 0 });
    ac.abort();
    await expect(aborted).rejects.toThrow(AbortError);
    await expect(c.request('bad/+/topic', 'x')).rejects.toThrow(InvalidArgumentError);
    const left = c.request('nobody/home', 'x', { timeout: 0 }).catch((e: unknown) => e);
    expect(c.metrics().pending).toBe(1);
    await c.close();
    expect(await left).toBeInstanceOf(ClosedError);
    expect(c.metrics()).toMatchObject({ pending: 0, timeouts: 1 });
    await expect(c.request('x', 'y')).rejects.toThrow(ClosedError);
  });

  it('never loses a response that arrives before the caller awaits', async () => {
    const srv = server(await session(broker.url));
    srv.route('fast', () => 'quick');
    await srv.start();
    const c = client(await session(broker.url));
    await c.start();
    const p = c.request('fast', '');
    // let the response arrive and settle before anyone awaits the promise
    await expect.poll(() => c.metrics().received).toBe(1);
    expect((await p).text()).toBe('quick');
  });

  it('queues past the concurrency limit and answers 503 past the queue', async () => {
    const srv = server(await session(broker.url), { concurrency: 2, maxQueue: 3, timeout: 0 });
    let running = 0;
    let most = 0;
    const release: (() => void)[] = [];
    srv.route('slow', async () => {
      most = Math.max(most, ++running);
      await new Promise<void>((resolve) => release.push(resolve));
      running--;
      return 'done';
    });
    await srv.start();
    const c = client(await session(broker.url));
    const slow = Array.from({ length: 6 }, () =>
      c.request('slow', '').then(
        (r) => r.text(),
        (e: RpcError) => e.status,
      ),
    );
    // 2 run, 3 wait, the 6th is refused at once
    expect(await slow[5]).toBe(503);
    expect(srv.metrics()).toMatchObject({ active: 2, queued: 3 });
    for (let i = 0; i < 5; i++) {
      await expect.poll(() => release.length).toBeGreaterThan(0);
      release.shift()?.();
    }
    expect(await Promise.all(slow.slice(0, 5))).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(most).toBe(2);
  });

  it('answers 504 when a handler takes too long, and aborts its signal', async () => {
    const srv = server(await session(broker.url), { timeout: 200 });
    let aborted = false;
    srv.route(
      'hang',
      (req) =>
        new Promise((_, reject) =>
          req.signal.addEventListener('abort', () => {
            aborted = true;
            reject(req.signal.reason);
          }),
        ),
    );
    await srv.start();
    const c = client(await session(broker.url));
    const hung = (await c.request('hang', '').catch((e: unknown) => e)) as RpcError;
    expect([hung.status, hung.message]).toEqual([504, 'the handler did not answer within 200 ms']);
    expect(aborted).toBe(true);
  });

  it('frees the slot of a handler that never settles, and answers 500 for a result that cannot be sent', async () => {
    const srv = server(await session(broker.url), { concurrency: 1, timeout: 200 });
    srv.route('never', () => new Promise(() => {}));
    srv.route('ok', () => 'fine');
    srv.route('bigint', () => ({ n: 1n }));
    await srv.start();
    const c = client(await session(broker.url));
    const stuck = c.request('never', '').catch((e: RpcError) => e.status);
    const next = c.request('ok', ''); // queued behind it: must get the slot after the timeout
    expect(await stuck).toBe(504);
    expect((await next).text()).toBe('fine');
    const big = (await c.request('bigint', '').catch((e: unknown) => e)) as RpcError;
    expect(big.status).toBe(500);
    expect(big.message).toMatch(/cannot be sent/);
    await srv.stop(); // does not wait for the handler that never settles
  });

  it('runs middleware around handlers, handles requests without a response topic, and stops after in-flight ones', async () => {
    const own = await session(broker.url);
    const srv = server(own);
    const log: string[] = [];
    srv.use(async (req, next) => {
      log.push(`in ${req.topic}`);
      const r = await next();
      log.push(`out ${req.topic}`);
      return r;
    });
    let finish!: () => void;
    const gate = new Promise<void>((resolve) => {
      finish = resolve;
    });
    let fireAndForget = 0;
    srv.route('mw/x', () => 'x');
    srv.route('mw/notify', () => {
      fireAndForget++;
    });
    srv.route('mw/slow', async () => {
      await gate;
      return 'late';
    });
    await srv.start();
    const s = await session(broker.url);
    const c = client(s);
    expect((await c.request('mw/x', '')).text()).toBe('x');
    expect(log).toEqual(['in mw/x', 'out mw/x']);
    await s.publish('mw/notify', 'no reply wanted', { qos: 1 });
    await expect.poll(() => fireAndForget).toBe(1);
    expect(srv.metrics().unanswered).toBe(1);
    const slow = c.request('mw/slow', '');
    await expect.poll(() => srv.metrics().active).toBe(1);
    const stopped = srv.stop();
    let done = false;
    void stopped.then(() => {
      done = true;
    });
    // stop() unsubscribes first: a PUBACK on the server's session comes after those UNSUBACKs, and
    // a turn later all stop() does without waiting for the handler is done
    await own.publish('mw/marker', '', { qos: 1 });
    await new Promise((r) => setImmediate(r));
    expect(done).toBe(false);
    finish();
    await stopped;
    expect((await slow).text()).toBe('late');
  });

  it('can start again after a start that failed', async () => {
    const s = closeAfter(new Session({ url: broker.url }));
    const srv = server(s);
    srv.route('again', () => 'yes');
    await expect(srv.start()).rejects.toThrow(/connect\(\) first/);
    await s.connect();
    await srv.start();
    const c = client(await session(broker.url));
    expect((await c.request('again', '')).text()).toBe('yes');
  });

  it('refuses bad routes and options with the field named', async () => {
    const s = await session(broker.url);
    const srv = new RpcServer(s);
    expect(() => srv.route('a/#/b', () => 1)).toThrow(/pattern/);
    expect(() => srv.route('a/:1x', () => 1)).toThrow(/parameter name/);
    expect(() => srv.route('a', 5 as never)).toThrow(/handler/);
    expect(() => new RpcServer(s, { group: 'a/b' })).toThrow(/options.group/);
    expect(() => new RpcClient(s, { responseTopic: 'r/#' })).toThrow(/options.responseTopic/);
    expect(() => new RpcClient(s, { timeout: -1 })).toThrow(/options.timeout/);
  });
});

describe('RPC over MQTT 3.1.1 (mqttkit envelope) through aedes', () => {
  let broker: AedesBroker;
  beforeAll(async () => {
    broker = await startAedes();
  });
  afterAll(async () => {
    await broker?.stop();
  });

  it('requests, answers, errors and params work without MQTT 5 properties', async () => {
    const srv = server(await session(broker.url, 4));
    srv.route('v4/:name/hello', (req) => ({ hello: req.params.name, type: req.properties?.contentType }));
    srv.route('v4/fail', () => {
      throw new RpcStatusError(403, 'forbidden');
    });
    await srv.start();
    const c = client(await session(broker.url, 4));
    expect(await c.requestJson('v4/ada/hello', { x: 1 })).toEqual({ hello: 'ada', type: 'application/json' });
    const err = (await c.request('v4/fail', '').catch((e: unknown) => e)) as RpcError;
    expect([err.status, err.message]).toEqual([403, 'forbidden']);
    const many = await Promise.all(Array.from({ length: 500 }, (_, i) => c.request(`v4/n${i}/hello`, '')));
    expect(many.every((r, i) => (r.json() as { hello: string }).hello === `n${i}`)).toBe(true);
    expect(c.metrics().pending).toBe(0);
  });
});
