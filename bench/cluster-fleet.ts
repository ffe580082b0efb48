/**
 * The cluster benchmark's rows with real node processes (`cluster-node.ts`,
 * each its own ioredis client, RedisStore, SessionManager and FleetNode) on
 * the benchmark's private redis-server and a private mosquitto
 * (`startBroker` of sessions-spawn.ts: no connection limit, no log line per
 * connection). Times are taken in the node processes (ms since the epoch,
 * the same clock as here) when each session gets its CONNACK.
 *
 * 5. Takeover after a SIGKILL, FLEET_SIZES sessions (default 1,000 and
 *    10,000). Node A (weight 1) holds nearly all of them: B and C (weight
 *    0.001 each, so about 0.1% each while A lives) are the survivors; two of
 *    them because 10,000 sessions on one survivor plus the broker's 10,000
 *    sockets stay within the 20,000 open files per process, but not with
 *    room to spare. Once every session is connected, A is SIGKILLed; the
 *    remaining time of its lease key (PTTL, read at once) gives the moment
 *    its lease expires in Redis. Measured: from that expiry to the last of
 *    A's sessions connected on B or C, and from the SIGKILL (= the ttl
 *    left + that). The survivors notice at their first renewal after the
 *    expiry (one period at most), acquire in one batch, and connect at
 *    FleetNode's `concurrency` (default 50) at once. No peer: no MQTT
 *    library has fleet takeover; the Redis share beside per-session locks
 *    is row 2.
 * 6. Graceful handoff, HANDOFF_SESSIONS (default 1,000): a fleet of twice
 *    that on two equal nodes; `stop()` on A, timed to the last of A's
 *    sessions connected on B (B notices at its next renewal).
 * 7. Scale on this machine: SCALE_SESSIONS (default 3,000) over 1, 2 and 3
 *    equal nodes started together: connect rate per node (its sessions /
 *    its first to its last CONNACK), then QoS 1 publish rate per node (each
 *    connected session publishes PUBLISHES (default 10) 64-byte messages,
 *    one in flight, all nodes at once; RedisStore records each in flight).
 *    Peer: the same sessions split by hand (index % processes) over as many
 *    plain SessionManager processes with RedisStore, no FleetNode: what
 *    the fleet costs over static sharding. SCALE_ROUNDS (default 3) runs a
 *    side, alternating which goes first; medians (one run moves by tens of
 *    percent on a shared 2-core machine).
 * 8. Memory per idle session of a node process (from the 1-node run of 7):
 *    heap used and RSS after a GC, minus the same before any session,
 *    divided by the sessions; peer the plain process.
 *
 * Environment: FLEET_SIZES (comma list), HANDOFF_SESSIONS, SCALE_SESSIONS,
 * SCALE_NODES (comma list, default 1,2,3), SCALE_ROUNDS, PUBLISHES, FLEET_TTL (ms, default
 * 10000, FleetNode's; margin a fifth, period a third of the rest: 2,666 ms),
 * FLEET=0 to skip 5-8.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { Placement } from '../src/cluster/assignment.js';
import { clusterKeys } from '../src/cluster/keys.js';
import { onProcessEnd } from '../test/helpers/binaries.js';
import type { RedisServer } from '../test/helpers/redis.js';
import type { ClusterNodeConfig } from './cluster-node.js';
import { median, type SuiteRow } from './harness.js';
import { startBroker } from './sessions-spawn.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

const list = (v: string | undefined, d: number[]): number[] =>
  v === undefined || v === '' ? d : v.split(',').map(Number);
const FLEET_SIZES = list(process.env.FLEET_SIZES, [1_000, 10_000]).filter((n) => n > 0); // 0: none
const HANDOFF_SESSIONS = Number(process.env.HANDOFF_SESSIONS ?? 1_000); // 0: none
const SCALE_SESSIONS = Number(process.env.SCALE_SESSIONS ?? 3_000);
const SCALE_NODES = list(process.env.SCALE_NODES, [1, 2, 3]).filter((k) => k > 0); // 0: none
const PUBLISHES = Number(process.env.PUBLISHES ?? 10);
/** Runs of each scale configuration per side, alternating which goes first; medians. */
const SCALE_ROUNDS = Number(process.env.SCALE_ROUNDS ?? 3);
const TTL = Number(process.env.FLEET_TTL ?? 10_000);
const MARGIN = Math.floor(TTL / 5);
const PERIOD = Math.floor((TTL - MARGIN) / 3);
/** How long any wait may take before the run fails (a bound, not a measure). */
const WAIT_MS = 180_000;

