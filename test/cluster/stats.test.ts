/**
 * `manager.cluster.watchStats()` / `sharedStats()` with Redis: two nodes in
 * this process (two managers from one fleet file, each with its own ioredis
 * client), a private redis-server and a private mosquitto. Counted, not
 * timed: every wait is for a condition (`vi.waitFor`), never a sleep.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { clusterKeys } from '../../src/cluster/keys.js';
import { SessionManager, type SharedSessionStats } from '../../src/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { capture } from '../helpers/log-capture.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';

const WAIT = { timeout: 20_000, interval: 20 };
const SECRET = 'pw-never-shared';

describe.skipIf(!hasRedis() || !hasMosquitto())('cluster stats shared through Redis', () => {
  let redis: RedisServer;
  let broker: Broker;
  let admin: Redis;
  let dir: string;

  beforeAll(async () => {
    [redis, broker] = await Promise.all([startRedis(), startMosquitto()]);
    admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
    dir = mkdtempSync(join(tmpdir(), 'mqttkit-stats-'));
  });

  afterAll(async () => {
    admin?.disconnect();
    await Promise.all([redis?.stop(), broker?.stop()]);
  });

  /** A fleet file of `n` sessions `<tag>-<i>`, connecting with a user name and password. */
  function fleetFile(tag: string, n: number): string {
    const sessions = Array.from({ length: n }, (_, i) => `  - { name: ${tag}-${i} }`).join('\n');
    const path = join(dir, `${tag}.yaml`);
    const url = broker.url.replace('mqtt://', `mqtt://dash:${SECRET}@`);
    writeFileSync(
      path,
      `defaults:\n  url: ${url}\n  reconnect: { initialDelay: 20, maxDelay: 100 }\n` +
        `cluster:\n  redis: ${redis.url}\n  name: ${tag}\n  ttl: 1000\n  margin: 200\n` +
        `sessions:\n${sessions}\n`,
    );
    return path;
  }

  async function node(path: string, id: string) {
    const m = await SessionManager.fromConfig(path, { cluster: { node: id }, logger: capture() });
    onCleanup(() => m.close());
    const cluster = m.cluster;
    if (cluster === undefined) throw new Error('not in cluster mode');
    return { id, m, cluster, running: () => m.list().filter((n) => m.get(n)?.state === 'connected') };
  }

  /** name -> node of the rows, sorted by name. */
  const owners = (rows: SharedSessionStats[]) =>
    Object.fromEntries(rows.map((r) => [r.name, r.node]).sort(([a], [b]) => (a < b ? -1 : 1)));

  it("a node's sharedStats lists every session of both nodes while watched; nothing is shared after", async () => {
    const tag = 'ss';
    const keys = clusterKeys('mqttkit:', tag);
    const path = fleetFile(tag, 8);
    const a = await node(path, 'a');
    const b = await node(path, 'b');
    await Promise.all([a.m.connectAll(), b.m.connectAll()]);
    await vi.waitFor(() => expect(a.running().length + b.running().length).toBe(8), WAIT);
    expect(a.running().length).toBeGreaterThan(0);
    expect(b.running().length).toBeGreaterThan(0);
    const expected = Object.fromEntries(
      [...a.running().map((n) => [n, 'a']), ...b.running().map((n) => [n, 'b'])].sort(([x], [y]) =>
        x < y ? -1 : 1,
      ),
    );

    // nobody watches: no key, nothing in Redis; a node's own rows only
    expect(await admin.exists(keys.watch, keys.stats)).toBe(0);
    expect(owners(await a.cluster.sharedStats())).toEqual(
      Object.fromEntries(a.running().map((n) => [n, 'a'])),
    );

    // a handler that throws on a's sessions: their latest error travels with their rows
    a.m.handle(`${tag}/boom`, () => {
      throw new Error('boom');
    });
    const stop = a.cluster.watchStats();
    await vi.waitFor(async () => {
      const rows = await a.cluster.sharedStats();
      expect(owners(rows)).toEqual(expected);
      expect(rows.every((r) => r.state === 'connected' && r.ready)).toBe(true);
    }, WAIT);
    // b sees the same, a's rows from Redis
    await vi.waitFor(async () => expect(owners(await b.cluster.sharedStats())).toEqual(expected), WAIT);
    expect((await admin.hkeys(keys.stats)).sort()).toEqual(['a', 'b']);

    const rows = await b.cluster.sharedStats();
    const now = Date.now();
    for (const r of rows) {
      expect(r).toMatchObject({ url: broker.url, version: 5, inflight: 0, queued: 0, dropped: 0 });
      expect(r.t).toBeGreaterThan(0);
      expect(r.t).toBeLessThanOrEqual(now);
      for (const n of [r.in, r.out, r.reconnects, r.errors]) expect(n).toBeGreaterThanOrEqual(0);
    }
    // the rows are grouped by node, a's first
    expect(rows.map((r) => r.node)).toEqual([...rows.map((r) => r.node)].sort());

    // an error on a's sessions, seen from b
    await vi.waitFor(() => expect(a.running().every((n) => a.m.isReady(n))).toBe(true), WAIT);
    const pub = b.m.get(b.running()[0]);
    await pub?.publish(`${tag}/boom`, 'x', { qos: 1 });
    await vi.waitFor(async () => {
      const seen = (await b.cluster.sharedStats()).filter((r) => r.node === 'a');
      expect(seen.map((r) => r.lastError?.code)).toEqual(seen.map(() => 'ERR_MQTT_HANDLER'));
      // (a route's error is the manager's, not counted in the session's own `errors`)
      expect(seen.map((r) => r.lastError?.message)).toEqual(
        seen.map(() => "the route for 'ss/boom' threw: boom"),
      );
    }, WAIT);
    expect((await b.cluster.sharedStats()).filter((r) => r.node === 'b').map((r) => r.lastError)).toEqual(
      b.running().map(() => null),
    );

    // never a credential: not in the rows, not in Redis
    expect(JSON.stringify(await b.cluster.sharedStats())).not.toContain(SECRET);
    expect(JSON.stringify(await admin.hgetall(keys.stats))).not.toContain(SECRET);

    // a row in the hash of a node that is not a member is not shown
    await admin.hset(
      keys.stats,
      'ghost',
      JSON.stringify({ t: 1, u: ['mqtt://x'], s: [['g-0', 0, 5, 'connected', 1, 0, 0, 0, 0, 0, 0, 0, 0]] }),
    );
    expect((await a.cluster.sharedStats()).map((r) => r.node)).not.toContain('ghost');

    // the watch ends: the key runs out, then the nodes stop writing and the hash runs out too
    stop();
    stop(); // twice: nothing more
    await vi.waitFor(async () => expect(await admin.exists(keys.watch)).toBe(0), WAIT);
    await vi.waitFor(async () => expect(await admin.exists(keys.stats)).toBe(0), WAIT);
  });

  it('two watches: sharing goes on until both stopped; a node that leaves disappears', async () => {
    const tag = 'sl';
    const keys = clusterKeys('mqttkit:', tag);
    const path = fleetFile(tag, 6);
    const a = await node(path, 'a');
    const b = await node(path, 'b');
    await Promise.all([a.m.connectAll(), b.m.connectAll()]);
    await vi.waitFor(() => expect(a.running().length + b.running().length).toBe(6), WAIT);
    expect(a.running().length).toBeGreaterThan(0);

    const first = b.cluster.watchStats();
    const second = b.cluster.watchStats();
    await vi.waitFor(async () => {
      const rows = await b.cluster.sharedStats();
      expect(new Set(rows.map((r) => r.node))).toEqual(new Set(['a', 'b']));
      expect(rows).toHaveLength(6);
    }, WAIT);
    first();
    // still watched by the second: a's field keeps being written (its time moves on)
    const t0 = (await b.cluster.sharedStats()).find((r) => r.node === 'a')?.t ?? 0;
    await vi.waitFor(async () => {
      const t = (await b.cluster.sharedStats()).find((r) => r.node === 'a')?.t ?? 0;
      expect(t).toBeGreaterThan(t0);
    }, WAIT);

    // a leaves: its field goes at once, and b runs everything
    await a.m.close();
    expect(await admin.hexists(keys.stats, 'a')).toBe(0);
    await vi.waitFor(async () => {
      const rows = await b.cluster.sharedStats();
      expect(rows.map((r) => r.node)).toEqual(rows.map(() => 'b'));
      expect(rows).toHaveLength(6);
    }, WAIT);
    second();
    await vi.waitFor(async () => expect(await admin.exists(keys.watch, keys.stats)).toBe(0), WAIT);
  });
});
