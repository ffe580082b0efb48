/**
 * Cluster: what session ownership costs on Redis, mqttkit's `src/cluster/`
 * beside the per-session lock every Node lock library gives (redlock and
 * its like, on one Redis: `SET lock val NX PX ttl` to take, a script
 * `GET == val then PEXPIRE` to extend, `GET == val then DEL` to release),
 * on a private redis-server (`test/helpers/redis.ts`), one process, one
 * connection per node. What this measures is Redis's share of the work;
 * sockets, brokers and the handover signalling are not in it.
 *
 * 1. Lease upkeep, 10,000 sessions owned by one node. mqttkit renews the
 *    node's lease (`Membership.renew()`: one EVALSHA a period, whatever the
 *    number of sessions; the sessions' `:owner`/`:fence` keys, taken once
 *    with `Leases.acquire`, are never touched again). The peer renews each
 *    session's lock every period, pipelined: `SET XX PX` (the cheapest
 *    renewal there is, though it does not check who holds the lock) or the
 *    redlock-style extend script (which does). Commands are counted, not
 *    timed: `INFO commandstats` before and after PERIODS periods (renewals
 *    back to back, as `start()` would send them one a period), every
 *    command Redis ran except INFO, those run inside scripts included; the
 *    count per period over the default period (`start()`'s: a third of
 *    ttl - margin, 2,666 ms at the default ttl of 10 s) gives commands per
 *    second. Redis's execution time (commandstats usec of the commands sent)
 *    is shown too: commands could be made few by making them big.
 * 2. Takeover from a dead node, 1,000 and 10,000 sessions: node A takes
 *    them, its lease key is deleted (as when it expires after a SIGKILL),
 *    and node B's `Leases.acquire` of all of them is timed (a probe of 32
 *    finds the owner, one MGET finds it dead, then every other session is
 *    taken with a new fencing token in one script call per 1,000, the
 *    probe's too). Each run's B is a fresh incarnation, and A's, so what B
 *    remembers of earlier runs' dead owners does not help it. Peer: node A's locks are gone (expired) and
 *    B sends `SET NX PX` per session, all in one pipeline (the fastest way;
 *    one round trip), and also one at a time (`for ... await`, what a loop
 *    over a lock library's `acquire` does). The peer hands out no fencing
 *    token and does not check the old owner: it is the cost floor, not an
 *    equal. Median of RUNS runs per side after a warm-up each, the sides
 *    alternating (mqttkit runs beside each peer: its median is of 2 x RUNS).
 *    Commands: those of one run, counted as in 1.
 * 3. Graceful handoff: A releases the sessions and B acquires them, timed
 *    together (ms), 1,000 and 10,000 sessions. Peer: the release script per
 *    session in one pipeline, then `SET NX PX` per session in another.
 *    The two nodes are two connections of this process: the time is
 *    Redis's part of a handoff, not the signalling between the nodes.
 * 4. Placement: `Placement.assign` of 10,000 sessions over 3 and 10 nodes
 *    (weighted rendezvous hashing, one hash per node and session), timed
 *    with `compare()` beside a modulo assignment (`hash(session) % nodes`,
 *    with the same MurmurHash3 of the id: one hash per session). And the
 *    point of it: how many sessions move when one node joins (3 -> 4,
 *    10 -> 11): rendezvous moves only those the new node takes, about
 *    1/(n+1), modulo about n/(n+1). Target: rendezvous within 10% of the
 *    ideal 1/(n+1).
 *
 * 5-8. With real node processes and a private mosquitto: takeover after a
 *    SIGKILL, graceful handoff, connect and publish rates with 1-3 nodes,
 *    memory per idle session (`cluster-fleet.ts`, which says how).
 *
 * Environment: `RUNS` (timed runs per side, default 5); those of
 * `cluster-fleet.ts` (`FLEET=0` skips 5-8). Needs redis-server (and
 * mosquitto for 5-8).
 */
import { Redis } from 'ioredis';
import { murmur3Utf16, Placement } from '../src/cluster/assignment.js';
import { clusterKeys } from '../src/cluster/keys.js';
import { type LeaseHolder, Leases } from '../src/cluster/leases.js';
import { Membership } from '../src/cluster/membership.js';
import { hasRedis, type RedisServer, startRedis } from '../test/helpers/redis.js';
import { fleetRows } from './cluster-fleet.js';
import { compare, median, type SuiteRow, save, targetText } from './harness.js';