const now = (): number => performance.timeOrigin + performance.now();
const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const log = (line: string): void => void process.stderr.write(`  ${line}\n`);

const live = new Set<ChildProcess>();
onProcessEnd(() => {
  for (const child of live) child.kill('SIGKILL');
});

/** A group of node processes of one run, and what they said. */
class Run {
  /** Client id -> the node it last connected on, and when. */
  readonly at = new Map<string, { node: string; t: number }>();
  /** Every CONNACK, in order. */
  readonly connects: { id: string; node: string; t: number }[] = [];
  readonly procs = new Map<string, ChildProcess>();
  readonly said = new Map<string, string[]>();
  /** Sessions stopped, by `<node> <reason>`: anything but 'handoff' and 'leave' means trouble. */
  readonly released = new Map<string, number>();
  readonly #waiters = new Set<() => void>();
  readonly cluster = `bench-${randomUUID().slice(0, 8)}`;
  readonly prefix = `mqttkit-bench:${randomUUID().slice(0, 8)}:`;

  constructor(
    readonly redis: RedisServer,
    readonly brokerUrl: string,
    readonly tag: string,
    readonly count: number,
  ) {}

  start(node: string, extra: Partial<ClusterNodeConfig> = {}): void {
    const config: ClusterNodeConfig = {
      mode: 'fleet',
      redisUrl: this.redis.url,
      brokerUrl: this.brokerUrl,
      cluster: this.cluster,
      prefix: this.prefix,
      node,
      tag: this.tag,
      count: this.count,
      ttl: TTL,
      margin: MARGIN,
      weight: 1,
      shard: 0,
      shards: 1,
      ...extra,
    };
    const child = spawn(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', join(here, 'cluster-node.ts'), JSON.stringify(config)],
      { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    live.add(child);
    child.once('exit', () => live.delete(child));
    child.stdin?.on('error', () => {});
    this.procs.set(node, child);
    this.said.set(node, []);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      const [what, a, b] = line.split(' ');
      if (what === 'c') {
        const t = Number(b);
        this.at.set(a, { node, t });
        this.connects.push({ id: a, node, t });
      } else if (what === 'r') {
        const why = `${node} ${line.split(' ')[3]}`;
        this.released.set(why, (this.released.get(why) ?? 0) + 1);
      } else this.said.get(node)?.push(line);
      if (what === 'error') log(`${node}: ${line}`);
      for (const w of this.#waiters) w();
    });
  }

  /** Resolves once `done()` holds, checked after every line a node prints. */
  until<T>(what: string, done: () => T | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const v = done();
        if (v === undefined) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(v);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`cluster bench: ${what} not done within ${WAIT_MS} ms`));
      }, WAIT_MS);
      this.#waiters.add(check);
      check();
    });
  }

  /** The last line of `node` that starts with `what `, once there is one after `after` such lines. */
  line(node: string, what: string, after = 0): Promise<string[]> {
    return this.until(`${node} ${what}`, () => {
      const lines = (this.said.get(node) ?? []).filter((l) => l.startsWith(`${what} `));
      return lines.length > after ? lines[lines.length - 1].split(' ').slice(1) : undefined;
    });
  }

  /**
   * Resolves, with the time of the last, when every one of `ids` has
   * connected on a node `ok` accepts (checked once each: amortized, not per
   * line per session).
   */
  all(
    what: string,
    ids: Iterable<string>,
    ok: (id: string, at: { node: string; t: number }) => boolean,
  ): Promise<number> {
    const pending = new Set(ids);
    let last = 0;
    return this.until(what, () => {
      for (const id of pending) {
        const at = this.at.get(id);
        if (at === undefined || !ok(id, at)) continue;
        pending.delete(id);
        last = Math.max(last, at.t);
      }
      return pending.size === 0 ? last : undefined;
    });
  }

  /** Resolves when every session is connected on the node `place` gives it. */
  placed(place: (id: string) => string): Promise<number> {
    const ids = Array.from({ length: this.count }, (_, i) => `${this.tag}-${i}`);
    return this.all(`all ${this.count} connected where placed`, ids, (id, at) => at.node === place(id));
  }

  send(node: string, command: string): void {
    this.procs.get(node)?.stdin?.write(`${command}\n`);
  }

  kill(node: string): void {
    this.procs.get(node)?.kill('SIGKILL');
  }

  /** Kills every node and waits until they are gone (their sockets closed); says what stopped sessions. */
  async end(): Promise<void> {
    if (this.released.size > 0)
      log(`${this.tag}: sessions stopped ${JSON.stringify(Object.fromEntries(this.released))}`);
    await Promise.all(
      [...this.procs.values()].map(
        (p) =>
          new Promise<void>((resolve) => {
            if (p.exitCode !== null || p.signalCode !== null) return resolve();
            p.once('exit', () => resolve());
            p.kill('SIGKILL');
          }),
      ),
    );
  }
}

