/**
 * A fleet on two worker processes (`workers-fixture.ts`: a primary that
 * forks two workers, each re-running the script), on one private
 * mosquitto, the sessions' state in one file store directory shared by the
 * workers. Counted, not timed: every wait is for lines the processes print,
 * messages a subscriber here gets, or lines of mosquitto's log.
 *
 * The broker's log is the witness of "one connection per client id": it
 * logs each connection ("New client connected from ... as <id>") and each
 * end ("Client <id> disconnected." / "closed its connection." / "already
 * connected, closing old connection." when a new connection takes an id
 * over). Walking it, a client id is never connected twice, except once for
 * each session of the worker that was SIGKILLed, whose connections the
 * kernel closed with the process (the broker may see the new one first).
 *
 * The primary's `sharedStats()` (asked with a `stats` line) lists the
 * sessions its workers run: over IPC, and, in a second fleet whose workers
 * are Redis nodes, through a private redis-server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Placement } from '../../src/cluster/assignment.js';
import type { SharedSessionStats } from '../../src/index.js';
import { Session } from '../../src/session/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, startRedis } from '../helpers/redis.js';

const here = dirname(fileURLToPath(import.meta.url));
const FLEET = 40;
const TICK = 100;
/** A bound on each wait, not a measure. */
const WAIT = { timeout: 60_000, interval: 50 };

