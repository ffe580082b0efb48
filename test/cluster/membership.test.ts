/**
 * `Membership` (`src/cluster/membership.ts`) against a private redis-server:
 * nodes see each other, a node id is held by one live process at a time, a
 * node that stops renewing drops out after its ttl, `leave()` is seen at
 * once, and a node that cannot renew knows when it must stop. No fixed
 * sleeps: conditions are polled with a deadline (`vi.waitFor`) or awaited
 * as events, and the deadline arithmetic runs on an injected clock.
 */

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { clusterKeys } from '../../src/cluster/keys.js';
import {
  type Member,
  type MembersChange,
  Membership,
  type MembershipClient,
  type MembershipOptions,
} from '../../src/cluster/membership.js';
import { ClusterError, InvalidArgumentError } from '../../src/core/errors.js';
import { onCleanup } from '../helpers/cleanup.js';
import { startProxy } from '../helpers/proxy.js';
import { hasRedis, type RedisServer, redisForBlock } from '../helpers/redis.js';

/**
 * Options of a client that fails a command at once while it has no
 * connection (the proxy's `refuse` accepts and then closes each connection,
 * which ioredis counts as connected, so `maxRetriesPerRequest` never trips).
 */
const FAST_FAIL: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  retryStrategy: () => 20,
};

const ids = (members: readonly Member[]): string[] => members.map((m) => m.id);

/** Redis's `TIME` reply in ms. */
const redisMs = ([seconds, micros]: readonly (string | number)[]): number =>
  Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);

/** A clock the test moves by hand. */
function fakeClock(start = 1_000): { now: number; read: () => number } {
  const c = { now: start, read: () => c.now };
  return c;
}

/** What a call rejected with (fails the test if it resolved). */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  return expect.unreachable('it resolved');
}

describe('Membership options', () => {
  const client = { evalsha: async () => null, eval: async () => null } as MembershipClient;
  const base: MembershipOptions = { client, cluster: 'c', node: 'n' };

  it('are checked, with an InvalidArgumentError naming the field', () => {
    const refused = (options: unknown, field: string): void => {
      const err = (() => {
        try {
          new Membership(options as MembershipOptions);
        } catch (e) {
          return e;
        }
      })();
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).field).toBe(field);
    };
    refused({ ...base, client: {} }, 'options.client');
    refused({ ...base, cluster: 'a{b' }, 'options.cluster');
    refused({ ...base, cluster: '' }, 'options.cluster');
    refused({ ...base, node: 'gw 1' }, 'options.node');
    refused({ ...base, node: 'x'.repeat(201) }, 'options.node');
    refused({ ...base, weight: -1 }, 'options.weight');
    refused({ ...base, weight: Number.NaN }, 'options.weight');
    refused({ ...base, ttl: 99 }, 'options.ttl');
    refused({ ...base, ttl: 1_000, margin: 1_000 }, 'options.margin');
    refused({ ...base, nodes: 'n' }, 'options.nodes');
    refused({ cluster: 'c', node: 'n' }, 'options.client');
  });

  it('have defaults: ttl 10 s, margin a fifth of it, weight 1', () => {
    const m = new Membership(base);
    expect([m.ttl, m.margin, m.weight, m.state, m.safeUntil]).toEqual([
      10_000,
      2_000,
      1,
      'idle',
      Number.NEGATIVE_INFINITY,
    ]);
    expect(m.isSafe()).toBe(false);
    expect(() => m.setWeight(-2)).toThrow(InvalidArgumentError);
    expect(() => m.start()).toThrow(ClusterError);
  });
});

