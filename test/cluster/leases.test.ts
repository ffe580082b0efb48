import { randomUUID } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { clusterKeys } from '../../src/cluster/keys.js';
import { type LeaseHolder, Leases, parseOwner } from '../../src/cluster/leases.js';
import { keySlot } from '../../src/cluster/scripts.js';
import { InvalidArgumentError, StoreError } from '../../src/core/errors.js';
import { sessionKeyBase } from '../../src/store/redis.js';
import { onCleanup } from '../helpers/cleanup.js';
import {
  hasRedis,
  type RedisServer,
  redisForBlock,
  startRedis,
  startRedisClusterNode,
} from '../helpers/redis.js';

const CLUSTER = 'test';

/** A prefix no other test uses, so tests sharing a server never see each other's keys. */
const uniquePrefix = (): string => `mqttkit-test:${randomUUID()}:`;

/** Calls of one command the server has run so far (INFO commandstats), read on `admin`. */
async function commandCalls(admin: Redis, command: string): Promise<number> {
  const info = await admin.info('commandstats');
  const m = new RegExp(`^cmdstat_${command.replace('|', '\\|')}:calls=(\\d+)`, 'm').exec(info);
  return m === null ? 0 : Number(m[1]);
}

/** Calls of each of `commands` the server has run so far. */
async function counts(admin: Redis, commands: readonly string[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const c of commands) out[c] = await commandCalls(admin, c);
  return out;
}

const COUNTED = ['evalsha', 'eval', 'mget', 'get', 'script|load', 'set', 'pexpire'];

function holder(id: string): LeaseHolder {
  return { id, incarnation: randomUUID() };
}

const ids = (n: number, tag: string): string[] => Array.from({ length: n }, (_, i) => `${tag}-${i}`);

