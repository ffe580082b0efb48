/**
 * Cluster mode through the public API: `SessionManager.fromConfig(file,
 * { cluster })` on a fleet file, two nodes in this process (two managers,
 * each with its own ioredis client), a private redis-server and a private
 * mosquitto. Counted, not timed: every wait is for an event or a condition.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  InvalidArgumentError,
  type ManagerEvents,
  RpcClient,
  RpcServer,
  Session,
  SessionManager,
} from '../../src/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { capture } from '../helpers/log-capture.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';

const WAIT = { timeout: 20_000, interval: 20 };

describe.skipIf(!hasRedis() || !hasMosquitto())('SessionManager.fromConfig in cluster mode', () => {
  let redis: RedisServer;
  let broker: Broker;
  let dir: string;

  beforeAll(async () => {
    [redis, broker] = await Promise.all([startRedis(), startMosquitto()]);
    dir = mkdtempSync(join(tmpdir(), 'mqttkit-cluster-'));
  });

  afterAll(async () => {
    await Promise.all([redis?.stop(), broker?.stop()]);
  });

  /** A fleet file of `n` sessions `<tag>-<i>` (and a forwarder between the first two, when asked). */
  function fleetFile(tag: string, n: number, extra = '', edit = (text: string) => text): string {
    const sessions = Array.from(
      { length: n },
      (_, i) => `  - { name: ${tag}-${i}, clean: false, sessionExpiry: 300 }`,
    ).join('\n');
    const path = join(dir, `${tag}.yaml`);
    writeFileSync(
      path,
      edit(
        `defaults:\n  url: ${broker.url}\n  reconnect: { initialDelay: 20, maxDelay: 100 }\n` +
          `cluster:\n  redis: ${redis.url}\n  name: ${tag}\n  ttl: 1000\n  margin: 200\n` +
          `sessions:\n${sessions}\n${extra}`,
      ),
    );
    return path;
  }

  /** A node: the manager of `fromConfig` in cluster mode, every cluster event recorded. */
  async function node(path: string, id: string) {
    const log = capture();
    const m = await SessionManager.fromConfig(path, { cluster: { node: id }, logger: log });
    onCleanup(() => m.close());
    const events: { type: keyof ManagerEvents; e: unknown }[] = [];
    for (const type of ['session_acquired', 'session_released', 'node_joined', 'node_left'] as const)
      m.on(type, (e) => events.push({ type, e }));
    const errors: Error[] = [];
    m.on('cluster_error', ({ error }) => errors.push(error));
    return {
      id,
      m,
      events,
      errors,
      log,
      running: () => m.list().filter((n) => m.get(n)?.state === 'connected'),
    };
  }

  it('runs each session on one node, shows it in status(), and hands over on close()', async () => {
    const path = fleetFile('cm', 12);
    const a = await node(path, 'a');
    const b = await node(path, 'b');
    expect(a.m.cluster).toMatchObject({ name: 'cm', node: 'a', role: 'node' });
    expect(a.m.list()).toEqual([]); // nothing added before the cluster places it
    await Promise.all([a.m.connectAll(), b.m.connectAll()]);
    await vi.waitFor(() => expect(a.running().length + b.running().length).toBe(12), WAIT);
    expect(a.running().filter((n) => b.running().includes(n))).toEqual([]);
    expect(a.running().length).toBeGreaterThan(0);
    expect(b.running().length).toBeGreaterThan(0);

    const status = await a.m.cluster?.status();
    expect(status?.nodes.map((n) => n.id).sort()).toEqual(['a', 'b']);
    const byNode = new Map(status?.nodes.map((n) => [n.id, [...n.sessions].sort()]));
    expect(byNode.get('a')).toEqual(a.running().sort());
    expect(byNode.get('b')).toEqual(b.running().sort());
    expect(status?.sessions.every((s) => s.node !== undefined && typeof s.token === 'number')).toBe(true);
    expect(
      a.events
        .filter((x) => x.type === 'node_joined')
        .map((x) => (x.e as { node: string }).node)
        .sort(),
    ).toEqual(['a', 'b']);

    // the node's counters, and the same in the Prometheus registry
    const counted = a.m.cluster?.metrics();
    expect(counted).toMatchObject({ owned: a.running().length, members: 2, acquired: a.running().length });
    expect(counted?.renewals).toBeGreaterThan(0);
    const text = await a.m.registry().metrics();
    expect(text).toContain(`mqttkit_cluster_owned_sessions ${a.running().length}`);
    expect(text).toMatch(/mqttkit_cluster_renewal_seconds_count [1-9]/);

    // a leaves: b runs everything, without waiting for a's leases to run out (released at once)
    const handed = a.running().sort();
    await a.m.close();
    expect(
      a.events
        .filter((x) => x.type === 'session_released')
        .map((x) => x.e as ManagerEvents['session_released'])
        .every((e) => e.reason === 'leave' && e.node === 'a'),
    ).toBe(true);
    expect(a.m.cluster?.metrics()).toMatchObject({ handoffs: 1, released: { leave: handed.length } });
    await vi.waitFor(() => expect(b.running().length).toBe(12), WAIT);
    const taken = b.events
      .filter((x) => x.type === 'session_acquired')
      .map((x) => (x.e as ManagerEvents['session_acquired']).name);
    expect(handed.every((n) => taken.includes(n))).toBe(true);
    await vi.waitFor(
      async () => expect((await b.m.cluster?.status())?.nodes.map((n) => n.id)).toEqual(['b']),
      WAIT,
    );
    expect([...a.errors, ...b.errors]).toEqual([]);
    // the takeover, as an operator reads it in the log
    const released = a.log.lines.filter((l) => l.msg === 'session released');
    expect(released.map((l) => l.fields.session).sort()).toEqual(handed);
    expect(released.every((l) => l.level === 'info' && l.fields.reason === 'leave')).toBe(true);
    const acquired = b.log.lines.filter((l) => l.msg === 'session acquired').map((l) => l.fields.session);
    expect(handed.every((n) => acquired.includes(n))).toBe(true);
    expect(b.log.lines.some((l) => l.msg === 'node left' && l.fields.node === 'a')).toBe(true);
  });

  it("places a forwarder's sessions together and forwards on the node that runs them", async () => {
    const forwarder = `forwarders:\n  - { name: up, from: fw-0, to: fw-1, topics: in/#, map: { "in/#": "out/{#}" } }\n`;
    const path = fleetFile('fw', 6, forwarder);
    const a = await node(path, 'a');
    const b = await node(path, 'b');
    await Promise.all([a.m.connectAll(), b.m.connectAll()]);
    await vi.waitFor(() => expect(a.running().length + b.running().length).toBe(6), WAIT);
    const owner = a.running().includes('fw-0') ? a : b;
    expect(owner.running()).toEqual(expect.arrayContaining(['fw-0', 'fw-1']));

    const sub = new Session({ url: broker.url });
    onCleanup(() => sub.close());
    await sub.connect();
    const got: string[] = [];
    await sub.subscribe('out/#', { qos: 1 }, (msg) => got.push(`${msg.topic} ${msg.payload.toString()}`));
    const pub = new Session({ url: broker.url });
    onCleanup(() => pub.close());
    await pub.connect();
    // the forwarder starts once both its sessions are connected: publish until one arrives
    await vi.waitFor(async () => {
      await pub.publish('in/x', 'hello', { qos: 1 });
      expect(got).toContain('out/x hello');
    }, WAIT);
  });

  it('moves a forwarder with its sessions when their node leaves, losing nothing', async () => {
    const forwarder = `forwarders:\n  - { name: up, from: mv-0, to: mv-1, topics: mvin/#, map: { "mvin/#": "mvout/{#}" } }\n`;
    const path = fleetFile('mv', 2, forwarder);
    const a = await node(path, 'a');
    const b = await node(path, 'b');
    await Promise.all([a.m.connectAll(), b.m.connectAll()]);
    await vi.waitFor(() => expect(a.running().length + b.running().length).toBe(2), WAIT);
    const [owner, other] = a.running().length === 2 ? [a, b] : [b, a];

    const sub = new Session({ url: broker.url });
    onCleanup(() => sub.close());
    await sub.connect();
    const got = new Set<string>();
    await sub.subscribe('mvout/#', { qos: 1 }, (msg) => got.add(msg.payload.toString()));
    const pub = new Session({ url: broker.url });
    onCleanup(() => pub.close());
    await pub.connect();
    // the forwarder is up once a probe arrives
    await vi.waitFor(async () => {
      await pub.publish('mvin/probe', 'probe', { qos: 1 });
      expect(got.has('probe')).toBe(true);
    }, WAIT);

    // 200 messages, the owner leaving after the first 50: what the forwarder held unacknowledged, and
    // what the broker queued for the source meanwhile, are forwarded by the new owner
    const N = 200;
    let closing: Promise<void> | undefined;
    for (let i = 0; i < N; i++) {
      await pub.publish(`mvin/${i}`, `m${i}`, { qos: 1 });
      if (i === 50) closing = owner.m.close();
    }
    await closing;
    await vi.waitFor(() => expect(other.running().sort()).toEqual(['mv-0', 'mv-1']), WAIT);
    const all = Array.from({ length: N }, (_, i) => `m${i}`);
    await vi.waitFor(() => expect(all.filter((m) => !got.has(m))).toEqual([]), WAIT);
  });

  it('runs an everyNode session on every node: RPC servers in a $share group serve from both', async () => {
    const path = fleetFile('rp', 4, '', (t) =>
      t.replace(
        'sessions:\n',
        'sessions:\n  - { name: api, clientId: rp-api, everyNode: true, clean: true }\n',
      ),
    );
    const a = await node(path, 'a');
    const b = await node(path, 'b');
    await Promise.all([a.m.connectAll(), b.m.connectAll()]);
    // each node's own copy, connected, under its own client id; never leased
    await vi.waitFor(
      () => expect([a.m.get('api')?.state, b.m.get('api')?.state]).toEqual(['connected', 'connected']),
      WAIT,
    );
    expect([a.m.get('api')?.clientId, b.m.get('api')?.clientId]).toEqual(['rp-api-a', 'rp-api-b']);
    await vi.waitFor(() => expect(a.running().length + b.running().length).toBe(6), WAIT); // 4 leased + 2 api
    expect((await a.m.cluster?.status())?.sessions.map((x) => x.name)).not.toContain('api');

    const served = { a: 0, b: 0 };
    for (const n of [a, b]) {
      const server = new RpcServer(n.m.get('api') as Session, { group: 'api' });
      await server.route('rp/echo', (req) => {
        served[n.id as 'a' | 'b']++;
        return req.text();
      });
      await server.start();
    }
    const caller = new Session({ url: broker.url });
    onCleanup(() => caller.close());
    await caller.connect();
    const rpc = new RpcClient(caller);
    // until each node has served at least one (the broker spreads the group's messages)
    let sent = 0;
    await vi.waitFor(async () => {
      const reply = await rpc.request('rp/echo', `m${sent}`);
      expect(reply.text()).toBe(`m${sent++}`);
      expect(served.a > 0 && served.b > 0).toBe(true);
    }, WAIT);
    expect(served.a + served.b).toBe(sent);
  });

  it('connectAll() rejects while Redis is down, and joins when called again once it is back', async () => {
    const down = await startRedis();
    onCleanup(() => down.stop());
    await down.kill();
    const path = fleetFile('rd', 2, '', (t) => t.replace(/redis: .*\n/, `redis: ${down.url}\n`));
    const a = await node(path, 'a');
    await expect(a.m.connectAll()).rejects.toThrow();
    await down.restart();
    await a.m.connectAll();
    await vi.waitFor(() => expect(a.running().length).toBe(2), WAIT);
  });

  it('refuses a file store in a cluster with Redis, naming the session', async () => {
    const path = fleetFile('st', 2, '', (t) =>
      t.replace('sessions:\n', `sessions:\n  - { name: st-file, store: { type: memory } }\n`),
    );
    const err = await SessionManager.fromConfig(path, { cluster: { node: 'a' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/sessions\[0\]\.store/);
  });

  it('needs redis without workers', async () => {
    const path = fleetFile('nr', 1, '', (t) => t.replace(/ {2}redis: .*\n/, ''));
    const err = await SessionManager.fromConfig(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toMatch(/cluster\.redis/);
  });
});
