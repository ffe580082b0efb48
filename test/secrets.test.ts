/**
 * Secrets never reach `util.inspect` or `JSON.stringify`: every public
 * object (sessions connected, failed and refused, the manager and every
 * event payload it emits, stores, RPC, forwarders, channels, errors, the
 * resolved options) is made with planted secrets (URL userinfo, a `?token=`
 * query, the password option, a credentials hook's result, a JWT signing key
 * and its tokens, a TLS key and passphrase, a WebSocket header, MQTT 5
 * authentication data, a Redis password), and inspected at full depth with
 * hidden properties shown: none of the secrets may appear, as text or as
 * the bytes `util.inspect` prints for a Buffer or Uint8Array. The same
 * holds for every line the sessions and the manager log (the `logger`
 * option, at debug level), and for every span they make (an OpenTelemetry
 * tracer provider is registered for the whole file).
 */
import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  BatchChannel,
  ClosedError,
  ConfigError,
  ConnectionError,
  DecodeError,
  DroppedError,
  EncodeError,
  FileStore,
  FileStoreError,
  FleetConnectError,
  InvalidArgumentError,
  jwtCredentials,
  MemoryStore,
  MqttError,
  ProtocolError,
  parseFleetConfig,
  QueueChannel,
  RedisStore,
  RejectedError,
  RpcClient,
  RpcError,
  RpcServer,
  Session,
  SessionManager,
  type SessionOptions,
  StoreError,
  TimeoutError,
} from '../src/index.js';
import { closeAfter, onCleanup } from './helpers/cleanup.js';
import { startFakeBroker } from './helpers/fake-broker.js';
import { capture } from './helpers/log-capture.js';
import { registerOtel } from './helpers/otel.js';
import { hasRedis, startRedis } from './helpers/redis.js';
import { removeTempDirs, tempDir } from './store/file-helpers.js';

const URL_USER = 'urluser';
const URL_PASSWORD = 'UrlPassw0rd9f3a';
const TOKEN = 'QueryT0ken77b1';
const PASSWORD = 'OptPassw0rd5c2e';
const HOOK_PASSWORD = 'HookPassw0rd31d0';
const TLS_PASSPHRASE = 'TlsPassphrase4a1b2';
const WS_TOKEN = 'WsHeaderT0ken8d8d';
const AUTH_DATA = 'AuthDataS3cret0e0e';
const REDIS_PASSWORD = 'RedisPassw0rde4f5';

const jwtKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
  type: 'pkcs8',
  format: 'pem',
}) as string;
const tlsKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({
  type: 'pkcs8',
  format: 'pem',
  cipher: 'aes-256-cbc',
  passphrase: TLS_PASSPHRASE,
}) as string;
/** JWTs the credentials hook handed out. */
const tokens: string[] = [];

/** A slice of a PEM's body: enough to recognise the key. */
function pemBody(pem: string): string {
  const body = pem.split('\n').slice(1, -2).join('');
  return body.slice(10, 50);
}

/** Every form in which `util.inspect` or JSON could show a secret: text, hex and decimal bytes, base64. */
function forms(secret: string): string[] {
  const bytes = Buffer.from(secret);
  const head = [...bytes.subarray(0, 8)];
  return [
    secret,
    encodeURIComponent(secret),
    bytes.toString('base64').slice(0, 12),
    head.map((b) => b.toString(16).padStart(2, '0')).join(' '),
    head.join(', '),
    JSON.stringify(head).slice(1, -1),
  ];
}

function secrets(): string[] {
  return [
    URL_PASSWORD,
    TOKEN,
    PASSWORD,
    HOOK_PASSWORD,
    TLS_PASSPHRASE,
    WS_TOKEN,
    AUTH_DATA,
    REDIS_PASSWORD,
    pemBody(jwtKey),
    pemBody(tlsKey),
    ...tokens.map((t) => t.split('.')[2]),
  ];
}

/** What `x` shows: `util.inspect` at full depth with hidden properties, and JSON where it has one. */
function shown(x: unknown): string {
  const parts = [inspect(x, { depth: Number.POSITIVE_INFINITY, showHidden: true }), inspect(x)];
  try {
    parts.push(JSON.stringify(x) ?? '');
  } catch {
    // circular: JSON.stringify shows nothing
  }
  return parts.join('\n');
}

function expectClean(what: string, x: unknown): void {
  const text = shown(x);
  for (const secret of secrets()) {
    for (const form of forms(secret)) {
      if (text.includes(form)) {
        throw new Error(`${what} shows the secret ${secret} (as '${form}'):\n${text.slice(0, 4000)}`);
      }
    }
  }
}

// every session of this file traces: its spans, attributes, events and statuses are checked last
const otel = registerOtel();

afterAll(removeTempDirs);
afterAll(() => otel.shutdown());

