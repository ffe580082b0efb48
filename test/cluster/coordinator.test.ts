/**
 * `FleetNode` (`src/cluster/coordinator.ts`): nodes in one process, each
 * with its own SessionManager, ioredis client and RedisStore, against a
 * private redis-server and a private mosquitto. Counted, not timed: every
 * wait is for an event or a condition (`vi.waitFor`), and "soon" is
 * measured in renewals.
 *
 * The broker's log is the witness of "never two connections with one
 * client id": mosquitto logs each accepted connection ("New client
 * connected ... as <id> (") and, for a second connection with an id already
 * connected, "Client <id> already connected, closing old connection.".
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Placement } from '../../src/cluster/assignment.js';
import { FleetNode, type ReleaseReason } from '../../src/cluster/coordinator.js';
import { clusterKeys } from '../../src/cluster/keys.js';
import { Leases } from '../../src/cluster/leases.js';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { type ManagedSessionOptions, SessionManager } from '../../src/manager/index.js';
import { Session } from '../../src/session/index.js';
import { RedisStore, sessionKeyBase } from '../../src/store/redis.js';
import { onCleanup } from '../helpers/cleanup.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { startProxy, type Proxy as TcpProxy } from '../helpers/proxy.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';

const TTL = 1_000;
const MARGIN = 200;

/** One event of any node, in the order the process saw them. */
type Logged =
  | { node: string; type: 'acquired'; name: string; token: number }
  | { node: string; type: 'released'; name: string; reason: ReleaseReason }
  | { node: string; type: 'joined' | 'left'; id: string }
  | { node: string; type: 'renewed'; quiet: boolean };
type Acquired = Extract<Logged, { type: 'acquired' }>;
const isAcquired = (e: Logged): e is Acquired => e.type === 'acquired';

interface Node {
  id: string;
  fleet: FleetNode;
  manager: SessionManager;
  store: RedisStore;
  client: Redis;
  /** The names of the sessions running here, sorted. */
  running(): string[];
}

interface NodeOptions {
  /** Where the node's Redis client connects (a proxy's port, to cut it). */
  redisPort?: number;
  ttl?: number;
  margin?: number;
  /** The client fails commands at once while it has no connection. */
  failFast?: boolean;
  /** ms between renewals (the node's default when unset). */
  interval?: number;
}

const sorted = (xs: Iterable<string>): string[] => [...xs].sort();