const RUNS = Number(process.env.RUNS ?? 5);
const CLUSTER = 'bench';
const PREFIX = 'mqttkit:';
const TTL = 10_000;
/** Renewals counted for upkeep. */
const PERIODS = 10;
const UPKEEP_SESSIONS = 10_000;
const TAKEOVER_SIZES = [1_000, 10_000];
const HANDOFF_SIZES = [1_000, 10_000];
const PLACED = 10_000;
const NODE_COUNTS = [3, 10];
/** The upkeep target: at least this many times fewer commands than one renewal per session. */
const UPKEEP_TARGET = 100;
/** How far from the ideal 1/(n+1) the sessions rendezvous moves may be. */
const MOVE_TOLERANCE = 0.1;

const sessionIds = (n: number): string[] =>
  Array.from({ length: n }, (_, i) => `dev-${String(i).padStart(6, '0')}`);

// ---- the peer: a per-session lock, redlock-style on one Redis ----

const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const lockKey = (id: string): string => `lock:session:${id}`;

/** Runs `add` for each id on one pipeline; throws unless every reply is `expected`. */
async function pipelined(
  client: Redis,
  ids: readonly string[],
  add: (p: ReturnType<Redis['pipeline']>, id: string) => void,
  expected: unknown,
  what: string,
): Promise<void> {
  const p = client.pipeline();
  for (const id of ids) add(p, id);
  const replies = (await p.exec()) ?? [];
  let bad = ids.length - replies.length;
  for (const [err, reply] of replies) if (err !== null || reply !== expected) bad++;
  if (bad > 0) throw new Error(`peer ${what}: ${bad} of ${ids.length} replies were not ${String(expected)}`);
}

// ---- counting what Redis ran ----

interface Tally {
  /** Every command Redis ran (those inside scripts included), INFO excluded. */
  calls: number;
  /** The commands the client sent. */
  sent: number;
  /** Redis's execution time of the commands sent, µs (a script's includes what it calls). */
  usec: number;
  /** Calls by command name. */
  byCommand: Record<string, number>;
}

type Stats = Map<string, { calls: number; usec: number }>;

/** Commands mqttkit's side sends (the rest counted are those its scripts call). */
const MQTTKIT_SENT = new Set(['evalsha', 'eval', 'script|load', 'mget']);
/** Commands the peer sends (its scripts call GET, PEXPIRE and DEL). */
const PEER_SENT = new Set(['set', 'evalsha', 'eval', 'script|load']);

async function commandStats(admin: Redis): Promise<Stats> {
  const out: Stats = new Map();
  for (const m of (await admin.info('commandstats')).matchAll(/^cmdstat_(\S+):calls=(\d+),usec=(\d+)/gm))
    out.set(m[1], { calls: Number(m[2]), usec: Number(m[3]) });
  return out;
}

/**
 * What Redis ran between two snapshots. `sent` names the commands the
 * measured side sends itself: `set` is sent by the peer, but only called
 * from scripts by mqttkit.
 */
function tally(before: Stats, after: Stats, sent: ReadonlySet<string>): Tally {
  const t: Tally = { calls: 0, sent: 0, usec: 0, byCommand: {} };
  for (const [name, a] of after) {
    if (name === 'info') continue;
    const b = before.get(name) ?? { calls: 0, usec: 0 };
    const calls = a.calls - b.calls;
    if (calls === 0) continue;
    t.byCommand[name] = calls;
    t.calls += calls;
    if (sent.has(name)) {
      t.sent += calls;
      t.usec += a.usec - b.usec;
    }
  }
  return t;
}

/** Runs `fn` between two snapshots; what Redis ran, and how long `fn` took. */
async function counted(
  admin: Redis,
  sent: ReadonlySet<string>,
  fn: () => Promise<unknown>,
): Promise<Tally & { ms: number }> {
  const before = await commandStats(admin);
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  return { ...tally(before, await commandStats(admin), sent), ms };
}

