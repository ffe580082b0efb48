/**
 * `FleetNode` across processes, when the cluster changes on purpose or
 * Redis forgets it: a node joins two others, a node leaves on SIGTERM, and
 * the redis-server restarts without its data. Node processes
 * (`node-process.ts`) on one private redis-server and one private
 * mosquitto, every session publishing QoS 1 and QoS 2, a subscriber here
 * counting what arrives (`fleet-harness.ts`). Counted, not timed: the only
 * bound that matters is the SIGTERM test's, a third of the lease.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Placement } from '../../src/cluster/assignment.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';
import { FLEET, fleetCluster, type Lease, WAIT } from './fleet-harness.js';

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

describe.skipIf(!hasRedis() || !hasMosquitto())('FleetNode processes: join, leave, Redis restart', () => {
  let redis: RedisServer;
  let broker: Broker;
  let admin: Redis;

  beforeAll(async () => {
    [redis, broker] = await Promise.all([startRedis(), startMosquitto()]);
    admin = new Redis(redis.url, { lazyConnect: true, retryStrategy: () => 50 });
    admin.on('error', () => {});
    await admin.connect();
  });

  afterAll(async () => {
    admin?.disconnect();
    await Promise.all([redis?.stop(), broker?.stop()]);
  });

  const cluster = (tag: string, lease: Lease) => fleetCluster({ redis, broker, admin }, tag, lease);

  it(`a third node joins two (${FLEET} sessions): only its share moves, all of it to the new node; nothing lost, no QoS 2 duplicate, no takeover`, async () => {
    // a lease a stall of this (loaded, 2-core) machine does not outlast: the nodes neither pause nor lose
    // their sessions meanwhile, so what moves is the join's doing alone
    const c = await cluster('join', { ttl: 6_000, margin: 1_500, keepalive: 10, interval: 500 });
    await c.skipQuiet(); // not a new cluster's first 6 s
    const old = ['a', 'b'].map((id) => c.start(id));
    await c.settled(old);
    await c.publishing(old, 0);
    const before = new Map(old.map((n) => [n.id, c.holding(n.id)]));
    const since = c.log.length;

    const n = c.start('n');
    const all = [...old, n];
    await c.settled(all);
    await c.publishing(all, since, 3); // three after the join, two before: more than FLEET * 4 in all

    // what moved went to n, each session handed off by the node that ran it, and nothing moved between
    // a and b: they run what they ran, with the same tokens, and acquired nothing else since (a node
    // paused by a stall of this machine resumes its own sessions with their tokens: not a move)
    const moved = c.holding('n');
    const events = c.log.slice(since);
    for (const x of old) {
      const was = before.get(x.id) as Map<string, number>;
      for (const [id, token] of c.holding(x.id)) expect([id, was.get(id)]).toEqual([id, token]);
      for (const e of events)
        if (e.type === 'acquired' && e.node === x.id)
          expect([e.clientId, e.token]).toEqual([e.clientId, was.get(e.clientId)]);
      const gave = events.flatMap((e) =>
        e.type === 'released' && e.node === x.id && e.reason === 'handoff' ? [e.clientId] : [],
      );
      expect(sorted(gave)).toEqual(sorted([...moved.keys()].filter((id) => was.has(id))));
    }
    for (const [id, token] of moved) {
      const was = old.map((x) => before.get(x.id)?.get(id)).find((t) => t !== undefined);
      expect(token).toBeGreaterThan(was as number);
    }
    // about a third moved: exactly what the placement over a, b and n gives n (the ids are fixed, so the
    // count is too), and within four standard deviations of FLEET / 3 (binomial, p = 1/3)
    const share = new Placement(all.map((x) => ({ id: x.id }))).assign(c.ids).get('n') ?? [];
    expect(sorted(moved.keys())).toEqual(sorted(share));
    const sd = Math.sqrt((FLEET * 2) / 9);
    expect(Math.abs(moved.size - FLEET / 3)).toBeLessThanOrEqual(4 * sd);

    // the handoff was graceful: every publish that resolved arrived, QoS 2 once, no takeover at the broker
    expect(await c.allArrived()).toBeGreaterThan(FLEET * 4);
    expect(c.qos2Duplicates()).toEqual([]);
    expect(c.takeovers()).toEqual([]);
    expect(c.errors()).toEqual([]);
  }, 120_000);

  it('SIGTERM: the node leaves, and the others run its sessions well before its 60 s lease could run out; nothing lost, no QoS 2 duplicate', async () => {
    // a lease far longer than any wait below: a takeover that waited for it would time out
    const ttl = 60_000;
    const bound = { timeout: ttl / 3, interval: 50 };
    const c = await cluster('term', { ttl, margin: 10_000, keepalive: 10, interval: 500 });
    await c.skipQuiet(); // not a new cluster's first minute
    const nodes = ['a', 'b', 'x'].map((id) => c.start(id));
    const [a, b, x] = nodes;
    await c.settled(nodes);
    await c.publishing(nodes, 0);
    const lost = c.holding('x');
    const since = c.log.length;

    x.proc.kill('SIGTERM');
    // it stopped every session ('leave'), released them and deleted its lease, then exited 0
    expect(await x.exited).toEqual([0, null]);
    const left = c.log.slice(since).filter((e) => e.node === 'x');
    expect(left.at(-1)).toMatchObject({ type: 'stopped' });
    const released = left.flatMap((e) => (e.type === 'released' ? [e] : []));
    expect(sorted(released.map((e) => e.clientId))).toEqual(sorted(lost.keys()));
    expect(released.every((e) => e.reason === 'leave')).toBe(true);
    expect(await admin.exists(c.keys.node('x'))).toBe(0);

    // a and b take each of them, with a higher token, well within the lease x held
    await c.settled([a, b], bound);
    c.expectTakenOver(lost, ['a', 'b'], since);
    await c.publishing([a, b], since, 3); // three after the handoff, two before: more than FLEET * 4 in all

    expect(await c.allArrived()).toBeGreaterThan(FLEET * 4);
    expect(c.qos2Duplicates()).toEqual([]);
    expect(c.takeovers()).toEqual([]);
    expect(c.errors()).toEqual([]);
  }, 120_000);

  it('Redis restarts without its data: the nodes stop what they can no longer prove they own, then take it back, never two at once', async () => {
    // a renews every 300 ms, b and x every (ttl - margin) / 3 = 1.67 s: after the restart, a finds its
    // lease gone and joins again first, while b and x still run their sessions until their own
    // renewals fail. It must not take those before they have stopped (the quiet period: one ttl)
    const c = await cluster('restart', { ttl: 6_000, margin: 1_000, keepalive: 10 });
    await c.skipQuiet();
    const nodes = [c.start('a', { interval: 300 }), c.start('b'), c.start('x')];
    await c.settled(nodes);
    await c.publishing(nodes, 0);
    const ran = new Map(nodes.map((n) => [n.id, c.holding(n.id)]));
    const since = c.log.length;

    await redis.restart();
    // each node stops every session it ran (its lease gone: 'lost'; or a store write refused,
    // the session's fence gone: 'fenced'; or Redis away past its deadline: 'unsafe')
    await vi.waitFor(() => {
      for (const n of nodes) {
        const stopped = c.log
          .slice(since)
          .flatMap((e) => (e.type === 'released' && e.node === n.id ? [e] : []));
        const ids = new Set(stopped.map((e) => e.clientId));
        const running = [...(ran.get(n.id) as Map<string, number>).keys()].filter((id) => !ids.has(id));
        expect([n.id, running]).toEqual([n.id, []]);
        for (const e of stopped) expect(['lost', 'fenced', 'unsafe']).toContain(e.reason);
      }
    }, WAIT);
    // then they take everything back, and publish again
    await c.settled(nodes);
    const back = c.log.length;
    await c.publishing(nodes, back);

    // never two owners: no session acquired while another node ran it (its lines say), and no
    // second connection of one client id at the broker
    expect(c.twoOwners(since)).toEqual([]);
    expect(c.takeovers()).toEqual([]);
    // what resolved before the restart arrived, QoS 2 once
    await c.allArrived(since);
    expect(c.qos2Duplicates()).toEqual([]);
  }, 120_000);
});