/** Where the fleet's placement puts each session of `run` over nodes of these weights. */
function placement(run: Run, weights: Record<string, number>): (id: string) => string {
  const ids = Array.from({ length: run.count }, (_, i) => `${run.tag}-${i}`);
  const where = new Map<string, string>();
  const assigned = new Placement(Object.entries(weights).map(([id, weight]) => ({ id, weight }))).assign(ids);
  for (const [node, sessions] of assigned) for (const s of sessions) where.set(s, node);
  return (id) => where.get(id) ?? '';
}

const row = (scenario: string, mqttkit: string, values: Record<string, number>): SuiteRow => ({
  scenario,
  mqttkit,
  peer: '',
  peerName: '',
  values,
});

async function takeover(redis: RedisServer, admin: Redis, brokerUrl: string, n: number) {
  const run = new Run(redis, brokerUrl, `k${n}x${randomUUID().slice(0, 4)}`, n);
  try {
    const weights = { a: 1, b: 0.001, c: 0.001 };
    for (const [node, weight] of Object.entries(weights)) run.start(node, { weight });
    const place = placement(run, weights);
    await run.placed(place);
    const dead = [...run.at.keys()].filter((id) => place(id) === 'a');
    const t0 = now();
    run.kill('a');
    const pttl = await admin.pttl(clusterKeys(run.prefix, run.cluster).node('a'));
    const expiry = t0 + pttl;
    const last = await run.all(`takeover of ${dead.length}`, dead, (_, at) => at.node !== 'a' && at.t >= t0);
    const after = run.connects.filter((c) => c.t >= t0 && c.node !== 'a').map((c) => c.t - expiry);
    after.sort((x, y) => x - y);
    const first = expiry + after[0];
    const pct = (p: number): number =>
      Math.round(after[Math.min(after.length - 1, Math.floor(p * after.length))]);
    const out = {
      p50: pct(0.5),
      p90: pct(0.9),
      p99: pct(0.99),
      sessions: dead.length,
      fleet: n,
      fromExpiry: last - expiry,
      fromKill: last - t0,
      firstFromExpiry: first - expiry,
      leaseLeft: pttl,
    };
    log(`takeover ${n}: ${JSON.stringify(out)}`);
    return out;
  } finally {
    await run.end();
  }
}