// ---- formatting ----

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const dec = (n: number): string =>
  n >= 100 ? int(n) : n >= 10 ? n.toFixed(1) : n >= 1 ? n.toFixed(2) : n.toFixed(3);
const ms = (n: number): string => `${dec(n)} ms`;
const log = (line: string): void => void process.stderr.write(`  ${line}\n`);

/** A row where lower is better: the ratio is peer / mqttkit. */
function lowerRow(
  scenario: string,
  ours: number,
  theirs: number,
  peerName: string,
  show: (n: number) => string,
  target?: number,
): SuiteRow {
  const ratio = theirs / ours;
  return {
    scenario,
    mqttkit: show(ours),
    peer: show(theirs),
    peerName,
    ratio,
    ...(target !== undefined && { target: targetText(target), met: ratio >= target }),
    values: { mqttkit: ours, peer: theirs },
  };
}

// ---- the nodes ----

/** What every part of the run shares: the server, a connection for INFO and set-up, what it found. */
interface Context {
  server: RedisServer;
  admin: Redis;
  rows: SuiteRow[];
  details: Record<string, unknown>;
}

interface Node {
  client: Redis;
  leases: Leases;
}

async function connect(server: RedisServer): Promise<Redis> {
  const client = new Redis(server.url, { lazyConnect: true });
  await client.connect();
  return client;
}

async function node(server: RedisServer): Promise<Node> {
  const client = await connect(server);
  return { client, leases: new Leases({ client, cluster: CLUSTER, prefix: PREFIX }) };
}

const nodeKey = (id: string): string => clusterKeys(PREFIX, CLUSTER).node(id);

/** A fresh incarnation of node `id`, its lease key set as Membership keeps it. */
async function live(admin: Redis, id: string, run: number): Promise<LeaseHolder> {
  const holder = { id, incarnation: `${id}-inc-${run}-${Math.random().toString(36).slice(2)}` };
  await admin.set(nodeKey(id), holder.incarnation, 'PX', 60_000);
  return holder;
}

async function acquireAll(n: Node, ids: readonly string[], holder: LeaseHolder): Promise<void> {
  const { acquired, refused } = await n.leases.acquire(ids, holder);
  if (acquired.size !== ids.length)
    throw new Error(`${holder.id} acquired ${acquired.size} of ${ids.length} (${refused.size} refused)`);
}

/**
 * Runs each side RUNS times after one warm-up each, alternating which goes
 * first; each run is `setup` (not counted), then the measured part.
 */
async function alternate<T extends { ms: number }>(
  ours: (run: number) => Promise<T>,
  theirs: (run: number) => Promise<T>,
): Promise<[T[], T[]]> {
  await ours(-1);
  await theirs(-1);
  const a: T[] = [];
  const b: T[] = [];
  for (let r = 0; r < RUNS; r++) {
    if (r % 2 === 0) {
      a.push(await ours(r));
      b.push(await theirs(r));
    } else {
      b.push(await theirs(r));
      a.push(await ours(r));
    }
  }
  return [a, b];
}

// ---- 1. lease upkeep ----