describe.skipIf(!hasRedis())('Leases', () => {
  let redis: RedisServer;
  let admin: Redis;

  redisForBlock((server, client) => {
    redis = server;
    admin = client;
  });

  /** A node: its own client and Leases on `prefix`, and a lease key (as Membership keeps it) for `ttl` ms. */
  async function node(prefix: string, id: string, ttl = 60_000) {
    const client = new Redis(redis.url, { lazyConnect: true });
    await client.connect();
    onCleanup(() => client.disconnect());
    const me = holder(id);
    const key = clusterKeys(prefix, CLUSTER).node(id);
    await admin.set(key, me.incarnation, 'PX', ttl);
    return { client, me, key, leases: new Leases({ client, cluster: CLUSTER, prefix }) };
  }

  it('keeps the layout: owner and fence beside RedisStore keys, the lease key in the cluster slot', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'gw-1');
    const { acquired } = await a.leases.acquire(['dev-1'], a.me);
    const token = acquired.get('dev-1');
    const base = `${prefix}{id:${Buffer.from('dev-1').toString('base64url')}}:`;
    expect(sessionKeyBase(prefix, 'dev-1')).toBe(base);
    expect(a.key).toBe(`${prefix}{cluster:${CLUSTER}}:node:gw-1`);
    expect(await admin.get(`${base}fence`)).toBe(String(token));
    expect(await admin.get(`${base}owner`)).toBe(`gw-1 ${a.me.incarnation} ${token}`);
    expect(parseOwner(`gw 1 inc 42`)).toEqual({ node: 'gw 1', incarnation: 'inc', token: 42 });
    expect(parseOwner('garbage')).toBeUndefined();
  });

  it('gives each session a token that increases at every acquisition; acquiring again what it holds keeps the token', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    const b = await node(prefix, 'b');
    const sessions = ['s1', 's2', 's3'];

    const first = await a.leases.acquire(sessions, a.me);
    expect([...first.acquired.keys()].sort()).toEqual(sessions);
    expect(first.refused.size).toBe(0);
    // the first token follows Redis's clock (microseconds), so it outruns any token from before a Redis restart
    const [sec] = await admin.time();
    for (const t of first.acquired.values()) expect(t).toBeGreaterThan((Number(sec) - 60) * 1e6);

    const again = await a.leases.acquire(sessions, a.me);
    expect(again.acquired).toEqual(first.acquired);

    expect(await a.leases.release(sessions, a.me)).toEqual(sessions);
    const second = await b.leases.acquire(sessions, b.me);
    for (const s of sessions) expect(second.acquired.get(s)).toBeGreaterThan(first.acquired.get(s) as number);

    expect(await b.leases.release(['s1'], b.me)).toEqual(['s1']);
    const third = await a.leases.acquire(['s1'], a.me);
    expect(third.acquired.get('s1')).toBeGreaterThan(second.acquired.get('s1') as number);
  });

  it('refuses a session whose owner is alive; takes it with a higher token once the lease key expires', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a', 60_000);
    const b = await node(prefix, 'b');
    const mine = await a.leases.acquire(['x', 'y'], a.me);

    const refused = await b.leases.acquire(['x', 'y', 'z'], b.me);
    expect([...refused.acquired.keys()]).toEqual(['z']);
    expect(refused.refused.get('x')).toEqual({
      node: 'a',
      incarnation: a.me.incarnation,
      token: mine.acquired.get('x'),
    });
    expect(refused.refused.get('y')?.node).toBe('a');

    // node a stops renewing: its lease key runs out
    await admin.pexpire(a.key, 50);
    await vi.waitFor(async () => expect(await admin.exists(a.key)).toBe(0), { timeout: 5_000, interval: 10 });

    const taken = await b.leases.acquire(['x', 'y'], b.me);
    expect(taken.refused.size).toBe(0);
    expect(taken.acquired.get('x')).toBeGreaterThan(mine.acquired.get('x') as number);
    expect(taken.acquired.get('y')).toBeGreaterThan(mine.acquired.get('y') as number);

    // the stale holder is detectable: the owner and the fence carry the new token
    const owners = await a.leases.owners(['x', 'y', 'nobody']);
    expect(owners.get('x')).toEqual({
      node: 'b',
      incarnation: b.me.incarnation,
      token: taken.acquired.get('x'),
      alive: true,
    });
    expect(owners.get('nobody')).toBeUndefined();
    expect(await admin.get(`${sessionKeyBase(prefix, 'x')}fence`)).toBe(String(taken.acquired.get('x')));
    // and its release does nothing
    expect(await a.leases.release(['x', 'y'], a.me)).toEqual([]);
    expect((await b.leases.owners(['x'])).get('x')?.node).toBe('b');
  });

  it('treats an owner whose node joined again (another incarnation) as dead, even when that node is itself', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    const before = await a.leases.acquire(['s'], a.me);

    // node a restarts: a new incarnation in its lease key
    const reborn = holder('a');
    await admin.set(a.key, reborn.incarnation, 'PX', 60_000);
    expect((await a.leases.owners(['s'])).get('s')?.alive).toBe(false);
    const after = await a.leases.acquire(['s'], reborn);
    expect(after.acquired.get('s')).toBeGreaterThan(before.acquired.get('s') as number);
    expect((await a.leases.owners(['s'])).get('s')).toMatchObject({
      incarnation: reborn.incarnation,
      alive: true,
    });
  });

  it('lets another node acquire at once after a release; releases only what the holder owns', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    const b = await node(prefix, 'b');
    await a.leases.acquire(['p', 'q'], a.me);
    expect(await b.leases.release(['p', 'q'], b.me)).toEqual([]);
    // the same node id under another incarnation is not the holder either
    expect(await a.leases.release(['p'], holder('a'))).toEqual([]);
    expect(await a.leases.release(['p', 'free'], a.me)).toEqual(['p']);
    const got = await b.leases.acquire(['p', 'q'], b.me);
    expect([...got.acquired.keys()]).toEqual(['p']);
    expect(got.refused.get('q')?.node).toBe('a');
  });

  it('hands each session to exactly one of two nodes acquiring at the same time', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    const b = await node(prefix, 'b');
    const sessions = ids(2_000, 'race');
    const [ra, rb] = await Promise.all([a.leases.acquire(sessions, a.me), b.leases.acquire(sessions, b.me)]);
    expect(ra.acquired.size + rb.acquired.size).toBe(sessions.length);
    for (const s of sessions) {
      expect(ra.acquired.has(s)).toBe(rb.refused.get(s)?.node === 'a');
      expect(rb.acquired.has(s)).toBe(ra.refused.get(s)?.node === 'b');
    }
  });

  it('hands each session of a dead owner to exactly one of two nodes taking over at the same time', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    const b = await node(prefix, 'b');
    const c = await node(prefix, 'c');
    const sessions = ids(2_000, 'orphan');
    const old = await a.leases.acquire(sessions, a.me);
    await admin.del(a.key);
    // both see a's records, both find a dead, both try to replace the same record: one wins each
    const [rb, rc] = await Promise.all([b.leases.acquire(sessions, b.me), c.leases.acquire(sessions, c.me)]);
    expect(rb.acquired.size + rc.acquired.size).toBe(sessions.length);
    const owners = await a.leases.owners(sessions);
    for (const s of sessions) {
      const winner = rb.acquired.has(s) ? rb : rc;
      const loser = winner === rb ? rc : rb;
      expect(loser.refused.get(s)?.token).toBe(winner.acquired.get(s));
      expect(owners.get(s)?.token).toBe(winner.acquired.get(s));
      expect(winner.acquired.get(s)).toBeGreaterThan(old.acquired.get(s) as number);
    }
  });

  it('acquires, takes over and releases 10,000 sessions with one script call per 1,000 and one MGET', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    const b = await node(prefix, 'b');
    const sessions = ids(10_000, 'bulk');
    const pipelines = vi.spyOn(a.client, 'pipeline');
    const direct = vi.spyOn(a.client, 'call');

    let before = await counts(admin, COUNTED);
    const first = await a.leases.acquire(sessions, a.me);
    let after = await counts(admin, COUNTED);
    expect(first.acquired.size).toBe(10_000);
    // a first group of 32 (the probe), then ten (1,000 x 9 and 968) side by side: one pipeline and one
    // EVALSHA a group (SCRIPT LOAD once, in the first)
    expect(pipelines).toHaveBeenCalledTimes(11);
    expect(after.evalsha - before.evalsha).toBe(11);
    expect(after['script|load'] - before['script|load']).toBe(1);
    expect(after.eval - before.eval).toBe(0);
    // inside the scripts: a GET of each key, and one MSET of the writes a call
    expect(after.get - before.get).toBe(20_000);
    expect(after.set - before.set).toBe(0);

    // b tries while a is alive: one EVALSHA a group, one MGET of a's lease key (shared by the groups), all refused
    const bPipelines = vi.spyOn(b.client, 'pipeline');
    before = await counts(admin, COUNTED);
    const refused = await b.leases.acquire(sessions, b.me);
    after = await counts(admin, COUNTED);
    expect(refused.refused.size).toBe(10_000);
    expect(bPipelines).toHaveBeenCalledTimes(12);
    expect(after.evalsha - before.evalsha).toBe(11);
    expect(after.mget - before.mget).toBe(1);

    // a dies: b takes all 10,000; only the probe's 32 need a second call: the first call of the
    // others already names a as dead
    await admin.del(a.key);
    bPipelines.mockClear();
    before = await counts(admin, COUNTED);
    const taken = await b.leases.acquire(sessions, b.me);
    after = await counts(admin, COUNTED);
    expect(taken.acquired.size).toBe(10_000);
    expect(bPipelines).toHaveBeenCalledTimes(13);
    expect(after.evalsha - before.evalsha).toBe(12);
    expect(after.mget - before.mget).toBe(1);

    // reading who owns 10,000 sessions: ten MGETs of 1,000 owner keys and one of the lease keys, two round trips
    pipelines.mockClear();
    before = await counts(admin, COUNTED);
    const owners = await a.leases.owners(sessions);
    after = await counts(admin, COUNTED);
    expect([...owners.values()].every((o) => o?.node === 'b' && o.alive)).toBe(true);
    expect(pipelines).toHaveBeenCalledTimes(2);
    expect(after.mget - before.mget).toBe(11);

    bPipelines.mockClear();
    before = await counts(admin, COUNTED);
    expect((await b.leases.release(sessions, b.me)).length).toBe(10_000);
    after = await counts(admin, COUNTED);
    expect(bPipelines).toHaveBeenCalledTimes(1);
    expect(after.evalsha - before.evalsha).toBe(10);
    expect(direct).not.toHaveBeenCalled();
  });

  it('remembers owners it found dead: their sessions are taken by the first call, with no liveness check', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    const b = await node(prefix, 'b');
    const sessions = ids(600, 'gone');
    const old = await a.leases.acquire(sessions, a.me);
    await admin.del(a.key); // a died
    expect((await b.leases.acquire(sessions.slice(0, 10), b.me)).acquired.size).toBe(10);

    const before = await counts(admin, COUNTED);
    const got = await b.leases.acquire(sessions.slice(10), b.me);
    const after = await counts(admin, COUNTED);
    expect(got.acquired.size).toBe(590);
    for (const s of sessions.slice(10))
      expect(got.acquired.get(s)).toBeGreaterThan(old.acquired.get(s) as number);
    // the probe and the groups of the rest, each once: one pass over the sessions
    expect(after.evalsha - before.evalsha).toBeLessThanOrEqual(1 + 8);
    expect(after.mget - before.mget).toBe(0);

    // a joins again: its new incarnation is alive, and what it takes now is refused to b
    const again = { id: 'a', incarnation: randomUUID() };
    await admin.set(a.key, again.incarnation, 'PX', 60_000);
    const fresh = ids(5, 'new');
    await a.leases.acquire(fresh, again);
    const refused = await b.leases.acquire(fresh, b.me);
    expect(refused.refused.size).toBe(5);
    expect(refused.refused.get('new-0')?.incarnation).toBe(again.incarnation);
  });

  it('decides each session of a batch on its own: free, its own, owned by a live node or a dead one, in any mix', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    const b = await node(prefix, 'b');
    const c = await node(prefix, 'c');
    const sessions = ids(2_500, 'mix'); // three groups
    const byIndex = (r: number) => sessions.filter((_, i) => i % 4 === r);
    const [free, mine, alive, dead] = [0, 1, 2, 3].map(byIndex);
    const had = await b.leases.acquire(mine, b.me);
    await a.leases.acquire(alive, a.me);
    const old = await c.leases.acquire(dead, c.me);
    await admin.del(c.key); // c died

    const got = await b.leases.acquire(sessions, b.me);
    expect(got.acquired.size).toBe(free.length + mine.length + dead.length);
    expect(got.refused.size).toBe(alive.length);
    for (const s of mine) expect(got.acquired.get(s)).toBe(had.acquired.get(s));
    for (const s of dead) expect(got.acquired.get(s)).toBeGreaterThan(old.acquired.get(s) as number);
    for (const s of alive) expect(got.refused.get(s)?.node).toBe('a');
    for (const s of free) expect(got.acquired.has(s)).toBe(true);

    // release gives up only b's, in any mix
    const released = await b.leases.release(sessions, b.me);
    expect(new Set(released)).toEqual(new Set([...free, ...mine, ...dead]));
    expect((await a.leases.release(sessions, a.me)).length).toBe(alive.length);
  });

  it('fails a batch whose :fence holds no integer with nothing of that batch written, naming the key', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    const sessions = ids(1_500, 'bad'); // the first batch is the probe, 0..31
    await admin.set(`${sessionKeyBase(prefix, 'bad-7')}fence`, 'not a number');
    await admin.set(`${sessionKeyBase(prefix, 'bad-1207')}fence`, 'not a number');
    let err = await a.leases.acquire(sessions, a.me).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).message).toMatch(
      /^lease acquire failed for 32 of 32 sessions, the first 'bad-0'/,
    );
    expect((err as StoreError).message).toContain(
      `${sessionKeyBase(prefix, 'bad-7')}fence does not hold an integer`,
    );
    // the probe failed: nothing was taken, the other groups were not even sent
    let owners = await a.leases.owners(sessions);
    expect([...owners.values()].every((o) => o === undefined)).toBe(true);

    // with the probe fine, a later batch fails alone: the others are taken (acquire says "some may be taken")
    await admin.del(`${sessionKeyBase(prefix, 'bad-7')}fence`);
    err = await a.leases.acquire(sessions, a.me).catch((e: unknown) => e);
    const m = /^lease acquire failed for (\d+) of \1 sessions, the first 'bad-(\d+)'/.exec(
      (err as StoreError).message,
    );
    expect(m).not.toBeNull();
    const [count, from] = [Number(m?.[1]), Number(m?.[2])];
    expect(from).toBeLessThanOrEqual(1207);
    expect(from + count).toBeGreaterThan(1207);
    owners = await a.leases.owners(sessions);
    const free = sessions.filter((s) => owners.get(s) === undefined);
    expect(free).toEqual(sessions.slice(from, from + count));
  });

  it('loads its scripts again when Redis has lost them', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    await a.leases.acquire(['one'], a.me);
    await admin.script('FLUSH');
    const before = await counts(admin, COUNTED);
    const got = await a.leases.acquire(['two', 'three'], a.me);
    const after = await counts(admin, COUNTED);
    expect(got.acquired.size).toBe(2);
    expect(after['script|load'] - before['script|load']).toBe(1);
    expect(await a.leases.release(['one', 'two', 'three'], a.me)).toEqual(['one', 'two', 'three']);
  });

  it('refuses bad arguments naming the field, before sending anything', async () => {
    const prefix = uniquePrefix();
    const a = await node(prefix, 'a');
    const pipelines = vi.spyOn(a.client, 'pipeline');
    await expect(a.leases.acquire(['ok', 7 as unknown as string], a.me)).rejects.toThrow('sessions[1]');
    await expect(a.leases.acquire('abc', a.me)).rejects.toThrow(InvalidArgumentError);
    await expect(a.leases.acquire(['\uD800'], a.me)).rejects.toThrow('lone surrogate');
    await expect(a.leases.acquire(['s'], { id: 'a', incarnation: 'has space' })).rejects.toThrow(
      'holder.incarnation',
    );
    await expect(a.leases.release(['s'], { id: '', incarnation: 'x' })).rejects.toThrow('holder.id');
    expect(pipelines).not.toHaveBeenCalled();
    expect(() => new Leases({ client: a.client, cluster: 'a{b}' })).toThrow('options.cluster');
    expect(() => new Leases({ client: {} as never, cluster: 'c' })).toThrow('options.client');
    expect(() => new Leases({ client: a.client } as never)).toThrow(InvalidArgumentError);
    expect((await a.leases.acquire([], a.me)).acquired.size).toBe(0);
  });

  it('rejects with StoreError when Redis does not answer', async () => {
    const client = new Redis(redis.url, { lazyConnect: true, enableOfflineQueue: false });
    onCleanup(() => client.disconnect());
    const leases = new Leases({ client, cluster: CLUSTER, prefix: uniquePrefix() });
    const err = await leases.acquire(['s'], holder('a')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect((err as StoreError).message).toMatch(/^lease acquire: no answer from Redis to a batch of 1: /);
    await expect(leases.owners(['s'])).rejects.toThrow(StoreError);
  });
});