describe.skipIf(!hasRedis() || !hasMosquitto())('FleetNode', () => {
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

  /** `n` sessions named and identified `<tag>-<i>`, to `url` (the broker by default). */
  function sessions(tag: string, n: number, url = broker.url): ManagedSessionOptions[] {
    return Array.from({ length: n }, (_, i) => ({
      name: `${tag}-${i}`,
      clientId: `${tag}-${i}`,
      url,
      clean: false,
      sessionExpiry: 300,
      keepalive: 10,
      reconnect: { initialDelay: 50, maxDelay: 200 },
    }));
  }

  /** A cluster of nodes in this process: one fresh cluster name and key prefix, one event log. */
  function cluster() {
    const name = `c-${randomUUID()}`;
    const prefix = `mqttkit-test:${randomUUID()}:`;
    const log: Logged[] = [];
    return {
      name,
      prefix,
      log,
      keys: clusterKeys(prefix, name),
      /** A node with its own client (to `redisPort`), store and manager; stopped after the test unless `crashed`. */
      async node(
        id: string,
        fleet: ManagedSessionOptions[],
        { redisPort = redis.port, ttl = TTL, margin = MARGIN, failFast = false, interval }: NodeOptions = {},
      ): Promise<Node & { crashed: boolean }> {
        const client = new Redis(redisPort, '127.0.0.1', {
          lazyConnect: true,
          retryStrategy: () => 50,
          // fail a command at once while there is no connection (as the membership tests do)
          enableOfflineQueue: !failFast,
        });
        client.on('error', () => {});
        await client.connect();
        const store = new RedisStore({ client, prefix });
        const manager = new SessionManager();
        const node = new FleetNode({
          manager,
          sessions: fleet,
          client,
          store,
          cluster: name,
          node: id,
          prefix,
          ttl,
          margin,
          interval,
        });
        node.on('session_acquired', (e) =>
          log.push({ node: id, type: 'acquired', name: e.name, token: e.token }),
        );
        node.on('session_released', (e) =>
          log.push({ node: id, type: 'released', name: e.name, reason: e.reason }),
        );
        node.on('node_joined', (e) => log.push({ node: id, type: 'joined', id: e.id }));
        node.on('node_left', (e) => log.push({ node: id, type: 'left', id: e.id }));
        node.membership.on('renewed', () =>
          log.push({ node: id, type: 'renewed', quiet: node.membership.quiet }),
        );
        const out = {
          id,
          fleet: node,
          manager,
          store,
          client,
          crashed: false,
          running: () => sorted(manager.list()),
        };
        onCleanup(async () => {
          if (!out.crashed) await node.stop().catch(() => {});
          await manager.close();
          client.disconnect();
        });
        return out;
      },
    };
  }

  /** Where the placement over `ids` puts each session of `fleet`. */
  function placed(fleet: ManagedSessionOptions[], ids: string[]): Map<string, string[]> {
    const p = new Placement(ids.map((id) => ({ id })));
    const out = new Map(ids.map((id) => [id, [] as string[]]));
    for (const s of fleet) out.get(p.owner(s.clientId as string) as string)?.push(s.name);
    for (const list of out.values()) list.sort();
    return out;
  }

  /** Waits until each node runs exactly what the placement over them gives it, every session connected. */
  async function settled(nodes: Node[], fleet: ManagedSessionOptions[]): Promise<void> {
    const want = placed(
      fleet,
      nodes.map((n) => n.id),
    );
    await vi.waitFor(
      () => {
        for (const n of nodes) {
          expect(n.running()).toEqual(want.get(n.id));
          for (const name of n.running()) expect(n.manager.get(name)?.state).toBe('connected');
        }
      },
      { timeout: 15_000, interval: 20 },
    );
  }

  /**
   * What the broker saw of the client ids starting with `tag`: connections
   * accepted, those live now (accepted minus ended), and takeovers.
   */
  function brokerView(tag: string): {
    connects: Map<string, number>;
    live: Map<string, number>;
    takeovers: string[];
  } {
    const text = broker.log();
    const connects = new Map<string, number>();
    const live = new Map<string, number>();
    const esc = tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    for (const m of text.matchAll(new RegExp(` as (${esc}-\\d+) \\(`, 'g'))) {
      connects.set(m[1], (connects.get(m[1]) ?? 0) + 1);
      live.set(m[1], (live.get(m[1]) ?? 0) + 1);
    }
    for (const m of text.matchAll(
      new RegExp(`Client (${esc}-\\d+) (?:disconnected|closed its connection|has exceeded timeout)`, 'g'),
    ))
      live.set(m[1], (live.get(m[1]) ?? 0) - 1);
    const takeovers = [...text.matchAll(new RegExp(`Client (${esc}-\\d+) already connected`, 'g'))].map(
      (m) => m[1],
    );
    return { connects, live, takeovers };
  }

  /** Calls of `command` the Redis server has run so far. */
  async function calls(command: string): Promise<number> {
    return (await allCalls()).get(command) ?? 0;
  }

  /** Calls of every command the Redis server has run so far, by name. */
  async function allCalls(): Promise<Map<string, number>> {
    const info = await admin.info('commandstats');
    return new Map([...info.matchAll(/^cmdstat_(\S+?):calls=(\d+)/gm)].map((m) => [m[1], Number(m[2])]));
  }

  it('checks its options, naming the field', () => {
    const client = new Redis({ lazyConnect: true });
    const store = new RedisStore({ client });
    const manager = new SessionManager();
    const base = { manager, client, store, cluster: 'c', node: 'n', sessions: [] as ManagedSessionOptions[] };
    const field = (options: unknown): string | undefined => {
      try {
        new FleetNode(options as never);
      } catch (err) {
        expect(err).toBeInstanceOf(InvalidArgumentError);
        return (err as InvalidArgumentError).field;
      }
      return undefined;
    };
    expect(field(base)).toBeUndefined();
    expect(field({ ...base, manager: {} })).toBe('options.manager');
    expect(field({ ...base, store: {} })).toBe('options.store');
    expect(field({ ...base, client: {} })).toBe('options.client');
    expect(field({ ...base, node: 'a b' })).toBe('options.node');
    expect(field({ ...base, ttl: 1_000, margin: 200, interval: 800 })).toBe('options.interval');
    expect(field({ ...base, sessions: [{ name: 'a', url: 'mqtt://x' }] })).toBe(
      'options.sessions[0].clientId',
    );
    const two = [
      { name: 'a', clientId: 'x', url: 'mqtt://x' },
      { name: 'b', clientId: 'x', url: 'mqtt://x' },
    ];
    expect(field({ ...base, sessions: two })).toBe('options.sessions[1].clientId');
    two[1].clientId = 'y';
    two[1].name = 'a';
    expect(field({ ...base, sessions: two })).toBe('options.sessions[1].name');
    const other = new RedisStore({ client });
    expect(field({ ...base, sessions: [{ name: 'a', clientId: 'x', store: other }] })).toBe(
      'options.sessions[0].store',
    );
  });

  it('two nodes, 40 sessions: each runs on exactly one node, connected once at the broker, split about evenly', async () => {
    const c = cluster();
    const fleet = sessions('t1', 40);
    // a lease a stall of this (loaded) machine does not outlast: a node gone unsafe would connect its sessions twice
    const lease = { ttl: 3_000, margin: 600 };
    const a = await c.node('a', fleet, lease);
    const b = await c.node('b', fleet, lease);
    await Promise.all([a.fleet.start(), b.fleet.start()]);
    await settled([a, b], fleet);

    const all = [...a.running(), ...b.running()];
    expect(sorted(all)).toEqual(sorted(fleet.map((s) => s.name)));
    expect(new Set(all).size).toBe(40);
    expect(a.running().length).toBeGreaterThanOrEqual(10);
    expect(b.running().length).toBeGreaterThanOrEqual(10);

    // the broker: each client id connected once (the nodes saw each other before taking any), never two at once
    await vi.waitFor(() => expect(brokerView('t1').connects.size).toBe(40));
    const { connects, live, takeovers } = brokerView('t1');
    for (const n of connects.values()) expect(n).toBe(1);
    for (const n of live.values()) expect(n).toBe(1);
    expect(takeovers).toEqual([]);
    expect(c.log.filter((e) => e.type === 'released')).toEqual([]);
    // the cluster is new: its first renewals found it quiet, and each node took nothing before one found it over
    for (const n of ['a', 'b']) {
      const mine = c.log.filter((e) => e.node === n);
      const over = mine.findIndex((e) => e.type === 'renewed' && !e.quiet);
      expect(mine.slice(0, over).filter((e) => e.type === 'renewed').length).toBeGreaterThan(0);
      expect(mine.findIndex(isAcquired)).toBeGreaterThan(over);
    }

    // status: the members, and each node's sessions with their tokens
    const status = a.fleet.status();
    expect(status.state).toBe('running');
    expect(status.members.map((m) => m.id)).toEqual(['a', 'b']);
    expect(status.sessions.map((s) => s.name).sort()).toEqual(a.running());
    expect(status.sessions.every((s) => s.running && s.token > 0)).toBe(true);
    expect(status.leaseAge).toBeGreaterThanOrEqual(0);
    expect(status.leaseAge).toBeLessThan(lease.ttl);

    // what upkeep costs Redis, once settled: the renewals (one EVALSHA each) and nothing per session
    const before = await allCalls();
    const from = c.log.length;
    const renewals = () => c.log.slice(from).filter((e) => e.type === 'renewed').length;
    await vi.waitFor(() => expect(renewals()).toBeGreaterThanOrEqual(6), { timeout: 10_000, interval: 20 });
    const after = await allCalls();
    const seen = renewals();
    const spent = new Map([...after].map(([name, n]) => [name, n - (before.get(name) ?? 0)]));
    spent.delete('info'); // ours
    const scripts = spent.get('evalsha') ?? 0;
    // the renewals answered in between, and at most one more per node sent before the second count
    expect(scripts).toBeGreaterThanOrEqual(seen - 2);
    expect(scripts).toBeLessThanOrEqual(seen + 2);
    // Redis counts the commands a script runs too: the renewal's, once per renewal (GET twice: the
    // node's lease and the quiet key; EXISTS: is anyone watching the numbers?), and nothing else:
    // nobody watching, nothing is shared
    const inRenewal = [
      'evalsha',
      'get',
      'time',
      'set',
      'zadd',
      'hset',
      'exists',
      'zrangebyscore',
      'hgetall',
      'zrange',
    ];
    for (const [name, n] of spent)
      expect([name, n]).toEqual([name, inRenewal.includes(name) ? scripts * (name === 'get' ? 2 : 1) : 0]);
    expect(
      c.log.filter((e) => e.node === 'a' && e.type === 'joined').map((e) => (e as { id: string }).id),
    ).toEqual(['a', 'b']);
  });

  it('a third node joins: only its share moves, each released before it starts again, and no publish that resolved is lost', async () => {
    const c = cluster();
    const fleet = sessions('t2', 40);
    const a = await c.node('a', fleet);
    const b = await c.node('b', fleet);
    await Promise.all([a.fleet.start(), b.fleet.start()]);
    await settled([a, b], fleet);
    const before = new Map([
      ['a', a.running()],
      ['b', b.running()],
    ]);
    const tokens = new Map<string, number>();
    for (const n of [a, b]) for (const s of n.fleet.status().sessions) tokens.set(s.name, s.token);

    // a subscriber counts every message; a publisher keeps publishing QoS 1 through whichever node runs each session
    const sub = new Session({ url: broker.url, clientId: `t2-sub-${randomUUID()}` });
    onCleanup(() => sub.close());
    const received = new Set<string>();
    await sub.connect();
    await sub.subscribe('t2/#', { qos: 1 }, (m) => received.add(m.payload.toString()));
    const resolved: string[] = [];
    let publishing = true;
    let seq = 0;
    const nodes: Node[] = [a, b];
    const publisher = (async () => {
      while (publishing) {
        const round: Promise<unknown>[] = [];
        for (const s of fleet) {
          const session = nodes.map((n) => n.manager.get(s.name)).find((x) => x?.state === 'connected');
          if (session === undefined) continue;
          const payload = `${s.name}:${seq++}`;
          round.push(
            session.publish(`t2/${s.name}`, payload, { qos: 1 }).then(
              () => resolved.push(payload),
              () => {},
            ),
          );
        }
        await Promise.all(round);
        await new Promise((r) => setImmediate(r));
      }
    })();

    const cNode = await c.node('c', fleet);
    nodes.push(cNode);
    const firstSeq = c.log.length;
    await cNode.fleet.start();
    await settled([a, b, cNode], fleet);
    // a few more rounds once every session is back
    const after = seq;
    await vi.waitFor(() => expect(seq).toBeGreaterThan(after + 200), { timeout: 15_000, interval: 20 });
    publishing = false;
    await publisher;

    // only the new node's share moved, about a third, each from its old node
    const moved = cNode.running();
    const ideal = placed(fleet, ['a', 'b', 'c']).get('c');
    expect(moved).toEqual(ideal);
    expect(moved.length).toBeGreaterThanOrEqual(7);
    expect(moved.length).toBeLessThanOrEqual(20);
    for (const id of ['a', 'b']) {
      const now = (id === 'a' ? a : b).running();
      expect(sorted([...now, ...moved.filter((m) => before.get(id)?.includes(m))])).toEqual(before.get(id));
    }

    // each moved session: released by its old node ('handoff') before the new one acquired it, with a higher token
    const events = c.log.slice(firstSeq);
    for (const name of moved) {
      const released = events.findIndex((e) => e.type === 'released' && e.name === name);
      const acquired = events.findIndex((e) => e.type === 'acquired' && e.name === name);
      expect(released).toBeGreaterThanOrEqual(0);
      expect(events[released]).toMatchObject({ reason: 'handoff' });
      expect(before.get(events[released].node)).toContain(name);
      expect(acquired).toBeGreaterThan(released);
      expect(events[acquired]).toMatchObject({ node: 'c' });
      expect((events[acquired] as Acquired).token).toBeGreaterThan(tokens.get(name) as number);
    }
    // nothing else changed hands
    expect(events.filter((e) => e.type === 'released').length).toBe(moved.length);
    expect(events.filter((e) => e.type === 'acquired').length).toBe(moved.length);

    // the owner records name the new owner, alive, with the token it started with
    const owners = await new Leases({ client: admin, cluster: c.name, prefix: c.prefix }).owners(moved);
    for (const name of moved) {
      const acquired = events.find((e) => isAcquired(e) && e.name === name) as Acquired;
      expect(owners.get(name)).toMatchObject({ node: 'c', alive: true, token: acquired.token });
    }

    // the broker never had two connections with one client id
    expect(brokerView('t2').takeovers).toEqual([]);
    await vi.waitFor(() => {
      for (const n of brokerView('t2').live.values()) expect(n).toBe(1);
    });

    // every publish that resolved arrived
    expect(resolved.length).toBeGreaterThan(200);
    await vi.waitFor(() => expect(resolved.filter((p) => !received.has(p))).toEqual([]), { timeout: 10_000 });
  });

  it('a node crashes: after its lease runs out the others take its sessions with higher tokens, and its late write is fenced', async () => {
    const c = cluster();
    const fleet = sessions('t3', 40);
    // the node that crashes reaches Redis and the broker through proxies, to cut both
    const redisProxy = await startProxy({ port: redis.port });
    const mqttProxy = await startProxy({ port: broker.port });
    onCleanup(() => redisProxy.close());
    onCleanup(() => mqttProxy.close());
    const a = await c.node('a', fleet);
    const b = await c.node('b', fleet);
    const x = await c.node('x', sessions('t3', 40, mqttProxy.url), { redisPort: redisProxy.port });
    await Promise.all([a.fleet.start(), b.fleet.start(), x.fleet.start()]);
    await settled([a, b, x], fleet);
    const lost = x.running();
    expect(lost.length).toBeGreaterThan(0);
    const oldTokens = new Map(x.fleet.status().sessions.map((s) => [s.name, s.token]));

    // the crash: no more renewals, and neither Redis nor the broker hears from it again; nothing released
    x.crashed = true;
    x.fleet.membership.stop();
    crash(redisProxy);
    crash(mqttProxy);
    const since = c.log.length;

    await settled([a, b], fleet);
    // its lease ran out in Redis (nobody deleted it: a crash) before they took its sessions
    expect(await admin.exists(c.keys.node('x'))).toBe(0);
    const events = c.log.slice(since);
    expect(events.filter((e) => e.node === 'x')).toEqual([]);
    for (const name of lost) {
      const took = events.find((e) => isAcquired(e) && e.name === name) as Acquired;
      expect(took.node).not.toBe('x');
      expect(took.token).toBeGreaterThan(oldTokens.get(name) as number);
    }
    expect(brokerView('t3').takeovers).toEqual([]);

    // the crashed node's store wakes up and writes for a session it lost: refused, and the session is dropped
    redisProxy.refuse(false);
    await vi.waitFor(() => expect(x.client.status).toBe('ready'), { timeout: 5_000 });
    const zombie = lost[0];
    const released = new Promise((resolve) =>
      x.fleet.on('session_released', (e) => {
        if (e.name === zombie) resolve(e.reason);
      }),
    );
    x.manager
      .get(zombie)
      ?.publish(`t3/${zombie}`, 'late', { qos: 1, timeout: 5_000 })
      .catch(() => {});
    expect(await released).toBe('fenced');
    expect(x.manager.has(zombie)).toBe(false);
    // nothing of the late write is in the session's state: the new owner's records only
    const records = await admin.hgetallBuffer(`${sessionKeyBase(c.prefix, zombie)}m`);
    for (const r of Object.values(records)) expect(r.includes('late')).toBe(false);
    // and its owner record is the new owner's
    const owner = (
      await new Leases({ client: admin, cluster: c.name, prefix: c.prefix }).owners([zombie])
    ).get(zombie);
    expect(owner?.node).not.toBe('x');
    expect(owner?.alive).toBe(true);
  });

  it('a node that leaves hands its sessions over at once: taken free at the next renewal, not after its lease', async () => {
    const c = cluster();
    const fleet = sessions('t4', 40);
    const a = await c.node('a', fleet);
    const b = await c.node('b', fleet);
    await Promise.all([a.fleet.start(), b.fleet.start()]);
    await settled([a, b], fleet);
    const leaving = b.running();
    const mgets = await calls('mget');
    const since = c.log.length;

    await b.fleet.stop();
    expect(b.fleet.state).toBe('stopped');
    expect(b.running()).toEqual([]);
    // its lease key was deleted by the leave, not left to expire
    expect(await admin.exists(c.keys.node('b'))).toBe(0);

    await settled([a], fleet);
    const events = c.log.slice(since);
    // b stopped each session ('leave') before a acquired it
    for (const name of leaving) {
      const released = events.findIndex((e) => e.type === 'released' && e.name === name);
      const acquired = events.findIndex((e) => e.type === 'acquired' && e.name === name);
      expect(events[released]).toMatchObject({ node: 'b', reason: 'leave' });
      expect(events[acquired]).toMatchObject({ node: 'a' });
      expect(acquired).toBeGreaterThan(released);
    }
    // a took them at the renewal that first saw b gone, or the next: its lease (ttl) spans more renewals than that
    const left = events.findIndex((e) => e.node === 'a' && e.type === 'left' && e.id === 'b');
    const last = Math.max(
      ...leaving.map((name) => events.findIndex((e) => e.type === 'acquired' && e.name === name)),
    );
    expect(left).toBeGreaterThanOrEqual(0);
    const renewals = events.slice(left, last).filter((e) => e.node === 'a' && e.type === 'renewed').length;
    expect(renewals).toBeLessThanOrEqual(1);
    // ... with acquire's first step: free sessions, no liveness check of a dead owner (that is an MGET)
    expect(await calls('mget')).toBe(mgets);
    expect(brokerView('t4').takeovers).toEqual([]);
  });

  it('Redis loses its data under two nodes: they stop what they ran, and nobody starts a session before its runner has stopped it', async () => {
    const c = cluster();
    const fleet = sessions('t7', 40);
    // a renews every 100 ms, b every (ttl - margin) / 3 = 266 ms
    const a = await c.node('a', fleet, { interval: 100 });
    const b = await c.node('b', fleet);
    await Promise.all([a.fleet.start(), b.fleet.start()]);
    await settled([a, b], fleet);
    const since = c.log.length;

    // what a restart without persistence leaves (this file's Redis holds nothing else that is in use),
    // just after one of b's renewals: a finds it first and joins again, while b runs its sessions
    // until its own next renewal
    await once(b.fleet.membership, 'renewed');
    await admin.flushall();
    // each finds its lease gone at its next renewal (or a store write fenced) and stops everything;
    // the first to join again sees every session free, but the new quiet period holds it back
    await vi.waitFor(
      () => {
        const released = c.log.slice(since).filter((e) => e.type === 'released');
        expect(sorted(released.map((e) => (e as { name: string }).name))).toEqual(
          sorted(fleet.map((s) => s.name)),
        );
      },
      { timeout: 15_000, interval: 20 },
    );
    await settled([a, b], fleet);

    // in the order the events happened (one process): never a session acquired while another node runs it
    const running = new Map<string, string>();
    const twice: string[] = [];
    for (const e of c.log) {
      if (e.type === 'acquired') {
        const other = running.get(e.name);
        if (other !== undefined && other !== e.node) twice.push(`${e.name}: ${other} and ${e.node}`);
        running.set(e.name, e.node);
      } else if (e.type === 'released' && running.get(e.name) === e.node) running.delete(e.name);
    }
    expect(twice).toEqual([]);
    // both joined again and took sessions only after a renewal found the new quiet period over; the
    // first to join started it, so found it on
    const quietSeen: boolean[] = [];
    for (const n of ['a', 'b']) {
      const rest = c.log.slice(since).filter((e) => e.node === n);
      const mine = rest.slice(rest.findIndex((e) => e.type === 'released')); // from when it noticed
      const over = mine.findIndex((e) => e.type === 'renewed' && !e.quiet);
      quietSeen.push(mine.slice(0, over).some((e) => e.type === 'renewed' && e.quiet));
      expect(mine.findIndex(isAcquired)).toBeGreaterThan(over);
    }
    expect(quietSeen).toContain(true);
    expect(brokerView('t7').takeovers).toEqual([]);
  });

  it('a node that cannot renew stops its sessions before its lease can run out, and starts them again with the same tokens', async () => {
    const c = cluster();
    const fleet = sessions('t5', 20);
    const proxy = await startProxy({ port: redis.port });
    onCleanup(() => proxy.close());
    // the margin leaves 1.5 s between 'unsafe' and the lease running out in Redis: time for Redis to come back
    const lease = { ttl: 3_000, margin: 1_500 };
    const a = await c.node('a', fleet, lease);
    const b = await c.node('b', fleet, { ...lease, redisPort: proxy.port, failFast: true });
    await Promise.all([a.fleet.start(), b.fleet.start()]);
    await settled([a, b], fleet);
    const mine = b.running();
    const tokens = new Map(b.fleet.status().sessions.map((s) => [s.name, s.token]));
    const incarnation = b.fleet.membership.incarnation;
    const since = c.log.length;

    // Redis unreachable for b: its renewals fail until its own deadline passes
    const unsafe = once(b.fleet.membership, 'unsafe');
    crash(proxy);
    await unsafe;
    // every session stopped at once (none left on the manager), each announced; the leases kept
    expect(b.fleet.state).toBe('unsafe');
    expect(b.running()).toEqual([]);
    const stopped = c.log.slice(since).filter((e) => e.type === 'released');
    expect(stopped.every((e) => e.node === 'b' && e.reason === 'unsafe')).toBe(true);
    expect(sorted(stopped.map((e) => (e as { name: string }).name))).toEqual(mine);
    const held = b.fleet.status().sessions.map((s) => [s.name, s.token, s.running]);
    expect(held.sort()).toEqual(mine.map((name) => [name, tokens.get(name), false]));

    // Redis back before the lease ran out: 'safe', and the same sessions run again with the same tokens
    proxy.refuse(false);
    await settled([a, b], fleet);
    expect(b.fleet.state).toBe('running');
    expect(b.fleet.membership.incarnation).toBe(incarnation);
    const acquired = c.log.slice(since).filter(isAcquired);
    expect(acquired.every((e) => e.node === 'b' && e.token === tokens.get(e.name))).toBe(true);
    expect(sorted(acquired.map((e) => e.name))).toEqual(mine);
    expect(brokerView('t5').takeovers).toEqual([]);
  });

  it('a node cut off from Redis past its lease is lost: the others take its sessions, and it joins again as a new incarnation', async () => {
    const c = cluster();
    const fleet = sessions('t6', 20);
    const proxy = await startProxy({ port: redis.port });
    onCleanup(() => proxy.close());
    const a = await c.node('a', fleet);
    const b = await c.node('b', fleet, { redisPort: proxy.port, failFast: true });
    await Promise.all([a.fleet.start(), b.fleet.start()]);
    await settled([a, b], fleet);
    const mine = b.running();
    const first = b.fleet.membership.incarnation;
    const since = c.log.length;

    crash(proxy);
    // b's lease runs out in Redis; a takes every session b ran, each after b stopped it
    await settled([a], fleet);
    expect(b.running()).toEqual([]);
    let events = c.log.slice(since);
    for (const name of mine) {
      const stopped = events.findIndex((e) => e.type === 'released' && e.name === name);
      const taken = events.findIndex((e) => e.type === 'acquired' && e.name === name);
      expect(events[stopped]).toMatchObject({ node: 'b', reason: 'unsafe' });
      expect(events[taken]).toMatchObject({ node: 'a' });
      expect(taken).toBeGreaterThan(stopped);
    }

    // b reaches Redis again: its lease is gone ('lost'), it joins as a new incarnation and gets its share back
    proxy.refuse(false);
    await settled([a, b], fleet);
    expect(b.fleet.membership.incarnation).not.toBe(first);
    events = c.log.slice(since);
    for (const name of mine) {
      const taken = events.filter(isAcquired).filter((e) => e.name === name);
      const byA = taken.find((e) => e.node === 'a') as Acquired;
      const back = taken[taken.length - 1];
      expect(back.node).toBe('b');
      expect(back.token).toBeGreaterThan(byA.token);
    }
    expect(brokerView('t6').takeovers).toEqual([]);
  });
});

/** Everything through `proxy` ends, and nothing new gets through. */
function crash(proxy: TcpProxy): void {
  proxy.refuse(true);
  proxy.cut();
}