async function upkeep({ server, admin, rows, details }: Context): Promise<void> {
  const ids = sessionIds(UPKEEP_SESSIONS);
  const a = await node(server);
  const membership = new Membership({ client: a.client, cluster: CLUSTER, node: 'gw-1', ttl: TTL });
  await membership.join();
  const incarnation = membership.incarnation;
  if (incarnation === undefined) throw new Error('the membership has no incarnation');
  await acquireAll(a, ids, { id: 'gw-1', incarnation });
  // start()'s default period
  const period = Math.max(1, Math.floor((membership.ttl - membership.margin) / 3));
  const perSecond = 1000 / period / PERIODS;

  const ours = await counted(admin, MQTTKIT_SENT, async () => {
    for (let p = 0; p < PERIODS; p++) await membership.renew();
  });
  await membership.leave();

  const peer = await connect(server);
  const token = 'gw-1-token';
  await pipelined(peer, ids, (p, id) => p.set(lockKey(id), token, 'PX', TTL, 'NX'), 'OK', 'lock');
  const setXX = await counted(admin, PEER_SENT, async () => {
    for (let p = 0; p < PERIODS; p++)
      await pipelined(peer, ids, (q, id) => q.set(lockKey(id), token, 'PX', TTL, 'XX'), 'OK', 'SET XX');
  });
  const sha = String(await peer.script('LOAD', EXTEND));
  const extend = await counted(admin, PEER_SENT, async () => {
    for (let p = 0; p < PERIODS; p++)
      await pipelined(peer, ids, (q, id) => q.evalsha(sha, 1, lockKey(id), token, TTL), 1, 'extend');
  });
  peer.disconnect();
  a.client.disconnect();

  const scenario = (what: string) =>
    `lease upkeep, ${int(UPKEEP_SESSIONS)} sessions on 1 node, period ${int(period)} ms: ${what}`;
  rows.push(
    lowerRow(
      scenario('Redis commands/s'),
      ours.calls * perSecond,
      setXX.calls * perSecond,
      'SET XX PX per session',
      (n) => `${dec(n)} cmd/s`,
      UPKEEP_TARGET,
    ),
    lowerRow(
      scenario('Redis commands/s'),
      ours.calls * perSecond,
      extend.calls * perSecond,
      'redlock-style extend per session',
      (n) => `${dec(n)} cmd/s`,
      UPKEEP_TARGET,
    ),
    lowerRow(
      scenario('Redis busy µs/s (commandstats)'),
      ours.usec * perSecond,
      setXX.usec * perSecond,
      'SET XX PX per session',
      (n) => `${dec(n)} µs/s`,
    ),
  );
  for (const [name, t] of [
    ['mqttkit', ours],
    ['SET XX', setXX],
    ['extend', extend],
  ] as const)
    log(
      `upkeep ${name}: ${dec(t.calls / PERIODS)} commands a period (${dec(t.sent / PERIODS)} sent), ` +
        `${dec(t.usec / PERIODS)} µs of Redis, ${ms(t.ms / PERIODS)} wall a period; ${JSON.stringify(t.byCommand)}`,
    );
  details.upkeep = { sessions: UPKEEP_SESSIONS, periods: PERIODS, periodMs: period, ours, setXX, extend };
}

// ---- 2. takeover from a dead node ----

async function takeover({ server, admin, rows, details }: Context): Promise<void> {
  const a = await node(server);
  const b = await node(server);
  const out: Record<string, unknown> = {};
  for (const n of TAKEOVER_SIZES) {
    const ids = sessionIds(n);
    const ours = async (run: number) => {
      await admin.flushdb();
      const old = await live(admin, 'gw-1', run);
      await acquireAll(a, ids, old);
      await admin.del(nodeKey('gw-1')); // its lease ran out
      const me = await live(admin, 'gw-2', run);
      return counted(admin, MQTTKIT_SENT, () => acquireAll(b, ids, me));
    };
    const peer = (sequential: boolean) => async (run: number) => {
      await admin.flushdb();
      const old = `gw-1-${run}`;
      await pipelined(a.client, ids, (p, id) => p.set(lockKey(id), old, 'PX', TTL, 'NX'), 'OK', 'lock');
      await pipelined(a.client, ids, (p, id) => p.del(lockKey(id)), 1, 'expiry'); // they ran out
      const me = `gw-2-${run}`;
      return counted(admin, PEER_SENT, async () => {
        if (!sequential)
          return pipelined(b.client, ids, (p, id) => p.set(lockKey(id), me, 'PX', TTL, 'NX'), 'OK', 'take');
        for (const id of ids)
          if ((await b.client.set(lockKey(id), me, 'PX', TTL, 'NX')) !== 'OK')
            throw new Error(`peer take: ${id} was not free`);
      });
    };
    const [mine, pipe] = await alternate(ours, peer(false));
    const [mine2, seq] = await alternate(ours, peer(true));
    const oursMs = median([...mine, ...mine2].map((s) => s.ms));
    const last = mine[mine.length - 1];
    const scenario = `takeover of ${int(n)} sessions from a dead node (Leases.acquire)`;
    rows.push(
      lowerRow(
        `${scenario}, ms`,
        oursMs,
        median(pipe.map((s) => s.ms)),
        'SET NX PX per session, pipelined',
        ms,
      ),
      lowerRow(
        `${scenario}, ms`,
        oursMs,
        median(seq.map((s) => s.ms)),
        'SET NX PX per session, one at a time',
        ms,
      ),
      {
        scenario: `${scenario}: Redis commands sent / run`,
        mqttkit: `${int(last.sent)} / ${int(last.calls)}`,
        peer: `${int(pipe[0].sent)} / ${int(pipe[0].calls)}`,
        peerName: 'SET NX PX per session',
        ratio: pipe[0].calls / last.calls,
        values: { mqttkitSent: last.sent, mqttkit: last.calls, peerSent: pipe[0].sent, peer: pipe[0].calls },
      },
    );
    log(
      `takeover ${n}: mqttkit ${JSON.stringify(last.byCommand)}, peer ${JSON.stringify(pipe[0].byCommand)}`,
    );
    out[n] = { mqttkit: [...mine, ...mine2], pipelined: pipe, sequential: seq };
  }
  a.client.disconnect();
  b.client.disconnect();
  details.takeover = out;
}

