import { generateKeyPairSync } from 'node:crypto';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MqttError } from '../../src/core/errors.js';
import { Forwarder } from '../../src/forward/forwarder.js';
import {
  ConfigError,
  type FleetConfig,
  loadFleetConfig,
  parseFleetConfig,
} from '../../src/manager/config.js';
import { SessionManager } from '../../src/manager/manager.js';
import type { ManagedSessionOptions, ManagerEvents } from '../../src/manager/types.js';
import { Session } from '../../src/session/session.js';
import { FileStore } from '../../src/store/file.js';
import { MemoryStore } from '../../src/store/memory.js';
import { dirs, installExitHook } from '../helpers/binaries.js';
import { closeAfter, onCleanup } from '../helpers/cleanup.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { startTcpServer } from '../helpers/tcp-server.js';

installExitHook();
const root = mkdtempSync(join(tmpdir(), 'mqttkit-config-'));
dirs.add(root);
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  dirs.delete(root);
});

let counter = 0;
/** A fresh directory under `root` holding `files`. */
function folder(files: Record<string, string> = {}): string {
  const dir = join(root, `case-${++counter}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

const CA = '-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----\n';
const CERT = '-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----\n';
const KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  .privateKey.export({ type: 'pkcs8', format: 'pem' })
  .toString();
const PASSWORD = 'S3cr3t-pa55word-that-must-not-leak';
const ENV = { MQTT_USER: 'gw-user', MQTT_PASSWORD: PASSWORD };

const FLEET_YAML = `
concurrency: 20
defaults:
  keepalive: 30
  reconnect: { initialDelay: 500, maxDelay: 30000 }
  offlineQueue: { maxMessages: 500 }
sessions:
  - name: plant-a
    url: mqtts://broker:8883
    clientId: gw-a
    protocolVersion: 5
    username: \${MQTT_USER}
    password: \${MQTT_PASSWORD}
    clean: false
    sessionExpiry: 3600
    keepalive: 60
    connectTimeout: 5000
    operationTimeout: 0
    receiveMaximum: 100
    maximumPacketSize: 65536
    topicAliasMaximum: 10
    topicAliases: false
    requestResponseInformation: true
    messageBuffer: 50
    userProperties: { site: a, line: 3, tag: [x, 7] }
    tls: { ca: ./ca.pem, cert: ./client.pem, key: ./client.key, rejectUnauthorized: true, servername: broker }
    store: { type: file, dir: ./state, fsync: batch }
    offlineQueue: { maxBytes: 1048576, overflow: drop-oldest, qos0: false }
    will: { topic: plant/a/status, payload: bye, qos: 1, retain: false }
    subscriptions:
      - { filter: plant/a/#, qos: 1 }
      - filter: cmd/a
  - name: plant-b
    url: [mqtt://a.example, 'ws://b.example/mqtt']
    protocolVersion: "3.1.1"
    reconnect: false
    store: { type: memory }
  - name: plant-c
    url: mqtt://c.example
    reconnect: { factor: 3 }
    store: { type: file, dir: state }
`;

/** Constructs a Session from each loaded session, as the manager will. */
function constructAll(config: FleetConfig): Session[] {
  return config.sessions.map((s: ManagedSessionOptions) => {
    const { name: _name, subscriptions: _subscriptions, ...options } = s;
    return new Session(options);
  });
}

/** The ConfigError `promise` rejects with. */
async function configError(promise: Promise<unknown>): Promise<ConfigError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

/** The issues of parsing `yaml`, as `path: message` lines. */
async function problems(yaml: string, env: NodeJS.ProcessEnv = ENV, baseDir = root): Promise<string[]> {
  const err = await configError(parseFleetConfig(yaml, 'yaml', { env, baseDir }));
  return err.issues.map((i) => `${i.path}: ${i.message}`);
}

/** The issues of parsing `yaml`, as `line: path: message` lines. */
async function problemLines(yaml: string, env: NodeJS.ProcessEnv = ENV): Promise<string[]> {
  const err = await configError(parseFleetConfig(yaml, 'yaml', { env, baseDir: root }));
  return err.issues.map((i) => `${i.line}: ${i.path}: ${i.message}`);
}

/** Two sessions, then `forwarders` (YAML lines from `forwarders:` on: line 5 is the first entry). */
function withForwarders(...lines: string[]): string {
  return [
    'sessions:',
    '  - { name: plant, url: "mqtt://p" }',
    '  - { name: cloud, url: "mqtt://c" }',
    'forwarders:',
    ...lines,
    '',
  ].join('\n');
}

describe('loadFleetConfig', () => {
  it('loads a YAML fleet: defaults merged, variables replaced, files read, stores made', async () => {
    const dir = folder({ 'fleet.yaml': FLEET_YAML, 'ca.pem': CA, 'client.pem': CERT, 'client.key': KEY });
    const config = await loadFleetConfig(join(dir, 'fleet.yaml'), { env: ENV });
    expect(config.manager).toEqual({ concurrency: 20 });
    expect(config.sessions.map((s) => s.name)).toEqual(['plant-a', 'plant-b', 'plant-c']);
    expect(config.forwarders).toEqual([]);
    const [a, b, c] = config.sessions;
    expect(a).toMatchObject({
      url: 'mqtts://broker:8883',
      clientId: 'gw-a',
      protocolVersion: 5,
      username: 'gw-user',
      password: PASSWORD,
      clean: false,
      sessionExpiry: 3600,
      keepalive: 60,
      connectTimeout: 5000,
      operationTimeout: 0,
      receiveMaximum: 100,
      maximumPacketSize: 65536,
      topicAliasMaximum: 10,
      topicAliases: false,
      requestResponseInformation: true,
      messageBuffer: 50,
      userProperties: [
        ['site', 'a'],
        ['line', '3'],
        ['tag', 'x'],
        ['tag', '7'],
      ],
      reconnect: { initialDelay: 500, maxDelay: 30000 },
      offlineQueue: { maxMessages: 500, maxBytes: 1048576, overflow: 'drop-oldest', qos0: false },
      will: { topic: 'plant/a/status', payload: 'bye', qos: 1, retain: false },
      subscriptions: [{ filter: 'plant/a/#', qos: 1 }, { filter: 'cmd/a' }],
    });
    expect(a.tls).toEqual({
      ca: Buffer.from(CA),
      cert: Buffer.from(CERT),
      key: Buffer.from(KEY),
      rejectUnauthorized: true,
      servername: 'broker',
    });
    expect(a.store).toBeInstanceOf(FileStore);
    expect((a.store as FileStore).dir).toBe(join(dir, 'state'));
    expect(b).toMatchObject({
      url: ['mqtt://a.example', 'ws://b.example/mqtt'],
      protocolVersion: 4,
      keepalive: 30,
      reconnect: false,
    });
    expect(b.store).toBeInstanceOf(MemoryStore);
    expect(c.reconnect).toEqual({ initialDelay: 500, maxDelay: 30000, factor: 3 });
    // the same file store settings share one store
    expect(c.store).toBe(a.store);
    const sessions = constructAll(config);
    expect(sessions.map((s) => s.protocolVersion)).toEqual([5, 4, 5]);
    expect(sessions[0].clientId).toBe('gw-a');
  });

  it('loads the same fleet from JSON', async () => {
    const fleet = {
      concurrency: 5,
      defaults: { url: 'mqtt://broker:1883', tls: { ca: './ca.pem' } },
      sessions: [
        { name: 'a', clientId: 'a', tls: { servername: 'x' }, protocolVersion: '5.0' },
        { name: 'b', url: ['mqtt://b1', 'mqtt://b2'], userProperties: [['k', 'v']], keepalive: '15' },
      ],
    };
    const dir = folder({ 'fleet.json': JSON.stringify(fleet, null, 2), 'ca.pem': CA });
    const config = await loadFleetConfig(join(dir, 'fleet.json'), { env: {} });
    expect(config.manager).toEqual({ concurrency: 5 });
    expect(config.sessions[0]).toEqual({
      name: 'a',
      clientId: 'a',
      url: 'mqtt://broker:1883',
      protocolVersion: 5,
      tls: { ca: Buffer.from(CA), servername: 'x' },
    });
    expect(config.sessions[1]).toMatchObject({
      url: ['mqtt://b1', 'mqtt://b2'],
      userProperties: [['k', 'v']],
      keepalive: 15,
      tls: { ca: Buffer.from(CA) },
    });
    // one read per file, shared
    expect(config.sessions[1].tls?.ca).toBe(config.sessions[0].tls?.ca);
    constructAll(config);
  });

  it('keeps a user property named __proto__ in a map, in YAML and JSON (a plain record would make it the prototype)', async () => {
    const yaml = await parseFleetConfig(
      'sessions:\n  - { name: a, url: "mqtt://h", userProperties: { "__proto__": x, a: b, t: [1, "2"] } }\n',
      'yaml',
      { env: {} },
    );
    expect(yaml.sessions[0].userProperties).toEqual([
      ['__proto__', 'x'],
      ['a', 'b'],
      ['t', '1'],
      ['t', '2'],
    ]);
    const json = await parseFleetConfig(
      '{"sessions":[{"name":"a","url":"mqtt://h","userProperties":{"__proto__":["x","y"],"a":"b"}}]}',
      'json',
      { env: {} },
    );
    expect(json.sessions[0].userProperties).toEqual([
      ['__proto__', 'x'],
      ['__proto__', 'y'],
      ['a', 'b'],
    ]);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('merges defaults under every session: objects field by field, the rest replaced', async () => {
    const config = await parseFleetConfig(
      `
defaults:
  url: mqtt://shared
  keepalive: 30
  clean: false
  reconnect: { initialDelay: 100, maxDelay: 1000 }
  offlineQueue: { maxMessages: 10, overflow: reject }
  tls: { servername: shared, rejectUnauthorized: false }
  ws: { protocol: mqttv5 }
  userProperties: { a: "1" }
sessions:
  - name: one
  - name: two
    keepalive: 5
    reconnect: { maxDelay: 9000 }
    offlineQueue: { overflow: drop-newest }
    tls: { rejectUnauthorized: true }
    userProperties: { b: "2" }
  - name: three
    reconnect: false
    url: [mqtt://own]
`,
      'yaml',
      { env: {} },
    );
    const [one, two, three] = config.sessions;
    expect(one).toEqual({
      name: 'one',
      url: 'mqtt://shared',
      keepalive: 30,
      clean: false,
      reconnect: { initialDelay: 100, maxDelay: 1000 },
      offlineQueue: { maxMessages: 10, overflow: 'reject' },
      tls: { servername: 'shared', rejectUnauthorized: false },
      ws: { protocol: 'mqttv5' },
      userProperties: [['a', '1']],
    });
    expect(two).toMatchObject({
      keepalive: 5,
      reconnect: { initialDelay: 100, maxDelay: 9000 },
      offlineQueue: { maxMessages: 10, overflow: 'drop-newest' },
      tls: { servername: 'shared', rejectUnauthorized: true },
      userProperties: [['b', '2']],
    });
    expect(three).toMatchObject({ reconnect: false, url: ['mqtt://own'] });
    // merging copied: the sessions share no objects from defaults
    expect(one.reconnect).not.toBe(two.reconnect);
    constructAll(config);
  });

  it('replaces variables, with or without a default, from the environment', async () => {
    const config = await parseFleetConfig(
      `
sessions:
  - name: \${SITE}-gw
    url: mqtt://\${HOST:-localhost}:\${PORT:-1883}
    username: \${EMPTY:-fallback}
    password: \${EMPTY}
    keepalive: \${KEEPALIVE}
    clean: \${CLEAN}
    clientId: literal-$\${NOT_A_VAR}
    will: { topic: "sites/\${SITE}/status", payload: "\${SITE} gone" }
`,
      'yaml',
      { env: { SITE: 'north', PORT: '1884', EMPTY: '', KEEPALIVE: '25', CLEAN: 'false' } },
    );
    expect(config.sessions[0]).toMatchObject({
      name: 'north-gw',
      url: 'mqtt://localhost:1884',
      username: 'fallback',
      password: '',
      keepalive: 25,
      clean: false,
      clientId: ['literal-$', '{NOT_A_VAR}'].join(''), // $${ is a literal ${
      will: { topic: 'sites/north/status', payload: 'north gone' },
    });
  });

  it('uses process.env by default', async () => {
    const name = `MQTTKIT_CONFIG_TEST_${process.pid}`;
    process.env[name] = 'from-process';
    try {
      const config = await parseFleetConfig(
        `sessions: [{ name: a, url: "mqtt://h", clientId: "\${${name}}" }]`,
        'yaml',
      );
      expect(config.sessions[0].clientId).toBe('from-process');
    } finally {
      delete process.env[name];
    }
  });

  it('accepts inline PEM and lists of files for TLS material', async () => {
    const dir = folder({ 'a.pem': CA, 'b.pem': CERT });
    const config = await parseFleetConfig(
      JSON.stringify({
        sessions: [{ name: 'a', url: 'mqtts://h', tls: { ca: ['a.pem', './b.pem'], key: KEY, cert: CERT } }],
      }),
      'json',
      { baseDir: dir, env: {} },
    );
    expect(config.sessions[0].tls).toEqual({
      ca: [Buffer.from(CA), Buffer.from(CERT)],
      key: KEY,
      cert: CERT,
    });
  });

  it('loads forwarders: one name or a list, maps in file order in either form, metadata', async () => {
    const config = await parseFleetConfig(
      `
sessions:
  - { name: plant-a, url: "mqtt://a" }
  - { name: plant-b, url: "mqtt://b" }
  - { name: cloud, url: "mqtt://c" }
  - { name: legacy, url: "mqtt://l", protocolVersion: "3.1.1" }
forwarders:
  - name: up
    from: [plant-a, plant-b]
    to: cloud
    topics: [plant/+/temp, "plant/+/alarm", "$share/fwd/plant/+/state"]
    map:
      plant/+/temp: cloud/plant/{1}/temp
      "plant/#": raw/{#}
      status: fleet/status
    qos: 2
    retain: keep
    metadata: { site: "\${SITE}", line: 3, via: gateway }
    envelope: false
    maxWaiting: "\${MAX_WAITING:-500}"
    maxAttempts: 5
  - name: down
    from: cloud
    to: plant-a
    topics: cmd/#
    map: [[cmd/+/#, "plant/{1}/cmd/{#}"], ["cmd/#", "plant/all/{#}"]]
    retain: "true"
  - name: old
    from: plant-a
    to: legacy
    topics: "#"
    metadata: { site: a }
    envelope: true
  - { name: loopback, from: cloud, to: cloud, topics: "in/#", map: { "in/#": "out/{#}" } }
`,
      'yaml',
      { env: { SITE: 'north' } },
    );
    expect(config.forwarders).toEqual([
      {
        name: 'up',
        from: ['plant-a', 'plant-b'],
        to: 'cloud',
        topics: ['plant/+/temp', 'plant/+/alarm', '$share/fwd/plant/+/state'],
        map: [
          ['plant/+/temp', 'cloud/plant/{1}/temp'],
          ['plant/#', 'raw/{#}'],
          ['status', 'fleet/status'],
        ],
        qos: 2,
        retain: 'keep',
        metadata: { site: 'north', line: '3', via: 'gateway' },
        envelope: false,
        maxWaiting: 500,
        maxAttempts: 5,
      },
      {
        name: 'down',
        from: 'cloud',
        to: 'plant-a',
        topics: 'cmd/#',
        map: [
          ['cmd/+/#', 'plant/{1}/cmd/{#}'],
          ['cmd/#', 'plant/all/{#}'],
        ],
        retain: true,
      },
      { name: 'old', from: 'plant-a', to: 'legacy', topics: '#', metadata: { site: 'a' }, envelope: true },
      // a session may forward to itself: the loop marker keeps the copies from going round
      { name: 'loopback', from: 'cloud', to: 'cloud', topics: 'in/#', map: [['in/#', 'out/{#}']] },
    ]);
    // what the manager does with them
    const m = new SessionManager();
    try {
      for (const s of config.sessions) m.add(s);
      for (const f of config.forwarders) expect(m.forward(f)).toBeInstanceOf(Forwarder);
    } finally {
      await m.close();
    }
  });

  it('loads forwarders from JSON, and a metadata key named __proto__ as any other', async () => {
    const fleet = {
      sessions: [
        { name: 'a', url: 'mqtt://a' },
        { name: 'b', url: 'mqtt://b' },
      ],
      forwarders: [
        {
          name: 'ab',
          from: 'a',
          to: 'b',
          topics: ['x/#'],
          map: [['x/#', 'y/{#}']],
          qos: 0,
          metadata: JSON.parse('{"__proto__": "p", "k": "v"}'),
        },
      ],
    };
    const dir = folder({ 'fleet.json': JSON.stringify(fleet) });
    const config = await loadFleetConfig(join(dir, 'fleet.json'), { env: {} });
    expect(config.forwarders).toHaveLength(1);
    const [f] = config.forwarders;
    expect(f).toMatchObject({
      name: 'ab',
      from: 'a',
      to: 'b',
      topics: ['x/#'],
      map: [['x/#', 'y/{#}']],
      qos: 0,
    });
    expect(Object.entries(f.metadata as object)).toEqual([
      ['__proto__', 'p'],
      ['k', 'v'],
    ]);
  });

  it('makes a Redis store that connects only when first used', async () => {
    // a Redis that accepts and never answers
    const server = closeAfter(await startTcpServer());
    const { port } = server;
    const config = await parseFleetConfig(
      `
defaults:
  store: { type: redis, url: "redis://127.0.0.1:${port}", prefix: "fleet:" }
sessions:
  - { name: a, url: "mqtt://h", clientId: a }
  - { name: b, url: "mqtt://h", clientId: b }
`,
      'yaml',
      { env: {} },
    );
    const store = config.sessions[0].store!;
    expect(config.sessions[1].store).toBe(store);
    expect(store.durable).toBe(true);
    constructAll(config);
    await store.flush(); // nothing written: no connection needed
    // A connection made by now was started before this marker's (after a turn of the event loop,
    // whatever a client deferred to process.nextTick has run), so the server would accept it first.
    await new Promise((resolve) => setImmediate(resolve));
    const marker = connect(port, '127.0.0.1');
    onCleanup(() => marker.destroy());
    await once(marker, 'connect');
    expect((await server.nextConnection()).remotePort).toBe(marker.localPort);
    const loading = store.load('a').catch(() => undefined);
    await server.nextConnection();
    expect(server.accepted).toBe(2); // the marker and the store's one connection
    // Redis goes away: the load fails at once, and close() has nothing to wait for
    await server.close();
    await loading;
    await store.close().catch(() => undefined);
  });

  it('closes a Redis store never used without connecting', async () => {
    const config = await parseFleetConfig(
      'sessions: [{ name: a, url: "mqtt://h", store: { type: redis } }]',
      'yaml',
      {
        env: {},
      },
    );
    const store = config.sessions[0].store!;
    await store.close();
    await expect(store.load('a')).rejects.toThrow(/closed/);
  });
});

describe('ConfigError', () => {
  it('names the path of every problem at once, with the file and line', async () => {
    const dir = folder({
      'fleet.yaml': `sessions:
  - name: a
    keepalive: soon
  - name: b
    url: mqtt://h
    store: { type: disk }
`,
    });
    const file = join(dir, 'fleet.yaml');
    const err = await configError(loadFleetConfig(file, { env: {} }));
    expect(err).toBeInstanceOf(MqttError);
    expect(err.code).toBe('ERR_MQTT_CONFIG');
    expect(err.name).toBe('ConfigError');
    expect(err.source).toBe(file);
    expect(err.issues).toEqual([
      { path: 'sessions[0].url', message: 'required', line: 2 },
      { path: 'sessions[0].keepalive', message: 'expected a number, got a string', line: 3 },
      { path: 'sessions[1].store.type', message: 'expected one of memory, file, redis', line: 6 },
    ]);
    expect(err.message.split('\n')).toEqual([
      `${file}:2: sessions[0].url: required`,
      `${file}:3: sessions[0].keepalive: expected a number, got a string`,
      `${file}:6: sessions[1].store.type: expected one of memory, file, redis`,
    ]);
  });

  it('reports missing required fields', async () => {
    expect(await problems('sessions:\n  - url: mqtt://h\n  - name: b\n')).toEqual([
      'sessions[0].name: required',
      'sessions[1].url: required',
    ]);
    expect(await problems('concurrency: 3\n')).toEqual(['sessions: required']);
    expect(await problems('sessions:\n  - name: a\n    url: mqtt://h\n    will: { payload: x }\n')).toEqual([
      'sessions[0].will.topic: required',
    ]);
    expect(await problems('sessions: [{ name: a, url: "mqtt://h", store: {} }]\n')).toEqual([
      'sessions[0].store.type: required (one of memory, file, redis)',
    ]);
    expect(await problems('')).toEqual([': expected a map, got null']);
    expect(await problems('sessions: { a: 1 }')).toEqual(['sessions: expected a list, got a map']);
    expect(await problems('sessions: [[]]')).toEqual(['sessions[0]: expected a map, got a list']);
  });

  it('reports wrong types and values out of range', async () => {
    expect(
      await problems(`
concurrency: 0
sessions:
  - name: a
    url: 42
    clean: maybe
    keepalive: 70000
    sessionExpiry: 1.5
    tls: { ca: 7 }
    subscriptions:
      - { filter: x, qos: 3 }
      - { filter: "" }
    reconnect: { jitter: 2 }
    userProperties: [[a]]
`),
    ).toEqual(['concurrency: must be at least 1']);
    expect(
      await problems(`
sessions:
  - name: a
    url: 42
    clean: maybe
    keepalive: 70000
    sessionExpiry: 1.5
    tls: { ca: 7 }
    subscriptions:
      - { filter: x, qos: 3 }
      - { filter: "" }
    reconnect: { jitter: 2 }
    userProperties: [[a]]
`),
    ).toEqual([
      'sessions[0].url: expected a URL or a list of URLs',
      'sessions[0].clean: expected true or false, got a string',
      'sessions[0].keepalive: must be at most 65535',
      'sessions[0].sessionExpiry: expected an integer, got a number',
      'sessions[0].tls.ca: expected a file path, PEM text, or a list of them',
      'sessions[0].subscriptions[0].qos: expected one of 0, 1, 2',
      'sessions[0].subscriptions[1].filter: must not be empty',
      'sessions[0].reconnect.jitter: must be at most 1',
      'sessions[0].userProperties[0][1]: required',
    ]);
  });

  it('reports bad enum values and bad URLs', async () => {
    expect(
      await problems(`
sessions:
  - name: a
    url: [mqtt://ok, "http://user:hunter2@h", "not a url"]
    protocolVersion: 3
    offlineQueue: { overflow: drop-random }
    store: { type: file, dir: ./s, fsync: sometimes }
  - name: b
    url: mqtt://h
    store: { type: redis, url: "http://r" }
`),
    ).toEqual([
      "sessions[0].url[1]: unsupported scheme 'http:' (use mqtt:, tcp:, mqtts:, tls:, ssl:, ws:, wss:, unix: or mqtt+unix:)",
      'sessions[0].url[2]: not a valid URL',
      'sessions[0].protocolVersion: expected one of 5, 4, 3.1.1, 5.0, 5, 4, auto',
      'sessions[0].offlineQueue.overflow: expected one of reject, drop-oldest, drop-newest',
      'sessions[0].store.fsync: expected one of always, batch, never',
      'sessions[1].store.url: must be a redis:// or rediss:// URL',
    ]);
  });

  it('reports unknown keys, at every level', async () => {
    expect(
      await problems(`
concurency: 5
defaults: { keepAlive: 3 }
sessions:
  - name: a
    url: mqtt://h
    tlss: {}
    tls: { cafile: x }
    store: { type: memory, dir: x }
    will: { topic: t, payload: p, properties: { delay: 1 } }
    subscriptions: [{ filter: x, handler: y }]
`),
    ).toEqual(['concurency: unknown key']);
    expect(
      await problems(`
defaults: { keepAlive: 3, name: x, clientId: y }
sessions:
  - name: a
    url: mqtt://h
    tlss: {}
    tls: { cafile: x }
    store: { type: memory, dir: x }
    will: { topic: t, payload: p, properties: { delay: 1 } }
    subscriptions: [{ filter: x, handler: y }]
`),
    ).toEqual([
      'defaults.keepAlive: unknown key',
      'defaults.name: unknown key',
      'defaults.clientId: unknown key',
      'sessions[0].tlss: unknown key',
      'sessions[0].tls.cafile: unknown key',
      'sessions[0].store.dir: unknown key',
      'sessions[0].will.properties.delay: unknown key',
      'sessions[0].subscriptions[0].handler: unknown key',
    ]);
  });

  it('reports a key named __proto__ like any other', async () => {
    const err = await configError(
      parseFleetConfig('{"sessions": [{"name": "a", "url": "mqtt://h", "__proto__": {"x": 1}}]}', 'json'),
    );
    expect(err.issues.map((i) => `${i.path}: ${i.message}`)).toEqual(['sessions[0].__proto__: unknown key']);
  });

  it('reports duplicate names', async () => {
    expect(
      await problems(`
sessions:
  - { name: a, url: "mqtt://h" }
  - { name: b, url: "mqtt://h" }
  - { name: a, url: "mqtt://h" }
  - { name: b, url: "mqtt://h" }
`),
    ).toEqual([
      "sessions[2].name: duplicate name 'a' (also sessions[0])",
      "sessions[3].name: duplicate name 'b' (also sessions[1])",
    ]);
  });

  it('reports forwarders naming sessions the file does not have, with their lines', async () => {
    const dir = folder({
      'fleet.yaml': withForwarders(
        '  - name: up',
        '    from: [plant, plant-b, plant]',
        '    to: cloud',
        '    topics: "#"',
        '  - { name: down, from: cloud, to: nowhere, topics: "#" }',
      ),
    });
    const file = join(dir, 'fleet.yaml');
    const err = await configError(loadFleetConfig(file, { env: {} }));
    expect(err.issues).toEqual([
      { path: 'forwarders[0].from[1]', message: "no session named 'plant-b'", line: 6 },
      { path: 'forwarders[0].from[2]', message: "duplicate session 'plant' (also from[0])", line: 6 },
      { path: 'forwarders[1].to', message: "no session named 'nowhere'", line: 9 },
    ]);
    expect(err.message.split('\n')[2]).toBe(`${file}:9: forwarders[1].to: no session named 'nowhere'`);
  });

  it('reports missing fields, unknown keys, and functions a file cannot hold', async () => {
    expect(
      await problemLines(
        withForwarders(
          '  - from: plant',
          '    topics: "#"',
          '  - name: f',
          '    from: plant',
          '    to: cloud',
          '    topics: "#"',
          '    filter: "(m) => true"',
          '    transform: x',
          '    qos0: true',
          '  - [plant, cloud]',
        ),
      ),
    ).toEqual([
      '5: forwarders[0].name: required',
      '5: forwarders[0].to: required',
      '11: forwarders[1].filter: is a function: set it in code (SessionManager.forward)',
      '12: forwarders[1].transform: is a function: set it in code (SessionManager.forward)',
      '13: forwarders[1].qos0: unknown key',
      '14: forwarders[2]: expected a map, got a list',
    ]);
    expect(await problems('sessions: []\nforwarders: { a: 1 }\n')).toEqual([
      'forwarders: expected a list, got a map',
    ]);
  });

  it('reports bad topic filters, duplicates, and values of the wrong type or out of range', async () => {
    expect(
      await problemLines(
        withForwarders(
          '  - name: f',
          '    from: []',
          '    to: 7',
          '    topics: [ok/#, "bad/#/x", "", "a+", ok/#]',
          '    qos: 3',
          '    retain: sometimes',
          '    metadata: { a: [x] }',
          '    envelope: maybe',
          '    maxWaiting: 0',
          '  - { name: f, from: plant, to: cloud, topics: "x/#/y", map: "a -> b" }',
          '  - { name: "", from: [plant, ""], to: "", topics: [] }',
        ),
      ),
    ).toEqual([
      '6: forwarders[0].from: must not be empty',
      '7: forwarders[0].to: expected a string, got an integer',
      "8: forwarders[0].topics[1]: not a topic filter: has '#' at 4 that is not the last character",
      '8: forwarders[0].topics[2]: must not be empty',
      "8: forwarders[0].topics[3]: not a topic filter: has '+' at 1 that is not a whole level",
      '8: forwarders[0].topics[4]: duplicate filter (also topics[0])',
      '9: forwarders[0].qos: expected one of 0, 1, 2',
      '10: forwarders[0].retain: expected true, false or keep',
      '11: forwarders[0].metadata.a: expected a string, got a list',
      '12: forwarders[0].envelope: expected true or false, got a string',
      '13: forwarders[0].maxWaiting: must be at least 1',
      "14: forwarders[1].name: duplicate name 'f' (also forwarders[0])",
      "14: forwarders[1].topics: not a topic filter: has '#' at 2 that is not the last character",
      '14: forwarders[1].map: expected a map of filters to templates, or a list of [filter, template] pairs',
      '15: forwarders[2].name: must not be empty',
      '15: forwarders[2].from[1]: must not be empty',
      '15: forwarders[2].to: must not be empty',
      '15: forwarders[2].topics: must not be empty',
    ]);
  });

  it('reports the map rules compileTopicMap refuses, under the rule', async () => {
    expect(
      await problemLines(
        withForwarders(
          '  - name: f',
          '    from: plant',
          '    to: cloud',
          '    topics: "#"',
          '    map:',
          '      a/+: "b/{1}"',
          '      c/+: "d/{2}"',
          '      "e/#": "f/{#}/+"',
          '      g/+: "h/{#}"',
          '      "$share/g/x": y',
          '  - name: g',
          '    from: plant',
          '    to: cloud',
          '    topics: "#"',
          '    map: [[a/+, "b/{1}"], ["x/#/y", z], [a/#, ""], [a, b, c]]',
          '  - { name: h, from: plant, to: cloud, topics: "#", map: { "42": x, "+": y } }',
        ),
      ),
    ).toEqual([
      `11: forwarders[0].map["c/+"]: '{2}' refers to a '+' that 'c/+' does not have (it has 1)`,
      `12: forwarders[0].map["e/#"]: 'f/{#}/+' cannot be a topic name`,
      `13: forwarders[0].map["g/+"]: '{#}' needs a filter ending in '#' ('g/+')`,
      `14: forwarders[0].map["$share/g/x"]: '$share/g/x' is not a valid topic filter`,
      '19: forwarders[1].map[3]: must have at most 2 items',
      "19: forwarders[1].map[1][0]: 'x/#/y' is not a valid topic filter",
      "19: forwarders[1].map[2][1]: '' cannot be a topic name",
      '20: forwarders[2].map: a filter that is a number does not keep its place in a map: use a list of [filter, template] pairs',
    ]);
  });

  it('reports metadata toward an MQTT 3.1.1 target without an envelope', async () => {
    expect(
      await problemLines(`
defaults: { protocolVersion: 4 }
sessions:
  - { name: plant, url: "mqtt://p", protocolVersion: 5 }
  - { name: legacy, url: "mqtt://l" }
forwarders:
  - { name: a, from: plant, to: legacy, topics: "#", metadata: { site: a } }
  - { name: b, from: plant, to: legacy, topics: "#", metadata: { site: a }, envelope: true }
  - { name: c, from: legacy, to: plant, topics: "#", metadata: { site: a } }
`),
    ).toEqual([
      "7: forwarders[0].metadata: session 'legacy' uses MQTT 3.1.1, which has no user properties: set envelope: true to send it",
    ]);
  });

  it('checks forwarders when sessions or defaults have problems, and skips fields with unset variables', async () => {
    expect(
      await problems(
        `
defaults: { keepalive: soon }
sessions:
  - { name: plant, url: "mqtt://p", clean: maybe }
forwarders:
  - { name: f, from: plant, to: "\${TARGET}", topics: "\${TOPIC}", qos: 5 }
  - { name: g, from: plant, to: cloud, topics: "#" }
`,
        {},
      ),
    ).toEqual([
      'defaults.keepalive: expected a number, got a string',
      'sessions[0].clean: expected true or false, got a string',
      'forwarders[0].to: environment variable TARGET is not set',
      'forwarders[0].topics: environment variable TOPIC is not set',
      'forwarders[0].qos: expected one of 0, 1, 2',
      "forwarders[1].to: no session named 'cloud'",
    ]);
  });

  it('reports missing TLS files relative to the config file, once for defaults', async () => {
    const dir = folder({ 'ca.pem': CA, 'fleet.yaml': '' });
    writeFileSync(
      join(dir, 'fleet.yaml'),
      `
defaults:
  tls: { cert: ./missing-cert.pem }
sessions:
  - { name: a, url: "mqtts://h", tls: { ca: ./ca.pem } }
  - { name: b, url: "mqtts://h", tls: { ca: ./nope/ca.pem } }
  - { name: c, url: "mqtts://h", tls: { key: [./ca.pem, ./gone.key] } }
`,
    );
    const err = await configError(loadFleetConfig(join(dir, 'fleet.yaml'), { env: {} }));
    expect(err.issues.map((i) => `${i.path}: ${i.message}`)).toEqual([
      'defaults.tls.cert: file not found (./missing-cert.pem)',
      'sessions[1].tls.ca: file not found (./nope/ca.pem)',
      'sessions[2].tls.key[1]: file not found (./gone.key)',
    ]);
    expect(err.issues[1].line).toBe(6);
  });

  it('reports unset environment variables where they are used', async () => {
    expect(
      await problems(
        `
defaults:
  keepalive: \${KEEPALIVE}
sessions:
  - name: a
    url: mqtt://h
    password: \${MQTT_PASSWORD}
    tls: { ca: "\${CA_FILE}" }
`,
        {},
      ),
    ).toEqual([
      'defaults.keepalive: environment variable KEEPALIVE is not set',
      'sessions[0].password: environment variable MQTT_PASSWORD is not set',
      'sessions[0].tls.ca: environment variable CA_FILE is not set',
    ]);
  });

  it('reports the checks of new Session() under the session', async () => {
    expect(
      await problems(`
sessions:
  - { name: a, url: "mqtt://h", protocolVersion: 4, sessionExpiry: 60 }
  - { name: b, url: "mqtt://h", protocolVersion: 4, password: x }
  - { name: c, url: "mqtt://h", will: { topic: "a/+" } }
`),
    ).toEqual([
      "sessions[0].sessionExpiry: is an MQTT 5 feature; protocolVersion is 4 (use 5 or 'auto')",
      'sessions[1].password: needs a username in MQTT 3.1.1',
      'sessions[2].will.topic: must be a topic name without wildcards',
    ]);
  });

  it('turns a YAML syntax error into an issue with its line', async () => {
    const dir = folder({
      'fleet.yaml': `sessions:
  - name: a
    url: mqtt://h
    password: "${PASSWORD}
  - name: b
`,
    });
    const file = join(dir, 'fleet.yaml');
    const err = await configError(loadFleetConfig(file, { env: {} }));
    expect(err.issues.length).toBeGreaterThan(0);
    expect(err.issues[0]).toMatchObject({ path: '', line: expect.any(Number) });
    expect(err.issues[0].message).toMatch(/^invalid YAML: /);
    expect(err.message).toMatch(
      new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: invalid YAML`),
    );
    expect(err.message).not.toContain(PASSWORD);

    const tab = await configError(parseFleetConfig('sessions:\n\t- name: a\n', 'yaml', { source: 'x.yaml' }));
    expect(tab.issues[0]).toMatchObject({ path: '', line: 2, column: 1 });
    expect(tab.message).toMatch(/^x\.yaml:2:1: invalid YAML: /);
  });

  it('turns a JSON syntax error into an issue with its line, without quoting the text', async () => {
    const text = `{
  "sessions": [
    { "name": "a", "url": "mqtt://h", "password": ${PASSWORD} }
  ]
}`;
    const err = await configError(parseFleetConfig(text, 'json', { source: 'fleet.json' }));
    expect(err.issues).toEqual([
      { path: '', message: 'invalid JSON: unexpected character', line: 3, column: 51 },
    ]);
    expect(err.message).toBe('fleet.json:3:51: invalid JSON: unexpected character');
    expect(err.message).not.toContain(PASSWORD.slice(0, 8));

    const trailing = await configError(parseFleetConfig('{"sessions": []}\n}', 'json'));
    expect(trailing.issues[0]).toMatchObject({ line: 2, column: 1 });
    expect(trailing.message).toMatch(
      /^line 2:1: invalid JSON: Unexpected non-whitespace character after JSON$/,
    );
    const cut = await configError(parseFleetConfig('{"sessions": [', 'json'));
    expect(cut.issues[0].message).toBe('invalid JSON: Unexpected end of JSON input');
  });

  it('refuses files it cannot read or whose type it does not know', async () => {
    const dir = folder({ 'fleet.toml': 'x = 1' });
    const toml = await configError(loadFleetConfig(join(dir, 'fleet.toml')));
    expect(toml.issues).toEqual([
      { path: '', message: "unsupported file type '.toml' (use .yaml, .yml or .json)" },
    ]);
    const missing = await configError(loadFleetConfig(join(dir, 'none.yml')));
    expect(missing.message).toBe(`${join(dir, 'none.yml')}: file not found`);
  });

  it('never puts a secret value in a message', async () => {
    const dir = folder({ 'client.key': KEY });
    const env = { ...ENV, REDIS_URL: `redis://:${PASSWORD}@r:6379`, KEY_PASS: PASSWORD };
    const yaml = `
sessions:
  - name: a
    url: "mqtt://user:\${MQTT_PASSWORD}@h"
    username: 12
    password: 12345
    clean: \${MQTT_PASSWORD}
    keepalive: \${MQTT_PASSWORD}
    protocolVersion: \${MQTT_PASSWORD}
    tls: { key: ./client.key, passphrase: ["\${KEY_PASS}"], ca: "\${MQTT_PASSWORD}" }
    store: { type: "\${MQTT_PASSWORD}" }
    ws: { headers: { Authorization: 7 }, protocol: ["\${MQTT_PASSWORD}"] }
    clientId: { secret: "\${MQTT_PASSWORD}" }
  - name: b
    url: "\${MQTT_PASSWORD}"
    password: \${MQTT_PASSWORD}
    store: { type: redis, url: "\${REDIS_URL}", prefix: 5 }
    userProperties: { token: [["\${MQTT_PASSWORD}"]] }
  - name: c
    url: "mqtt://h"
    protocolVersion: 4
    password: \${MQTT_PASSWORD}
`;
    const err = await configError(
      parseFleetConfig(yaml, 'yaml', { env, baseDir: dir, source: 'fleet.yaml' }),
    );
    expect(err.issues.length).toBeGreaterThan(10);
    const everything = `${err.message}\n${JSON.stringify(err.issues)}\n${String(err.stack)}`;
    expect(everything).not.toContain(PASSWORD);
    expect(everything).not.toContain('12345');
    for (const line of KEY.split('\n').filter((l) => l.length > 20)) expect(everything).not.toContain(line);
    expect(err.message).toContain('sessions[2].password: needs a username in MQTT 3.1.1');
  });

  it('never quotes the text of a YAML file with a syntax error', async () => {
    for (const yaml of [
      `sessions:\n  - password: "${PASSWORD}" extra\n`,
      `sessions:\n  - password: ${PASSWORD}\n   x: 1\n`,
      `sessions:\n  - password: "\\q${PASSWORD}"\n`,
      `sessions:\n  - password: |x${PASSWORD}\n      b\n`,
      `sessions:\n  - password: *${PASSWORD}\n`,
      `sessions:\n  - name: a\n${PASSWORD}\n`,
      `{sessions: []} ${PASSWORD}\n`,
      `sessions: [{ password: [${PASSWORD}, {] }]\n`,
    ]) {
      const err = await configError(parseFleetConfig(yaml, 'yaml', { source: 'fleet.yaml' }));
      expect(err.issues).toHaveLength(1);
      expect(err.message).toMatch(/^fleet\.yaml:\d+(:\d+)?: invalid YAML: /);
      expect(err.message).not.toContain(PASSWORD.slice(0, 8));
    }
  });
});

describe.skipIf(!hasMosquitto())('SessionManager.fromConfig with forwarders', () => {
  let broker: Broker;
  beforeAll(async () => {
    broker = await startMosquitto();
  });
  afterAll(() => broker?.stop());

  it('makes the forwarders, which start once their sources are connected', async () => {
    const dir = folder({
      'fleet.yaml': [
        'defaults:',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: the config file's own syntax
        '  url: ${BROKER_URL}',
        'sessions:',
        '  - name: src',
        '  - name: dst',
        'forwarders:',
        '  - name: in-to-out',
        '    from: src',
        '    to: dst',
        '    topics: cfg-fwd/in/+',
        '    map: { cfg-fwd/in/+: "cfg-fwd/out/{1}" }',
        '    metadata: { via: config }',
        // on one session: the copies it receives back carry the marker and are not forwarded again
        '  - { name: self, from: dst, to: dst, topics: "cfg-fwd/self/#", map: { "cfg-fwd/self/#": "cfg-fwd/copy/{#}" } }',
      ].join('\n'),
    });
    const pub = new Session({ url: broker.url });
    const verify = new Session({ url: broker.url });
    const m = await SessionManager.fromConfig(join(dir, 'fleet.yaml'), { env: { BROKER_URL: broker.url } });
    try {
      const errors: ManagerEvents['session_error'][] = [];
      m.on('session_error', (e) => errors.push(e));
      await pub.connect();
      await verify.connect();
      const got: string[] = [];
      let wake: () => void = () => {};
      await verify.subscribe(['cfg-fwd/out/#', 'cfg-fwd/copy/#', 'cfg-fwd/self/#'], { qos: 1 }, (msg) => {
        const via = msg.properties?.userProperties?.find(([k]) => k === 'via')?.[1];
        got.push(`${msg.topic} ${msg.payload.toString()}${via === undefined ? '' : ` via=${via}`}`);
        wake();
      });
      const until = (n: number) =>
        new Promise<void>((resolve) => {
          wake = () => got.length >= n && resolve();
          wake();
        });
      // retained: delivered when the forwarders subscribe, whenever that is
      await pub.publish('cfg-fwd/in/1', 'one', { qos: 1, retain: true });
      await pub.publish('cfg-fwd/self/x', 'two', { qos: 1, retain: true });
      await m.connectAll();
      // the retained copy of cfg-fwd/self/x itself, then the two forwarded (not retained) copies
      await until(3);
      await pub.publish('cfg-fwd/in/2', 'three', { qos: 1 });
      await until(4);
      expect(got.sort()).toEqual([
        'cfg-fwd/copy/x two',
        'cfg-fwd/out/1 one via=config',
        'cfg-fwd/out/2 three via=config',
        'cfg-fwd/self/x two',
      ]);
      expect(errors).toEqual([]);
    } finally {
      await pub.publish('cfg-fwd/in/1', '', { qos: 1, retain: true });
      await pub.publish('cfg-fwd/self/x', '', { qos: 1, retain: true });
      await Promise.all([m.close(), pub.close(), verify.close()]);
    }
  });
});
