/**
 * `FleetNode` across processes: three node processes (`node-process.ts`,
 * each with its own ioredis client, RedisStore, SessionManager and
 * FleetNode) on one private redis-server and one private mosquitto, every
 * session publishing QoS 1 and QoS 2 to its own topic, and a subscriber here
 * counting what arrives (`fleet-harness.ts`): a node crashes, a node
 * freezes past its lease. Counted, not timed.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sessionKeyBase } from '../../src/store/redis.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';
import { FLEET, fleetCluster, type Lease, mark, PAYLOAD, WAIT } from './fleet-harness.js';

describe.skipIf(!hasRedis() || !hasMosquitto())('FleetNode processes', () => {
  let redis: RedisServer;
  let broker: Broker;
  let admin: Redis;

  beforeAll(async () => {
    [redis, broker] = await Promise.all([startRedis(), startMosquitto()]);
    admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
  });

  afterAll(async () => {
    admin?.disconnect();
    await Promise.all([redis?.stop(), broker?.stop()]);
  });

  const cluster = (tag: string, lease: Lease) => fleetCluster({ redis, broker, admin }, tag, lease);

  it(`SIGKILL one of three nodes (${FLEET} sessions): the survivors run its sessions, every resolved publish arrived, no QoS 2 duplicate`, async () => {
    const c = await cluster('kill', { ttl: 1_500, margin: 300, keepalive: 10 });
    const nodes = ['a', 'b', 'x'].map((id) => c.start(id));
    const [a, b, x] = nodes;
    await c.settled(nodes);
    await c.publishing(nodes, 0);
    const lost = c.holding('x');
    const since = c.log.length;

    x.proc.kill('SIGKILL');
    await x.exited;

    // after its lease runs out, a and b take each session x ran, with a higher token, and keep publishing
    await c.settled([a, b]);
    c.expectTakenOver(lost, ['a', 'b'], since);
    await c.publishing([a, b], since);

    // every publish that resolved anywhere (x's included) arrived; QoS 2 exactly once; no takeover at the broker
    expect(await c.allArrived()).toBeGreaterThan(FLEET * 4);
    expect(c.qos2Duplicates()).toEqual([]);
    expect(c.takeovers()).toEqual([]);
    expect(c.log.filter((e) => e.type === 'error')).toEqual([]);
  }, 120_000);

  it('SIGSTOP a node past its lease, then SIGCONT: it neither publishes nor writes for the sessions it lost, and the broker never has two connections of one id', async () => {
    // A frozen node's connections stay open at the broker until its keepalive check drops them; a new
    // owner connecting before that takes the client id over there. So the broker must drop them before
    // the lease can run out (at least ttl - one renewal interval after the freeze): keepalive 1 s, and
    // a ttl well above what mosquitto 2.0.11 takes to enforce it, which is not 1.5 keepalives but up to
    // about 6 s here (its keepalive check runs on a coarse loop). With 4 s the takeovers showed up.
    const c = await cluster('stop', { ttl: 12_000, margin: 2_000, keepalive: 1 });
    await c.skipQuiet(); // not a new cluster's first 12 s
    const nodes = ['a', 'b', 'x'].map((id) => c.start(id));
    const [a, b, x] = nodes;
    await c.settled(nodes);
    await c.publishing(nodes, 0);
    const lost = c.holding('x');
    const since = c.log.length;

    x.proc.kill('SIGSTOP');
    // a and b take each of x's sessions: its lease ran out in Redis
    await c.settled([a, b]);
    const taken = new Map<string, number>();
    for (const e of c.log.slice(since))
      if (e.type === 'acquired' && lost.has(e.clientId)) taken.set(e.clientId, e.token);
    expect([...taken.keys()].sort()).toEqual([...lost.keys()].sort());
    // what x had sent before it froze (all of it printed before the SIGSTOP)
    const before = new Set(c.log.flatMap((e) => (e.node === 'x' && e.type === 'sent' ? [e.payload] : [])));
    /** A payload x published for a session it lost, with the token it lost, after it froze. */
    const stale = (payload: string): boolean => {
      const m = mark(payload);
      return m.node === 'x' && lost.get(m.clientId) === m.token && !before.has(payload);
    };
    const woke = c.log.length;

    x.proc.kill('SIGCONT');
    // x stops every session it had ('unsafe' at its local deadline, 'lost' or 'fenced'), then joins
    // again and gets its share back
    await vi.waitFor(() => {
      const released = new Map<string, string>();
      for (const e of c.log.slice(woke))
        if (e.node === 'x' && e.type === 'released') released.set(e.clientId, e.reason);
      expect([...released.keys()].sort()).toEqual([...lost.keys()].sort());
      for (const reason of released.values()) expect(['unsafe', 'lost', 'fenced']).toContain(reason);
    }, WAIT);
    await c.settled(nodes);
    const back = c.log.length;
    await c.publishing(nodes, back);

    // the wire: nothing x published under a lost token after it froze reached the subscriber
    expect([...c.received.keys()].filter(stale)).toEqual([]);
    // x may still call publish() at the instant it wakes (its timers fire in one batch, the app's
    // round before the node's deadline check): none of those calls resolved
    expect(c.log.filter((e) => e.type === 'ok' && stale(e.payload))).toEqual([]);

    // the store: each session's fence and owner are its current owner's, and its records hold
    // nothing x wrote under a lost token after it froze
    for (const id of lost.keys()) {
      const base = sessionKeyBase(c.prefix, id);
      const owner = ['a', 'b', 'x'].find((n) => c.holding(n).has(id)) as string;
      const token = c.holding(owner).get(id) as number;
      expect(token).toBeGreaterThanOrEqual(taken.get(id) as number);
      expect(await admin.get(`${base}fence`)).toBe(String(token));
      // `<node> <incarnation> <token>`
      expect(await admin.get(`${base}owner`)).toMatch(new RegExp(`^${owner} \\S+ ${token}$`));
      const records = await admin.hgetallBuffer(`${base}m`);
      const written = Object.values(records).flatMap((r) =>
        [...r.toString('latin1').matchAll(PAYLOAD)].map((m) => m[0]),
      );
      expect(written.filter(stale)).toEqual([]);
    }

    // the broker never had two connections with one client id; every publish that resolved arrived, once at QoS 2
    expect(c.takeovers()).toEqual([]);
    await c.allArrived();
    expect(c.qos2Duplicates()).toEqual([]);
  }, 120_000);
});