// ---- 3. graceful handoff ----

async function handoff({ server, admin, rows, details }: Context): Promise<void> {
  const a = await node(server);
  const b = await node(server);
  const sha = String(await admin.script('LOAD', RELEASE));
  const out: Record<string, unknown> = {};
  for (const n of HANDOFF_SIZES) {
    const ids = sessionIds(n);
    const ours = async (run: number) => {
      await admin.flushdb();
      const from = await live(admin, 'gw-1', run);
      const to = await live(admin, 'gw-2', run);
      await acquireAll(a, ids, from);
      return counted(admin, MQTTKIT_SENT, async () => {
        const released = await a.leases.release(ids, from);
        if (released.length !== n) throw new Error(`released ${released.length} of ${n}`);
        await acquireAll(b, ids, to);
      });
    };
    const theirs = async (run: number) => {
      await admin.flushdb();
      const from = `gw-1-${run}`;
      const to = `gw-2-${run}`;
      await pipelined(a.client, ids, (p, id) => p.set(lockKey(id), from, 'PX', TTL, 'NX'), 'OK', 'lock');
      return counted(admin, PEER_SENT, async () => {
        await pipelined(a.client, ids, (p, id) => p.evalsha(sha, 1, lockKey(id), from), 1, 'release');
        await pipelined(b.client, ids, (p, id) => p.set(lockKey(id), to, 'PX', TTL, 'NX'), 'OK', 'take');
      });
    };
    const [mine, peer] = await alternate(ours, theirs);
    rows.push(
      lowerRow(
        `graceful handoff of ${int(n)} sessions: release + acquire, ms`,
        median(mine.map((s) => s.ms)),
        median(peer.map((s) => s.ms)),
        'release script + SET NX PX per session, pipelined',
        ms,
      ),
    );
    log(
      `handoff ${n}: mqttkit ${int(mine[0].sent)} sent / ${int(mine[0].calls)} run, ` +
        `peer ${int(peer[0].sent)} sent / ${int(peer[0].calls)} run`,
    );
    out[n] = { mqttkit: mine, peer };
  }
  a.client.disconnect();
  b.client.disconnect();
  details.handoff = out;
}

// ---- 4. placement ----

/** The peer: `hash(session) % nodes`, with the same hash of the id. */
function moduloAssign(sessions: readonly string[], ids: readonly string[]): Map<string, string[]> {
  const lists: string[][] = ids.map(() => []);
  for (const s of sessions) lists[murmur3Utf16(s, 0) % ids.length].push(s);
  return new Map(ids.map((id, i) => [id, lists[i]]));
}

function owners(assigned: Map<string, string[]>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [node, sessions] of assigned) for (const s of sessions) out.set(s, node);
  return out;
}

/** Sessions whose node differs, and how many of those went to `joined`. */
function moved(before: Map<string, string>, after: Map<string, string>, joined: string) {
  let count = 0;
  let toNew = 0;
  for (const [s, node] of after)
    if (before.get(s) !== node) {
      count++;
      if (node === joined) toNew++;
    }
  return { count, toNew };
}