async function failure(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a failure');
}

describe('secrets are never shown by util.inspect or JSON.stringify', () => {
  it('sessions, their options, subscriptions and errors', async () => {
    const broker = await startFakeBroker({ autoConnack: true, autoAck: true });
    onCleanup(() => broker.close());
    const port = broker.port;
    // every session logs everything (debug included) here: no line may show a secret
    const log = capture();
    const withUrl = closeAfter(
      new Session({
        logger: log,
        url: `mqtt://${URL_USER}:${URL_PASSWORD}@127.0.0.1:${port}/?token=${TOKEN}`,
        keepalive: 0,
      }),
    );
    const withPassword = closeAfter(
      new Session({
        logger: log,
        url: `mqtt://127.0.0.1:${port}`,
        username: 'u',
        password: Buffer.from(PASSWORD),
        authenticationMethod: 'SCRAM-SHA-1',
        authenticationData: Buffer.from(AUTH_DATA),
        keepalive: 0,
      }),
    );
    const withHook = closeAfter(
      new Session({
        logger: log,
        url: `mqtt://127.0.0.1:${port}`,
        credentials: () => ({ username: 'u', password: HOOK_PASSWORD }),
        keepalive: 0,
      }),
    );
    const jwt = jwtCredentials({ algorithm: 'ES256', privateKey: jwtKey, audience: 'broker' });
    const withJwt = closeAfter(
      new Session({
        logger: log,
        url: `mqtt://127.0.0.1:${port}`,
        credentials: async () => {
          const c = await jwt();
          tokens.push(c.password);
          return c;
        },
        keepalive: 0,
      }),
    );
    await Promise.all([withUrl.connect(), withHook.connect(), withJwt.connect()]);
    expect(tokens).toHaveLength(1);
    const sub = await withUrl.subscribe('s/#', { qos: 1 }, () => {});
    const stream = withUrl.messages('s/#');

    // failed and refused connections: over TLS with a key, over WebSocket with a token, and a CONNACK refusal
    const tls = closeAfter(
      new Session({
        logger: log,
        url: `mqtts://${URL_USER}:${URL_PASSWORD}@127.0.0.1:1/?token=${TOKEN}`,
        tls: { key: tlsKey, passphrase: TLS_PASSPHRASE, rejectUnauthorized: false },
        reconnect: false,
      }),
    );
    const ws = closeAfter(
      new Session({
        logger: log,
        url: `ws://${URL_USER}:${URL_PASSWORD}@127.0.0.1:${port}/mqtt?token=${TOKEN}`,
        ws: { headers: { Authorization: `Bearer ${WS_TOKEN}` } },
        reconnect: false,
        connectTimeout: 5000,
      }),
    );
    const refusing = await startFakeBroker({
      onPacket: (p, conn) => {
        if (p.type === 'connect') conn.send({ type: 'connack', sessionPresent: false, reasonCode: 0x86 });
      },
    });
    onCleanup(() => refusing.close());
    const refused = closeAfter(
      new Session({
        logger: log,
        url: `mqtt://${URL_USER}:${URL_PASSWORD}@127.0.0.1:${refusing.port}/?token=${TOKEN}`,
      }),
    );
    const silent = await startFakeBroker({});
    onCleanup(() => silent.close());
    const timedOut = closeAfter(
      new Session({
        logger: log,
        url: `mqtt://${URL_USER}:${URL_PASSWORD}@127.0.0.1:${silent.port}/?token=${TOKEN}`,
        password: PASSWORD,
        connectTimeout: 300,
      }),
    );
    const errors: Error[] = await Promise.all([
      failure(tls.connect()),
      failure(ws.connect()),
      failure(refused.connect()),
      failure(timedOut.connect()),
      failure(withPassword.connect({ signal: AbortSignal.abort() })),
    ]);
    expect(errors[0]).toBeInstanceOf(ConnectionError);
    expect(errors[1]).toBeInstanceOf(ConnectionError);
    expect((errors[2] as ConnectionError).reasonCode).toBe(0x86);
    expect(errors[3]).toBeInstanceOf(TimeoutError);
    expect(errors[4]).toBeInstanceOf(AbortError);
    // options refused: a URL that does not parse, a key given where an object goes
    for (const bad of [
      { url: `mqtt://${URL_USER}:${URL_PASSWORD}@127.0.0.1:99999/?token=${TOKEN}` },
      { url: 'mqtt://h', tls: tlsKey },
      { url: 'mqtt://h', password: { p: PASSWORD } },
      { url: 'mqtt://h', username: PASSWORD, passwrd: PASSWORD },
    ]) {
      try {
        new Session(bad as unknown as SessionOptions);
      } catch (err) {
        errors.push(err as Error);
      }
    }
    expect(errors).toHaveLength(9);

    const sessions = { withUrl, withPassword, withHook, withJwt, tls, ws, refused, timedOut };
    for (const [name, s] of Object.entries(sessions)) {
      expectClean(name, s);
      expectClean(`${name}'s resolved options`, (s as unknown as { options: unknown }).options);
    }
    expectClean('a subscription', sub);
    // traced: a publish from a session whose URL holds secrets (the broker is a fake: nothing comes back)
    await withUrl.publish('s/1', 'x', { qos: 1 });
    await Promise.all(Object.values(sessions).map((x) => x.close()));
    expect(log.lines.filter((l) => l.msg === 'connected')).toHaveLength(3);
    expect(log.lines.some((l) => l.msg === 'connection attempt failed')).toBe(true);
    expectClean('the log lines of every session', log.lines);
    expectClean('a message stream', stream);
    for (const [i, e] of errors.entries()) expectClean(`error ${i} (${e.name}: ${e.message})`, e);
  });

  it('the manager and every event payload it emits', async () => {
    const broker = await startFakeBroker({ autoConnack: true, autoAck: true });
    onCleanup(() => broker.close());
    const managerLog = capture();
    const m = new SessionManager({ logger: managerLog });
    onCleanup(() => m.close({ timeout: 0 }));
    const payloads: [string, unknown][] = [];
    for (const event of [
      'session_added',
      'session_removed',
      'session_connecting',
      'session_connected',
      'session_ready',
      'session_disconnected',
      'session_reconnecting',
      'session_state_changed',
      'session_error',
    ] as const) {
      m.on(event, (e: unknown) => payloads.push([event, e]));
    }
    m.add({
      name: 'a',
      url: `mqtt://${URL_USER}:${URL_PASSWORD}@127.0.0.1:${broker.port}/?token=${TOKEN}`,
      keepalive: 0,
    });
    m.add({
      name: 'b',
      url: `mqtt://127.0.0.1:${broker.port}`,
      username: 'u',
      password: PASSWORD,
      keepalive: 0,
    });
    m.add({
      name: 'dead',
      url: `mqtt://${URL_USER}:${URL_PASSWORD}@127.0.0.1:1/?token=${TOKEN}`,
      password: PASSWORD,
      reconnect: false,
    });
    const fleetError = await failure(m.connectAll());
    expect(fleetError).toBeInstanceOf(FleetConnectError);
    const forwarder = m.forward({ name: 'f', from: 'a', to: 'b', topics: 'x/#' });
    await m.remove('dead');
    expect(payloads.map(([e]) => e)).toContain('session_added');
    expect(payloads.map(([e]) => e)).toContain('session_connected');
    for (const [event, payload] of payloads) expectClean(`a ${event} payload`, payload);
    expectClean('the FleetConnectError', fleetError);
    expect(managerLog.lines.some((l) => l.fields.session === 'b' && l.msg === 'connected')).toBe(true);
    expectClean("the manager's and its sessions' log lines", managerLog.lines);
    expectClean('the manager', m);
    expectClean('a forwarder', forwarder);

    // a fleet config that fails: its error names fields, never values
    const config = await failure(
      parseFleetConfig(
        [
          'sessions:',
          '  - name: a',
          `    url: mqtt://${URL_USER}:${URL_PASSWORD}@h:1/?token=${TOKEN}`,
          `    password: ${PASSWORD}`,
          `    tls: { passphrase: ${TLS_PASSPHRASE}, ca: ${WS_TOKEN} }`,
          `    keepalive: ${AUTH_DATA}`,
        ].join('\n'),
        'yaml',
      ),
    );
    expect(config).toBeInstanceOf(ConfigError);
    expectClean('a ConfigError', config);
  });

  it('RPC, channels, stores and every error class', async () => {
    const broker = await startFakeBroker({ autoConnack: true, autoAck: true });
    onCleanup(() => broker.close());
    const dir = tempDir('secrets');
    const file = new FileStore(dir);
    const memory = new MemoryStore();
    const s = closeAfter(
      new Session({
        url: `mqtt://${URL_USER}:${URL_PASSWORD}@127.0.0.1:${broker.port}/?token=${TOKEN}`,
        store: file,
        clean: false,
        clientId: 'secret-holder',
        keepalive: 0,
      }),
    );
    await s.connect();
    await s.publish('p', 'x', { qos: 1 });
    const rpc = new RpcClient(s);
    await rpc.start();
    const server = new RpcServer(s);
    const batch = new BatchChannel(s, 'batch/t');
    const queue = new QueueChannel(s, 'queue/t');
    onCleanup(() => rpc.close());
    onCleanup(() => server.stop());
    onCleanup(() => batch.close());
    onCleanup(() => queue.close());
    const deadRedis = new RedisStore({ url: `redis://:${REDIS_PASSWORD}@127.0.0.1:1` });
    const redisError = await failure(deadRedis.load('x'));
    await deadRedis.close();
    for (const [name, x] of Object.entries({
      rpc,
      server,
      batch,
      queue,
      file,
      memory,
      deadRedis,
      redisError,
    })) {
      expectClean(name, x);
    }
    const produced = [
      new AbortError('aborted'),
      new ClosedError(),
      new DecodeError('bad', 0x81),
      new DroppedError('dropped', 'attempts'),
      new EncodeError('topic', 'bad'),
      new InvalidArgumentError('password', 'bad'),
      new MqttError('ERR_MQTT_HANDLER', 'x'),
      new ProtocolError('bad'),
      new RejectedError('no', 0x87),
      new RpcError(500, 'failed'),
      new StoreError('failed'),
      new FileStoreError('write', '/tmp/x', new Error('ENOSPC')),
    ];
    for (const e of produced) expectClean(e.name, e);
  });

  it.skipIf(!hasRedis())('a RedisStore with a password in its URL, in use by a session', async () => {
    const { redis, broker } = await redisWithPassword();
    const store = new RedisStore({ url: `redis://:${REDIS_PASSWORD}@127.0.0.1:${redis.port}` });
    onCleanup(() => store.close());
    const s = closeAfter(
      new Session({ url: broker.url, store, clean: false, clientId: 'redis-secret', keepalive: 0 }),
    );
    await s.connect();
    await s.publish('p', 'x', { qos: 1 });
    expectClean('a RedisStore', store);
    expectClean('its session', s);
    const wrong = new RedisStore({ url: `redis://:wrong-${REDIS_PASSWORD}@127.0.0.1:${redis.port}` });
    const err = await failure(wrong.load('x'));
    await wrong.close();
    expectClean('a RedisStore with a wrong password', wrong);
    expectClean('its error', err);
  });

  it.skipIf(!hasRedis())(
    'a cluster node on a Redis with a password: manager, status, metrics, events, errors',
    async () => {
      const { redis, broker } = await redisWithPassword();
      const dir = tempDir('secrets-cluster');
      const file = (name: string, port: number): string => {
        const path = join(dir, `${name}.yaml`);
        writeFileSync(
          path,
          [
            `cluster: { name: s, redis: "redis://:${REDIS_PASSWORD}@127.0.0.1:${port}", ttl: 1000, margin: 200 }`,
            `sessions: [{ name: dev, url: "${broker.url}", keepalive: 0, password: ${PASSWORD} }]`,
          ].join('\n'),
        );
        return path;
      };
      const m = await SessionManager.fromConfig(file('live', redis.port), { cluster: { node: 'n' } });
      onCleanup(() => m.close());
      const payloads: unknown[] = [];
      for (const event of ['session_acquired', 'node_joined', 'cluster_error'] as const)
        m.on(event, (e) => payloads.push(e));
      const acquired = once(m, 'session_acquired');
      await m.connectAll();
      await acquired;
      expectClean('a cluster manager', m);
      expectClean('its cluster', m.cluster);
      expectClean('its status', await m.cluster?.status());
      expectClean('its metrics', m.cluster?.metrics());
      for (const p of payloads) expectClean('a cluster event', p);

      // a Redis that is not there: what connectAll rejects with, and what the manager reports
      const dead = await SessionManager.fromConfig(file('dead', 1), { cluster: { node: 'n' } });
      const errors: unknown[] = [];
      dead.on('cluster_error', (e) => errors.push(e));
      const err = await failure(dead.connectAll());
      await dead.close();
      expectClean('the failed join', err);
      for (const e of errors) expectClean('a cluster_error', e);
    },
  );

  it('every span the sessions of this file made: names, attributes, events and statuses', () => {
    const spans = otel.spans();
    expect(spans.map((x) => x.name)).toContain('publish');
    expect(spans.some((x) => x.attributes['server.port'] !== undefined)).toBe(true);
    for (const x of spans) {
      const seen = {
        name: x.name,
        attributes: x.attributes,
        events: x.events,
        status: x.status,
        links: x.links,
      };
      expectClean(`the span ${x.name}`, seen);
    }
  });
});

/** A private redis-server that demands REDIS_PASSWORD, and a fake broker that accepts everything. */
async function redisWithPassword() {
  const redis = await startRedis();
  onCleanup(() => redis.stop());
  // the helper waits for PING without a password: the password is set once the server runs
  const admin = new Redis(redis.url);
  await admin.config('SET', 'requirepass', REDIS_PASSWORD);
  admin.disconnect();
  const broker = await startFakeBroker({ autoConnack: true, autoAck: true });
  onCleanup(() => broker.close());
  return { redis, broker };
}