interface Proc {
  proc: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

function run(file: string): Proc {
  const proc = spawn(
    process.execPath,
    ['--import', 'tsx', join(here, 'workers-fixture.ts'), file, '2', `${TICK}`],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines: string[] = [];
  createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (l) => lines.push(l));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  onCleanup(async () => {
    if (proc.exitCode === null && proc.signalCode === null) {
      proc.kill('SIGKILL');
      await exited;
    }
  });
  return { proc, lines, exited };
}

/** Which worker runs each session now, by the primary's acquired/released events; throws on two owners. */
function owners(lines: readonly string[]): Map<string, string | undefined> {
  const owner = new Map<string, string | undefined>();
  for (const l of lines) {
    const [ev, type, name, node] = l.split(' ');
    if (ev !== 'ev') continue;
    if (type === 'session_acquired') {
      const before = owner.get(name);
      if (before !== undefined) throw new Error(`${name} acquired by ${node} while ${before} held it`);
      owner.set(name, node);
    } else if (type === 'session_released') {
      if (owner.get(name) !== node)
        throw new Error(`${name} released by ${node}, held by ${owner.get(name)}`);
      owner.set(name, undefined);
    }
  }
  return owner;
}

/** Client ids connected twice at once by mosquitto's log (see the file's header), each with how often. */
function doubleConnections(log: string): Map<string, number> {
  const open = new Map<string, boolean>();
  const twice = new Map<string, number>();
  for (const line of log.split('\n')) {
    let m = /New client connected from \S+ as (wk-\d+) /.exec(line);
    if (m !== null) {
      if (open.get(m[1])) twice.set(m[1], (twice.get(m[1]) ?? 0) + 1);
      open.set(m[1], true);
      continue;
    }
    m = /Client (wk-\d+) (disconnected|closed its connection|already connected)/.exec(line);
    if (m !== null) {
      if (m[2] === 'already connected') twice.set(m[1], (twice.get(m[1]) ?? 0) + 1);
      open.set(m[1], false); // "already connected" is followed by the new connection's line
    } else if ((m = /Socket error on client (wk-\d+)/.exec(line)) !== null) open.set(m[1], false);
  }
  return twice;
}

describe.skipIf(!hasMosquitto())('workers: a fleet over two worker processes', () => {
  let broker: Broker;
  let dir: string;

  beforeAll(async () => {
    broker = await startMosquitto();
    dir = mkdtempSync(join(tmpdir(), 'mqttkit-workers-'));
  });
  afterAll(async () => {
    await broker?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('spreads the fleet, survives a worker killed (its sessions on the other at once, then back), stops gracefully', {
    timeout: 240_000,
  }, async () => {
    const file = join(dir, 'fleet.yaml');
    writeFileSync(
      file,
      [
        'defaults:',
        `  url: ${broker.url}`,
        '  clean: false',
        '  sessionExpiry: 300',
        '  reconnect: { initialDelay: 50, maxDelay: 200 }',
        '  store: { type: file, dir: ./store, fsync: never }',
        'sessions:',
        ...Array.from({ length: FLEET }, (_, i) => `  - { name: wk-${i}, clientId: wk-${i} }`),
        // not placed: each worker runs its own copy, client id wk-api-<worker>
        '  - { name: api, clientId: wk-api, everyNode: true }',
      ].join('\n'),
    );
    const names = Array.from({ length: FLEET }, (_, i) => `wk-${i}`);

    // every message of the fleet, by payload
    const received = new Set<string>();
    const sub = new Session({ url: broker.url, clientId: `wk-sub-${process.pid}` });
    onCleanup(() => sub.close());
    await sub.connect();
    await sub.subscribe('+/out', { qos: 1 }, (m) => received.add(Buffer.from(m.payload).toString()));

    const { proc, lines, exited } = run(file);
    const oks = () => lines.filter((l) => l.startsWith('ok ')).map((l) => l.slice(3));
    /** Sessions that published (resolved) from `node`'s process `pid` since line `from`. */
    const publishedFrom = (from: number, node: string, pid?: string) =>
      new Set(
        lines
          .slice(from)
          .filter((l) => l.startsWith(`ok ${node}:${pid ?? ''}`))
          .map((l) => l.split(':')[2]),
      );
    const pids = () =>
      new Map(
        lines.filter((l) => l.startsWith('pid ')).map((l) => l.split(' ').slice(1) as [string, string]),
      );

    // 1. spread: every session acquired once, on one of the two workers, and each publishing
    await vi.waitFor(() => expect(lines).toContain('started'), WAIT);
    await vi.waitFor(
      () => expect([...owners(lines).values()].filter((n) => n !== undefined)).toHaveLength(FLEET),
      WAIT,
    );
    const first = owners(lines);
    // placed by rendezvous over both workers from the start: nothing moved at the start
    const placement = new Placement([{ id: 'fx-w0' }, { id: 'fx-w1' }]);
    expect(names.filter((n) => first.get(n) !== placement.owner(n))).toEqual([]);
    expect(lines.filter((l) => l.startsWith('ev session_acquired'))).toHaveLength(FLEET);
    const on1 = names.filter((n) => first.get(n) === 'fx-w1');
    const on0 = names.filter((n) => first.get(n) === 'fx-w0');
    expect(on0.length + on1.length).toBe(FLEET);
    expect(on0.length).toBeGreaterThan(0);
    expect(on1.length).toBeGreaterThan(0);
    await vi.waitFor(() => {
      const published = new Set(oks().map((p) => p.split(':')[2]));
      expect(names.filter((n) => !published.has(n))).toEqual([]);
    }, WAIT);
    // each connected exactly once so far
    const connects = (log: string, id: string) =>
      log.split('\n').filter((l) => l.includes(` as ${id} (`)).length;
    // the everyNode session: one copy per worker, never an acquired session
    await vi.waitFor(
      () =>
        expect([connects(broker.log(), 'wk-api-fx-w0'), connects(broker.log(), 'wk-api-fx-w1')]).toEqual([
          1, 1,
        ]),
      WAIT,
    );
    expect(lines.filter((l) => l.startsWith('ev session_acquired api '))).toEqual([]);
    const log1 = broker.log();
    expect(names.filter((n) => connects(log1, n) !== 1)).toEqual([]);
    // a file store: no warning about state kept in memory
    expect(lines.filter((l) => l.startsWith('ev cluster_error'))).toEqual([]);

    // the primary runs no session, and shows every worker's: asked, its workers share their numbers
    const stats = () => {
      const last = lines.findLast((l) => l.startsWith('stats '));
      return last === undefined ? [] : (JSON.parse(last.slice(6)) as SharedSessionStats[]);
    };
    await vi.waitFor(
      () => {
        proc.stdin?.write('stats\n');
        const rows = stats();
        expect(rows.filter((r) => r.state === 'connected')).toHaveLength(FLEET + 2);
        const where = new Map(rows.map((r) => [r.name, r.node]));
        expect(names.filter((n) => where.get(n) !== first.get(n))).toEqual([]);
        // each worker's own copy of the everyNode session, under the same name
        expect(rows.filter((r) => r.name === 'api').map((r) => r.node)).toEqual(['fx-w0', 'fx-w1']);
      },
      { ...WAIT, interval: 200 },
    );
    expect(stats().every((r) => r.url === broker.url && r.version === 5 && r.lastError === null)).toBe(true);

    // 2. SIGKILL worker 1: its sessions go to worker 0 at once
    const killedPid = pids().get('fx-w1') as string;
    const mark = lines.length;
    process.kill(Number(killedPid), 'SIGKILL');
    await vi.waitFor(() => {
      const after = lines.slice(mark);
      expect(after).toContain('ev node_left fx-w1');
      for (const n of on1) expect(after).toContain(`ev session_released ${n} fx-w1 worker`);
    }, WAIT);
    // 3. then back on the restarted worker 1, by graceful handoff, and publishing from its new process
    await vi.waitFor(() => {
      const newPid = pids().get('fx-w1');
      expect(newPid).not.toBe(killedPid);
      expect([...publishedFrom(mark, 'fx-w1', newPid)].sort()).toEqual([...on1, 'wk-api-fx-w1'].sort());
    }, WAIT);
    const after = lines.slice(mark);
    expect(after).toContain('ev node_joined fx-w1');
    for (const n of on1) {
      // failover to w0, handed back by w0, taken again by w1: in that order
      const i = after.indexOf(`ev session_acquired ${n} fx-w0`);
      const j = after.indexOf(`ev session_released ${n} fx-w0 handoff`);
      const k = after.lastIndexOf(`ev session_acquired ${n} fx-w1`);
      expect(i).toBeGreaterThanOrEqual(0);
      expect(j).toBeGreaterThan(i);
      expect(k).toBeGreaterThan(j);
    }
    // the sessions of worker 0 never moved
    expect(after.filter((l) => on0.some((n) => l.startsWith(`ev session_released ${n} `)))).toEqual([]);
    const now = owners(lines);
    expect(names.filter((n) => now.get(n) !== first.get(n))).toEqual([]);

    // 4. every publish that resolved reached the subscriber
    await vi.waitFor(() => expect(oks().filter((p) => !received.has(p))).toEqual([]), WAIT);

    // 5. stop: every session released as 'leave', every worker gone, the primary exits 0
    const stopMark = lines.length;
    proc.stdin?.end();
    expect(await exited).toBe(0);
    const stopped = lines.slice(stopMark);
    expect(stopped).toContain('stopped');
    expect(names.filter((n) => !stopped.some((l) => l.startsWith(`ev session_released ${n} `)))).toEqual([]);
    expect(stopped.filter((l) => / leave$/.test(l))).toHaveLength(FLEET);
    for (const pid of pids().values()) expect(() => process.kill(Number(pid), 0)).toThrow();
    await vi.waitFor(() => {
      const log = broker.log();
      expect(names.filter((n) => !log.includes(`Client ${n} disconnected.`))).toEqual([]);
    }, WAIT);

    // the broker never had two live connections of one client id: only the killed worker's
    // sessions may have been taken over once (their connections died with the process)
    const twice = doubleConnections(broker.log());
    for (const [id, count] of twice) {
      expect([...on1, 'wk-api-fx-w1']).toContain(id);
      expect(count).toBe(1);
    }
    expect(oks().filter((p) => !received.has(p))).toEqual([]);
  });

  it.skipIf(!hasRedis())(
    "with Redis: the primary (no lease of its own) shows the workers' sessions",
    {
      timeout: 120_000,
    },
    async () => {
      const redis = await startRedis();
      onCleanup(() => redis.stop());
      const file = join(dir, 'fleet-redis.yaml');
      writeFileSync(
        file,
        [
          'cluster:',
          `  redis: ${redis.url}`,
          '  name: wr',
          '  ttl: 1000',
          '  margin: 200',
          'defaults:',
          `  url: ${broker.url}`,
          '  clean: false',
          '  sessionExpiry: 300',
          '  reconnect: { initialDelay: 50, maxDelay: 200 }',
          'sessions:',
          ...Array.from({ length: 10 }, (_, i) => `  - { name: wr-${i}, clientId: wr-${i} }`),
        ].join('\n'),
      );
      const { proc, lines, exited } = run(file);
      await vi.waitFor(() => expect(lines).toContain('started'), WAIT);
      // every worker a node in Redis: the primary keeps the watch key alive, they share there
      await vi.waitFor(
        () => {
          proc.stdin?.write('stats\n');
          const last = lines.findLast((l) => l.startsWith('stats '));
          const rows = last === undefined ? [] : (JSON.parse(last.slice(6)) as SharedSessionStats[]);
          expect(
            rows
              .filter((r) => r.state === 'connected')
              .map((r) => r.name)
              .sort(),
          ).toEqual(Array.from({ length: 10 }, (_, i) => `wr-${i}`).sort());
          expect(rows.every((r) => r.node === 'fx-w0' || r.node === 'fx-w1')).toBe(true);
        },
        { ...WAIT, interval: 200 },
      );
      proc.stdin?.end();
      expect(await exited).toBe(0);
    },
  );
});