function placement({ rows, details }: Context): void {
  const sessions = sessionIds(PLACED);
  const out: Record<string, unknown> = {};
  for (const n of NODE_COUNTS) {
    const ids = Array.from({ length: n }, (_, i) => `gw-${i + 1}`);
    const place = new Placement(ids.map((id) => ({ id })));
    let sink = 0;
    const r = compare(
      `Placement.assign of ${int(PLACED)} sessions over ${n} nodes (assigns/s)`,
      () => (sink += place.assign(sessions).size),
      'modulo hash',
      () => (sink += moduloAssign(sessions, ids).size),
      { ms: 200, rounds: 5 },
    );
    if (sink === 0) throw new Error('nothing was assigned');
    rows.push(
      lowerRow(
        `placement: assign ${int(PLACED)} sessions over ${n} nodes, ms`,
        1000 / r.mqttkit,
        1000 / r.peer,
        'modulo hash',
        ms,
      ),
    );

    const joined = `gw-${n + 1}`;
    const more = [...ids, joined];
    const sizes = [...place.assign(sessions).values()].map((l) => l.length);
    const rv = moved(
      owners(place.assign(sessions)),
      owners(new Placement(more.map((id) => ({ id }))).assign(sessions)),
      joined,
    );
    const md = moved(owners(moduloAssign(sessions, ids)), owners(moduloAssign(sessions, more)), joined);
    const ideal = PLACED / (n + 1);
    rows.push({
      scenario: `placement: sessions of ${int(PLACED)} that move when node ${n + 1} joins ${n} (ideal ${int(ideal)})`,
      mqttkit: int(rv.count),
      peer: int(md.count),
      peerName: 'modulo hash',
      ratio: md.count / rv.count,
      target: `within ${MOVE_TOLERANCE * 100}% of ideal`,
      met: Math.abs(rv.count - ideal) <= MOVE_TOLERANCE * ideal && rv.toNew === rv.count,
      values: { mqttkit: rv.count, peer: md.count, ideal, mqttkitToNew: rv.toNew, peerToNew: md.toNew },
    });
    log(
      `placement ${n} nodes: per node ${Math.min(...sizes)}..${Math.max(...sizes)} (mean ${int(PLACED / n)}); ` +
        `node ${n + 1} joins: rendezvous moves ${rv.count} (${rv.toNew} to the new node), ` +
        `modulo ${md.count} (${md.toNew} to the new node)`,
    );
    out[n] = { perNode: sizes, rendezvous: rv, modulo: md, ideal };
  }
  details.placement = out;
}

// ---- the run ----

function print(rows: readonly SuiteRow[]): string {
  const lines = ['| scenario | mqttkit | peer | ratio | target |', '|---|---:|---:|---:|---|'];
  for (const r of rows) {
    const target = r.target === undefined ? '' : `${r.target} ${r.met ? 'met' : 'MISSED'}`;
    lines.push(
      `| ${r.scenario} | ${r.mqttkit} | ${r.peer === '' ? '(no peer)' : `${r.peer} (${r.peerName})`} | ${r.ratio === undefined ? '' : `${r.ratio.toFixed(2)}x`} | ${target} |`,
    );
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  if (!hasRedis()) throw new Error('bench/cluster needs redis-server');
  const server = await startRedis();
  const admin = await connect(server);
  const ctx: Context = { server, admin, rows: [], details: { runs: RUNS, ttl: TTL } };
  try {
    await upkeep(ctx);
    await takeover(ctx);
    await handoff(ctx);
    placement(ctx);
    await fleetRows(server, admin, ctx.rows, ctx.details);
  } catch (err) {
    process.stderr.write(`redis-server's log:\n${server.log().split('\n').slice(-20).join('\n')}\n`);
    throw err;
  } finally {
    admin.disconnect();
    await server.stop();
  }
  console.log(
    `\nSession ownership on one private redis-server (ttl ${TTL / 1000} s); times are medians of ${RUNS} runs ` +
      'per side; commands counted with INFO commandstats (inside scripts included). The ratio is how many ' +
      'times better mqttkit does (peer / mqttkit: fewer commands, less time, fewer moves).\n',
  );
  console.log(print(ctx.rows));
  save('cluster', ctx.rows, ctx.details);
}

await main();