async function handoff(redis: RedisServer, brokerUrl: string, n: number) {
  const run = new Run(redis, brokerUrl, `h${n}x${randomUUID().slice(0, 4)}`, 2 * n);
  try {
    run.start('a');
    run.start('b');
    const place = placement(run, { a: 1, b: 1 });
    await run.placed(place);
    const moving = [...run.at.keys()].filter((id) => place(id) === 'a');
    const t0 = now();
    run.send('a', 'stop');
    const last = await run.all(
      `handoff of ${moving.length}`,
      moving,
      (_, at) => at.node === 'b' && at.t >= t0,
    );
    const stopped = Number((await run.line('a', 'stopped'))[0]);
    const out = { sessions: moving.length, ms: last - t0, stopMs: stopped - t0 };
    log(`handoff ${n}: ${JSON.stringify(out)}`);
    return out;
  } finally {
    await run.end();
  }
}

/** The median of each number of `results`, field by field. */
function medians(results: readonly ScaleResult[]): ScaleResult {
  const m = (f: (r: ScaleResult) => number | undefined): number | undefined => {
    const xs = results.map(f).filter((x): x is number => x !== undefined);
    return xs.length === 0 ? undefined : median(xs);
  };
  return {
    connectPerNode: m((r) => r.connectPerNode) ?? 0,
    publishPerNode: m((r) => r.publishPerNode) ?? 0,
    heapPerSession: m((r) => r.heapPerSession),
    rssPerSession: m((r) => r.rssPerSession),
  };
}

interface ScaleResult {
  /** Per node: sessions connected / (its last CONNACK - its first), per second; mean over nodes. */
  connectPerNode: number;
  /** Per node: QoS 1 messages acknowledged per second; mean over nodes. */
  publishPerNode: number;
  /** 1 process only: bytes per session. */
  heapPerSession?: number;
  rssPerSession?: number;
}

async function scale(redis: RedisServer, brokerUrl: string, nodes: number, mode: 'fleet' | 'plain') {
  const run = new Run(redis, brokerUrl, `s${mode[0]}${nodes}x${randomUUID().slice(0, 4)}`, SCALE_SESSIONS);
  const names = Array.from({ length: nodes }, (_, i) => `n${i}`);
  try {
    for (const [i, name] of names.entries()) run.start(name, { mode, shard: i, shards: nodes });
    const place =
      mode === 'fleet'
        ? placement(run, Object.fromEntries(names.map((n) => [n, 1])))
        : (id: string) => names[Number(id.slice(id.lastIndexOf('-') + 1)) % nodes];
    await run.placed(place);
    const rates = names.map((name) => {
      const mine = run.connects.filter((c) => c.node === name).map((c) => c.t);
      return mine.length < 2 ? 0 : ((mine.length - 1) * 1000) / (Math.max(...mine) - Math.min(...mine));
    });
    const out: ScaleResult & { perNode: number[] } = {
      connectPerNode: rates.reduce((a, b) => a + b, 0) / nodes,
      publishPerNode: 0,
      perNode: names.map((name) => run.connects.filter((c) => c.node === name).length),
    };
    if (nodes === 1) {
      const [baseHeap, baseRss] = (await run.line('n0', 'base')).map(Number);
      run.send('n0', 'mem');
      const [sessions, heap, rss] = (await run.line('n0', 'mem')).map(Number);
      out.heapPerSession = (heap - baseHeap) / sessions;
      out.rssPerSession = (rss - baseRss) / sessions;
    }
    for (const name of names) run.send(name, `pub ${PUBLISHES}`);
    const pubs = await Promise.all(names.map((name) => run.line(name, 'pub')));
    out.publishPerNode = pubs.reduce((a, [sent, ms]) => a + (Number(sent) * 1000) / Number(ms), 0) / nodes;
    const failed = pubs.reduce((a, p) => a + Number(p[2]), 0);
    if (failed > 0) log(`scale ${mode} ${nodes}: ${failed} publishes failed (sessions closed meanwhile)`);
    log(`scale ${mode} ${nodes}: ${JSON.stringify(out)}`);
    return out;
  } finally {
    await run.end();
  }
}