describe.skipIf(!hasRedis())('Leases after a Redis restart without persistence', () => {
  it('hands out tokens larger than every token from before', async () => {
    const redis = await startRedis();
    onCleanup(() => redis.stop());
    const client = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    client.on('error', () => {});
    await client.connect();
    onCleanup(() => client.disconnect());
    const prefix = uniquePrefix();
    const leases = new Leases({ client, cluster: CLUSTER, prefix });
    const a = holder('a');
    await client.set(clusterKeys(prefix, CLUSTER).node('a'), a.incarnation);
    const before = await leases.acquire(['s'], a);
    // many acquisitions of one session
    for (let i = 0; i < 20; i++) {
      await leases.release(['s'], a);
      await leases.acquire(['s'], a);
    }
    const last = (await leases.owners(['s'])).get('s')?.token as number;
    expect(last).toBeGreaterThan(before.acquired.get('s') as number);

    await redis.restart();
    await vi.waitFor(async () => expect(await client.ping()).toBe('PONG'), { timeout: 10_000, interval: 50 });
    expect(await client.exists(`${sessionKeyBase(prefix, 's')}fence`)).toBe(0);
    const b = holder('b');
    const after = await leases.acquire(['s'], b);
    expect(after.acquired.get('s')).toBeGreaterThan(last);
  });
});