describe.skipIf(!hasRedis())('Membership on Redis', () => {
  let redis: RedisServer;
  let admin: Redis;

  redisForBlock((server, client) => {
    redis = server;
    admin = client;
  });

  /** A connected ioredis client (to `port`, the server's by default), closed after the test. */
  async function client(port = redis.port, options: RedisOptions = { lazyConnect: true }): Promise<Redis> {
    const c = new Redis(port, '127.0.0.1', options);
    c.on('error', () => {});
    onCleanup(() => c.disconnect());
    await c.connect();
    return c;
  }

  /** Memberships of one fresh cluster, each with its own client (a process of its own). */
  function cluster(defaults: Partial<MembershipOptions> = {}) {
    const name = `c-${randomUUID()}`;
    const prefix = `mqttkit-test:${randomUUID()}:`;
    return {
      name,
      prefix,
      keys: clusterKeys(prefix, name),
      async node(node: string, options: Partial<MembershipOptions> = {}): Promise<Membership> {
        const m = new Membership({
          client: await client(),
          prefix,
          cluster: name,
          node,
          ...defaults,
          ...options,
        });
        onCleanup(() => {
          m.stop();
          m.removeAllListeners();
        });
        return m;
      },
    };
  }

  it('accepts an ioredis client as it is', () => {
    const c: MembershipClient = admin;
    expect(typeof c.evalsha).toBe('function');
  });

  it('lets two nodes see each other, with their weights, after a renewal', async () => {
    const c = cluster();
    const a = await c.node('gw-a');
    const b = await c.node('gw-b', { weight: 2.5 });
    const changes: MembersChange[] = [];
    a.on('members', (change) => changes.push(change));
    const renewed: string[][] = [];
    a.on('renewed', (members) => renewed.push(ids(members)));

    expect(ids(await a.join())).toEqual(['gw-a']);
    const seenByB = await b.join();
    expect(seenByB.map((m) => [m.id, m.weight])).toEqual([
      ['gw-a', 1],
      ['gw-b', 2.5],
    ]);
    const list = await a.renew();
    expect(ids(list)).toEqual(['gw-a', 'gw-b']);
    expect(a.members).toBe(list);
    expect(changes.map((ch) => [ch.joined, ch.left])).toEqual([
      [['gw-a'], []],
      [['gw-b'], []],
    ]);
    // 'renewed' follows every answer, the join's included, changed or not
    await a.renew();
    expect(renewed).toEqual([['gw-a'], ['gw-a', 'gw-b'], ['gw-a', 'gw-b']]);
    // the keys are the cluster's, under its hash tag
    const base = `${c.prefix}{cluster:${c.name}}:`;
    expect((await admin.zrange(`${base}nodes`, '0', '-1')).sort()).toEqual(['gw-a', 'gw-b']);
    expect(await admin.hgetall(`${base}weights`)).toEqual({ 'gw-a': '1', 'gw-b': '2.5' });
    expect(await admin.get(`${base}node:gw-a`)).toBe(a.incarnation);
    expect(await admin.pttl(`${base}node:gw-a`)).toBeGreaterThan(0);
    // an expiry is Redis time + ttl
    const [seconds] = await admin.time();
    for (const m of a.members)
      expect(Math.abs(m.expires - Number(seconds) * 1000 - a.ttl)).toBeLessThan(5_000);

    // a new weight is written by the next renewal, and counts as a change
    b.setWeight(0);
    await b.renew();
    expect((await a.renew()).find((m) => m.id === 'gw-b')?.weight).toBe(0);
    expect(changes).toHaveLength(3);
    expect(changes[2]).toMatchObject({ joined: [], left: [] });
  });

  it('refuses a node id that a live node holds, until that node leaves', async () => {
    const c = cluster({ ttl: 5_000 });
    const first = await c.node('gw-1');
    const second = await c.node('gw-1');
    await first.join();

    const err = await rejection(second.join());
    expect(err).toBeInstanceOf(ClusterError);
    expect(err).toMatchObject({ code: 'ERR_MQTT_CLUSTER', reason: 'node-taken' });
    const retryAfter = (err as ClusterError).retryAfter as number;
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(5_000);
    expect(second.state).toBe('idle');
    expect(second.isSafe()).toBe(false);
    // the holder is untouched
    expect(first.incarnation).toBe(await admin.get(c.keys.node('gw-1')));
    expect(ids(await first.renew())).toEqual(['gw-1']);

    await first.leave();
    expect(ids(await second.join())).toEqual(['gw-1']);
    expect(second.incarnation).not.toBe(first.incarnation);
  });

  it('lets a join whose answer was lost be retried (the lease it took is its own)', async () => {
    const c = cluster();
    const real = await client();
    let lose = true;
    const lossy: MembershipClient = {
      evalsha: async (...args) => {
        const reply = await real.evalsha(...args);
        if (lose) {
          lose = false;
          throw new Error('connection lost before the answer');
        }
        return reply;
      },
      eval: async (...args) => {
        const reply = await real.eval(...args);
        if (lose) {
          lose = false;
          throw new Error('connection lost before the answer');
        }
        return reply;
      },
    };
    const m = await c.node('gw-1', { client: lossy });
    await expect(m.join()).rejects.toThrow('connection lost');
    expect(await admin.exists(c.keys.node('gw-1'))).toBe(1);
    expect(ids(await m.join())).toEqual(['gw-1']);
  });

  it('drops a node whose renewals stop from the others once its ttl passes; if it comes back, it is lost and must join again', async () => {
    const c = cluster({ ttl: 300, margin: 50 });
    const a = await c.node('gw-a');
    const b = await c.node('gw-b');
    await a.join();
    await b.join();
    expect(ids(await b.renew())).toEqual(['gw-a', 'gw-b']);
    const left: string[] = [];
    b.on('members', (change) => left.push(...change.left));

    // a renews no more; b's renewals see it go once its lease has run out
    await vi.waitFor(async () => expect(ids(await b.renew())).toEqual(['gw-b']), {
      timeout: 5_000,
      interval: 50,
    });
    expect(left).toEqual(['gw-a']);
    expect(await admin.zscore(c.keys.nodes, 'gw-a')).toBeNull();
    expect(await admin.hget(c.keys.weights, 'gw-a')).toBeNull();

    // a renews again: its incarnation does not come back; it is lost, unsafe, and joins anew
    const old = a.incarnation;
    const lost = once(a, 'lost');
    const err = await rejection(a.renew());
    expect(err).toMatchObject({ reason: 'lapsed' });
    expect((await lost)[0]).toBe(err);
    expect(a.state).toBe('lost');
    expect(a.isSafe()).toBe(false);
    expect(await admin.exists(c.keys.node('gw-a'))).toBe(0);
    expect(ids(await a.join())).toEqual(['gw-a', 'gw-b']);
    expect(a.incarnation).not.toBe(old);
  });

  it('tells a node whose id another process took after its lease ran out: it is lost, and unsafe', async () => {
    const c = cluster({ ttl: 300, margin: 50 });
    const old = await c.node('gw-1');
    await old.join();
    const taker = await c.node('gw-1');
    await vi.waitFor(() => taker.join(), { timeout: 5_000, interval: 50 });

    const lost = once(old, 'lost');
    const err = await rejection(old.renew());
    expect(err).toMatchObject({ reason: 'node-taken' });
    expect((await lost)[0]).toBe(err);
    expect(old.state).toBe('lost');
    expect(old.isSafe()).toBe(false);
    expect(old.members).toEqual([]);
    expect(await rejection(old.renew())).toMatchObject({ reason: 'not-joined' });
    // the taker's lease is untouched, and the old one's leave() does not remove it
    await old.leave();
    expect(await admin.get(c.keys.node('gw-1'))).toBe(taker.incarnation);
    expect(ids(await taker.renew())).toEqual(['gw-1']);
  });

  it('removes a node that leaves at once', async () => {
    const c = cluster({ ttl: 60_000 });
    const a = await c.node('gw-a');
    const b = await c.node('gw-b');
    await a.join();
    await b.join();
    expect(a.isSafe()).toBe(true);

    await a.leave();
    expect(a.state).toBe('left');
    expect(a.isSafe()).toBe(false);
    expect(a.members).toEqual([]);
    expect(ids(await b.renew())).toEqual(['gw-b']);
    expect(await admin.exists(c.keys.node('gw-a'))).toBe(0);
    expect(await admin.hget(c.keys.weights, 'gw-a')).toBeNull();
    expect(await rejection(a.renew())).toMatchObject({ reason: 'not-joined' });

    // and may join again, as a new incarnation
    const before = a.incarnation;
    await a.join();
    expect(a.incarnation).not.toBe(before);
    expect(ids(await b.renew())).toEqual(['gw-a', 'gw-b']);
  });

  it('keeps a new cluster quiet for one ttl from its first join, on Redis time, the same end for every node', async () => {
    // a ttl long enough that a stall of this machine does not let a lease run out between renewals
    const c = cluster({ ttl: 1_500, margin: 300 });
    const a = await c.node('gw-a');
    const b = await c.node('gw-b');
    expect([a.quiet, a.quietUntil]).toEqual([true, Number.POSITIVE_INFINITY]);

    const before = redisMs(await admin.time());
    await a.join();
    const after = redisMs(await admin.time());
    expect(a.quiet).toBe(true);
    expect(a.quietUntil).toBeGreaterThanOrEqual(before + 1_500);
    expect(a.quietUntil).toBeLessThanOrEqual(after + 1_500);
    // one key, the cluster's, that never expires
    expect(await admin.get(c.keys.quiet)).toBe(String(a.quietUntil));
    expect(await admin.pttl(c.keys.quiet)).toBe(-1);
    await b.join();
    expect([b.quiet, b.quietUntil]).toEqual([true, a.quietUntil]);
    await b.leave();

    // quiet while Redis's clock is before the end; then not, for every node, and for one that joins later
    await vi.waitFor(
      async () => {
        await a.renew();
        expect(a.quiet).toBe(false);
      },
      { timeout: 5_000, interval: 20 },
    );
    expect(redisMs(await admin.time())).toBeGreaterThanOrEqual(a.quietUntil);
    await b.join();
    expect([b.quiet, b.quietUntil]).toEqual([false, a.quietUntil]);
    await a.renew();
    expect(a.quiet).toBe(false); // once over, it stays over
    const later = await c.node('gw-c');
    await later.join();
    expect([later.quiet, later.quietUntil]).toEqual([false, a.quietUntil]);

    // not a member: nothing is known, so quiet
    await later.leave();
    expect(later.quiet).toBe(true);
  });

  it('starts a new quiet period when Redis lost the cluster (its keys gone): the node is lost, and quiet again once it joins', async () => {
    const c = cluster({ ttl: 1_000, margin: 200 });
    const a = await c.node('gw-a');
    await a.join();
    await admin.set(c.keys.quiet, '1'); // a cluster long past its quiet period
    await a.renew();
    expect([a.quiet, a.quietUntil]).toEqual([false, 1]);

    // what a restart without persistence does to this cluster's keys
    await admin.del(c.keys.nodes, c.keys.weights, c.keys.node('gw-a'), c.keys.quiet);
    expect(await rejection(a.renew())).toMatchObject({ reason: 'lapsed' });
    expect(a.quiet).toBe(true);
    // the lapsed renewal wrote nothing; the join does
    expect(await admin.exists(c.keys.quiet)).toBe(0);
    const before = redisMs(await admin.time());
    await a.join();
    expect(a.quiet).toBe(true);
    expect(a.quietUntil).toBeGreaterThanOrEqual(before + 1_000);
    expect(await admin.get(c.keys.quiet)).toBe(String(a.quietUntil));
  });

  it('costs one command per renewal, whatever it finds; Redis losing the script costs one more, once', async () => {
    const c = cluster();
    const a = await c.node('gw-a');
    const b = await c.node('gw-b');
    await a.join();
    await b.join();
    const calls = async (command: string): Promise<number> => {
      const info = await admin.info('commandstats');
      return Number(new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
    };
    const [sha0, eval0] = [await calls('evalsha'), await calls('eval')];
    for (let i = 0; i < 10; i++) await a.renew();
    expect([(await calls('evalsha')) - sha0, (await calls('eval')) - eval0]).toEqual([10, 0]);

    await admin.script('FLUSH');
    expect(ids(await a.renew())).toEqual(['gw-a', 'gw-b']);
    expect([(await calls('evalsha')) - sha0, (await calls('eval')) - eval0]).toEqual([11, 1]);
  });

  it('fails a renewal while Redis cannot be reached, and is unsafe once safeUntil passes', async () => {
    const proxy = await startProxy({ port: redis.port });
    onCleanup(() => proxy.close());
    const clock = fakeClock();
    const c = cluster({ ttl: 3_000, margin: 500, clock: clock.read });
    const link = await client(proxy.port, FAST_FAIL);
    const m = await c.node('gw-1', { client: link });

    await m.join();
    expect(m.safeUntil).toBe(1_000 + 3_000 - 500);
    clock.now = 2_000;
    await m.renew(); // sent at 2,000
    expect(m.safeUntil).toBe(4_500);
    expect(m.isSafe()).toBe(true);

    // (once the client knows: a command sent just before would wait for a connection)
    const closed = once(link, 'close');
    proxy.refuse(true);
    proxy.cut();
    await closed;
    clock.now = 3_000;
    await expect(m.renew()).rejects.toThrow();
    expect(m.safeUntil).toBe(4_500); // a failure moves nothing
    expect(m.state).toBe('joined');
    expect(m.isSafe(4_499)).toBe(true);
    clock.now = 4_500;
    expect(m.isSafe()).toBe(false);

    // Redis back: the next renewal that succeeds counts from when it was sent
    proxy.refuse(false);
    clock.now = 5_000;
    await vi.waitFor(() => m.renew(), { timeout: 5_000, interval: 50 });
    expect(m.safeUntil).toBe(7_500);
    expect(m.isSafe()).toBe(true);
  });

  it('counts a renewal answered late from when it was sent: it cannot make the node safe', async () => {
    const proxy = await startProxy({ port: redis.port });
    onCleanup(() => proxy.close());
    const clock = fakeClock();
    const c = cluster({ ttl: 3_000, margin: 500, clock: clock.read });
    const m = await c.node('gw-1', { client: await client(proxy.port) });
    await m.join();

    proxy.blackhole();
    clock.now = 2_000;
    const late = m.renew(); // sent at 2,000, held by the network
    clock.now = 6_000;
    expect(m.isSafe()).toBe(false);
    // the network comes back (a new connection: ioredis sends the command again)
    proxy.restore();
    proxy.cut();
    await late;
    expect(m.safeUntil).toBe(4_500);
    expect(m.isSafe()).toBe(false);
  });

  it("start() renews on its own, and reports failures, 'unsafe' and 'safe' again", async () => {
    const proxy = await startProxy({ port: redis.port });
    onCleanup(() => proxy.close());
    // the margin leaves 1.5 s between 'unsafe' and the lease running out in Redis: time to reconnect
    const c = cluster({ ttl: 3_000, margin: 1_500 });
    const a = await c.node('gw-a', { client: await client(proxy.port, FAST_FAIL) });
    const b = await c.node('gw-b');
    await a.join();
    await b.join();
    const firstExpiry = (await b.renew()).find((m) => m.id === 'gw-a')?.expires as number;
    expect(() => a.start(1_600)).toThrow(InvalidArgumentError); // not below ttl - margin
    a.start(); // every 500 ms
    b.start();

    // a renews by itself: its expiry moves on, two renewals and more
    await vi.waitFor(
      async () => {
        const seen = (await b.renew()).find((m) => m.id === 'gw-a');
        expect(seen?.expires).toBeGreaterThanOrEqual(firstExpiry + 2 * 500);
      },
      { timeout: 10_000, interval: 100 },
    );
    expect(a.isSafe()).toBe(true);

    // Redis unreachable: renewals fail, then the deadline passes
    const failed = once(a, 'renewal_failed');
    const unsafe = once(a, 'unsafe');
    proxy.refuse(true);
    proxy.cut();
    await failed;
    await unsafe;
    expect(a.isSafe()).toBe(false);

    // back: the next renewal makes it safe again
    const safe = once(a, 'safe');
    proxy.refuse(false);
    await safe;
    expect(a.isSafe()).toBe(true);
    expect(ids(a.members)).toEqual(['gw-a', 'gw-b']);

    // stop(): no more renewals, so the others see it go
    a.stop();
    await vi.waitFor(async () => expect(ids(await b.renew())).toEqual(['gw-b']), {
      timeout: 5_000,
      interval: 50,
    });
  });

  it('an outage past the ttl loses the lease for good: the node is lost and joins as a new incarnation', async () => {
    const proxy = await startProxy({ port: redis.port });
    onCleanup(() => proxy.close());
    const c = cluster({ ttl: 600, margin: 200 });
    const a = await c.node('gw-a', { client: await client(proxy.port, FAST_FAIL) });
    await a.join();
    const first = a.incarnation;
    a.start();
    const lost = once(a, 'lost');
    proxy.refuse(true);
    proxy.cut();
    // the lease runs out in Redis while the node cannot reach it
    await vi.waitFor(async () => expect(await admin.exists(c.keys.node('gw-a'))).toBe(0), {
      timeout: 5_000,
      interval: 50,
    });
    proxy.refuse(false);
    const [err] = await lost;
    expect(err).toMatchObject({ reason: 'lapsed' });
    expect(a.state).toBe('lost');
    expect(a.isSafe()).toBe(false);
    expect(await admin.exists(c.keys.node('gw-a'))).toBe(0); // not set again for the old incarnation
    await a.join();
    expect(a.incarnation).not.toBe(first);
  });
});