/** Rows 5-8 (see the file's header); `details` gets the numbers. */
export async function fleetRows(
  redis: RedisServer,
  admin: Redis,
  rows: SuiteRow[],
  details: Record<string, unknown>,
): Promise<void> {
  if (process.env.FLEET === '0') return;
  const broker = await startBroker();
  const out: Record<string, unknown> = { ttl: TTL, margin: MARGIN, period: PERIOD };
  try {
    for (const n of FLEET_SIZES) {
      const r = await takeover(redis, admin, broker.url, n);
      out[`takeover${n}`] = r;
      const what = `takeover after SIGKILL: ${int(r.sessions)} of ${int(n)} sessions onto 2 surviving node processes (ttl ${TTL} ms, period ${PERIOD} ms)`;
      rows.push(
        row(`${what}: lease expiry -> last connected`, `${int(r.fromExpiry)} ms`, r),
        row(`${what}: SIGKILL -> last connected`, `${int(r.fromKill)} ms`, r),
      );
    }
    const h = HANDOFF_SESSIONS > 0 ? await handoff(redis, broker.url, HANDOFF_SESSIONS) : undefined;
    out.handoff = h;
    if (h !== undefined)
      rows.push(
        row(
          `graceful handoff: stop() -> all ${int(h.sessions)} sessions connected on the other node (period ${PERIOD} ms)`,
          `${int(h.ms)} ms`,
          h,
        ),
      );
    for (const k of SCALE_NODES) {
      const runs: Record<'fleet' | 'plain', ScaleResult[]> = { fleet: [], plain: [] };
      for (let r = 0; r < SCALE_ROUNDS; r++)
        for (const mode of r % 2 === 0 ? (['fleet', 'plain'] as const) : (['plain', 'fleet'] as const))
          runs[mode].push(await scale(redis, broker.url, k, mode));
      const [fleet, plain] = [medians(runs.fleet), medians(runs.plain)];
      out[`scale${k}`] = runs;
      const what = `${int(SCALE_SESSIONS)} sessions over ${k} node process${k === 1 ? '' : 'es'}`;
      const peerName = `plain SessionManager, ${k} process${k === 1 ? '' : 'es'} sharded by hand`;
      rows.push(
        {
          scenario: `${what}: sessions connected per second per node`,
          mqttkit: `${int(fleet.connectPerNode)}/s`,
          peer: `${int(plain.connectPerNode)}/s`,
          peerName,
          ratio: fleet.connectPerNode / plain.connectPerNode,
          values: { mqttkit: fleet.connectPerNode, peer: plain.connectPerNode },
        },
        {
          scenario: `${what}: QoS 1 messages per second per node (RedisStore)`,
          mqttkit: `${int(fleet.publishPerNode)}/s`,
          peer: `${int(plain.publishPerNode)}/s`,
          peerName,
          ratio: fleet.publishPerNode / plain.publishPerNode,
          values: { mqttkit: fleet.publishPerNode, peer: plain.publishPerNode },
        },
      );
      if (k === 1 && fleet.heapPerSession !== undefined && plain.heapPerSession !== undefined) {
        const kb = (b: number | undefined): string => `${((b ?? 0) / 1024).toFixed(1)} KiB`;
        rows.push(
          {
            scenario: `idle node process, ${int(SCALE_SESSIONS)} sessions: heap used per session`,
            mqttkit: kb(fleet.heapPerSession),
            peer: kb(plain.heapPerSession),
            peerName: 'plain SessionManager',
            ratio: plain.heapPerSession / fleet.heapPerSession,
            values: { mqttkit: fleet.heapPerSession, peer: plain.heapPerSession },
          },
          {
            scenario: `idle node process, ${int(SCALE_SESSIONS)} sessions: RSS per session`,
            mqttkit: kb(fleet.rssPerSession),
            peer: kb(plain.rssPerSession),
            peerName: 'plain SessionManager',
            ratio: (plain.rssPerSession ?? 0) / (fleet.rssPerSession ?? 1),
            values: { mqttkit: fleet.rssPerSession ?? 0, peer: plain.rssPerSession ?? 0 },
          },
        );
      }
    }
  } finally {
    details.fleet = out;
    await broker.stop();
  }
}