describe.skipIf(!hasRedis())('Leases on Redis Cluster', () => {
  let redis: RedisServer;
  let cluster: Cluster;

  beforeAll(async () => {
    // a one-node cluster holding every slot: a script whose keys span two slots fails with CROSSSLOT
    redis = await startRedisClusterNode();
    cluster = new Cluster([{ host: '127.0.0.1', port: redis.port }]);
  });

  afterAll(async () => {
    cluster?.disconnect();
    await redis?.stop();
  });

  it('acquires, refuses, takes over, reads and releases without crossing slots', async () => {
    const prefix = uniquePrefix();
    const a = holder('a');
    const b = holder('b');
    await cluster.set(clusterKeys(prefix, CLUSTER).node('a'), a.incarnation, 'PX', 60_000);
    await cluster.set(clusterKeys(prefix, CLUSTER).node('b'), b.incarnation, 'PX', 60_000);
    const la = new Leases({ client: cluster, cluster: CLUSTER, prefix });
    const lb = new Leases({ client: cluster, cluster: CLUSTER, prefix });
    const sessions = ids(200, 'c');
    const pipelines = vi.spyOn(cluster, 'pipeline');

    const mine = await la.acquire(sessions, a);
    expect(mine.acquired.size).toBe(200);
    expect((await lb.acquire(sessions, b)).refused.size).toBe(200);
    await cluster.del(clusterKeys(prefix, CLUSTER).node('a'));
    const taken = await lb.acquire(sessions, b);
    expect(taken.acquired.size).toBe(200);
    for (const s of sessions) expect(taken.acquired.get(s)).toBeGreaterThan(mine.acquired.get(s) as number);
    const owners = await la.owners(sessions);
    expect([...owners.values()].every((o) => o?.node === 'b' && o.alive)).toBe(true);
    expect((await lb.release(sessions, b)).length).toBe(200);
    expect(pipelines).not.toHaveBeenCalled();

    await cluster.call('SCRIPT', 'FLUSH');
    expect((await la.acquire(sessions.slice(0, 5), a)).acquired.size).toBe(5);
  });

  it('computes slots as Redis Cluster does', async () => {
    const keys = [
      'plain',
      'a{tag}b',
      '{}whole',
      'x{}{y}',
      '{a}{b}',
      'open{only',
      'é{ü}',
      `mqttkit:${sessionKeyBase('p:', 'dev-1')}owner`,
      '',
    ];
    for (const key of keys)
      expect(keySlot(key), key).toBe(Number(await cluster.call('CLUSTER', 'KEYSLOT', key)));
  });

  it('puts sessions that share a slot into one script call, and no others', async () => {
    const prefix = uniquePrefix();
    const a = holder('a');
    const b = holder('b');
    await cluster.set(clusterKeys(prefix, CLUSTER).node('a'), a.incarnation, 'PX', 60_000);
    await cluster.set(clusterKeys(prefix, CLUSTER).node('b'), b.incarnation, 'PX', 60_000);
    const la = new Leases({ client: cluster, cluster: CLUSTER, prefix });
    const lb = new Leases({ client: cluster, cluster: CLUSTER, prefix });
    // 2,000 ids over 16,384 slots: many slots hold two or more of them
    const sessions = ids(2_000, 's');
    const slots = (some: string[]) =>
      new Set(some.map((s) => keySlot(`${sessionKeyBase(prefix, s)}owner`))).size;
    expect(slots(sessions)).toBeLessThan(sessions.length);
    // acquire sends its first 32 (the probe) apart from the rest
    const [probe, rest] = [slots(sessions.slice(0, 32)), slots(sessions.slice(32))];
    const calls = vi.spyOn(cluster, 'call');

    expect((await la.acquire(sessions, a)).acquired.size).toBe(2_000);
    const evalsha = () => calls.mock.calls.filter(([c]) => c === 'EVALSHA' || c === 'EVAL').length;
    expect(evalsha()).toBe(probe + rest);
    calls.mockClear();
    await cluster.del(clusterKeys(prefix, CLUSTER).node('a'));
    const taken = await lb.acquire(sessions, b);
    expect(taken.acquired.size).toBe(2_000);
    expect(evalsha()).toBe(2 * probe + rest);
    calls.mockClear();
    expect((await lb.release(sessions, b)).length).toBe(2_000);
    expect(evalsha()).toBe(slots(sessions));
  });
});
