/**
 * `mqttkit fleet run` and `mqttkit fleet status`, the built command as
 * child processes: two nodes of one cluster on a private redis-server and a
 * private mosquitto, the status read by a third process, and SIGTERM making
 * a node hand its sessions over before it exits. Counted, not timed: every
 * wait is for a line the processes print.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningCli, runCli, startCli } from '../helpers/cli.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';

const FLEET = 8;
const count = (text: string, re: RegExp): number => text.match(re)?.length ?? 0;

/** Resolves once the processes' stderr together has `n` lines matching `re` (a global, multiline pattern). */
function untilLines(procs: RunningCli[], re: RegExp, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      if (procs.reduce((sum, p) => sum + count(p.stderr, re), 0) >= n) resolve();
    };
    for (const p of procs) {
      p.child.stderr?.on('data', check);
      p.exited.then(() => reject(new Error(`a node ended early: ${p.stderr}`)));
    }
    check();
  });
}

describe('usage', () => {
  it('fleet run needs --config, fleet status --cluster', async () => {
    const run = await runCli(['fleet', 'run']);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^mqttkit: --config is required\nUsage: mqttkit fleet run --config <file>/);
    const status = await runCli(['fleet', 'status']);
    expect(status.code).toBe(2);
    expect(status.stderr).toMatch(/--cluster is required/);
    const workers = await runCli(['fleet', 'run', '--config', 'x.yaml', '--workers', '0']);
    expect(workers.code).toBe(2);
    expect(workers.stderr).toMatch(/--workers.*expected a whole number from 1 to 1024/);
  });
});

describe.skipIf(!hasRedis() || !hasMosquitto())('a cluster of two fleet run processes', () => {
  let redis: RedisServer;
  let broker: Broker;
  let dir: string;

  beforeAll(async () => {
    [redis, broker] = await Promise.all([startRedis(), startMosquitto()]);
    dir = await mkdtemp(join(tmpdir(), 'mqttkit-fleet-'));
  });

  afterAll(async () => {
    await Promise.all([redis?.stop(), broker?.stop(), rm(dir, { recursive: true, force: true })]);
  });

  it('splits the fleet, shows who runs what, and hands over at SIGTERM', async () => {
    const file = join(dir, 'fleet.yaml');
    const sessions = Array.from(
      { length: FLEET },
      (_, i) => `  - { name: dev-${i}, clean: false, sessionExpiry: 60 }`,
    );
    await writeFile(
      file,
      [
        'cluster: { name: plant, ttl: 1000, margin: 200 }',
        `defaults: { url: "${broker.url}", reconnect: { initialDelay: 20, maxDelay: 100 } }`,
        'sessions:',
        ...sessions,
        '',
      ].join('\n'),
    );
    const node = (id: string) =>
      startCli(['fleet', 'run', '--config', file, '--cluster', redis.url, '--node', id], { timeout: 60_000 });
    const a = node('a');
    const b = node('b');
    await Promise.all([
      a.waitFor(/joined cluster plant as a \(node\)/, 'stderr'),
      b.waitFor(/joined cluster plant as b/, 'stderr'),
    ]);
    // every session acquired once, by one of them (each node sees both join before it takes any)
    await Promise.all([a.waitFor(/node joined b/, 'stderr'), b.waitFor(/node joined a/, 'stderr')]);
    await untilLines([a, b], /^acquired /gm, FLEET);
    expect(count(a.stderr, /^acquired /gm) + count(b.stderr, /^acquired /gm)).toBe(FLEET);

    const status = await runCli(['fleet', 'status', '--cluster', redis.url, '--config', file, '--json']);
    expect(status.code).toBe(0);
    const s = JSON.parse(status.stdout) as {
      nodes: { id: string; sessions: string[] }[];
      sessions: { node?: string }[];
    };
    expect(s.nodes.map((n) => n.id).sort()).toEqual(['a', 'b']);
    expect(s.nodes.reduce((sum, n) => sum + n.sessions.length, 0)).toBe(FLEET);
    expect(s.sessions.every((x) => x.node === 'a' || x.node === 'b')).toBe(true);
    const text = await runCli(['fleet', 'status', '--cluster', redis.url, '--name', 'plant']);
    expect(text.stdout).toMatch(
      new RegExp(`^cluster plant: 2 nodes, ${FLEET} of ${FLEET} sessions running\n`),
    );

    // SIGTERM: a hands its share over and exits 0; b takes all of it
    const aHeld = count(a.stderr, /^acquired /gm);
    const result = await a.stop('SIGTERM');
    expect(result.code).toBe(0);
    expect(count(result.stderr, /^released dev-\d+ \(leave\)$/gm)).toBe(aHeld);
    await untilLines([b], /^acquired /gm, FLEET);
    expect(count(b.stderr, /^acquired /gm)).toBe(FLEET);
    expect(count(b.stderr, /^released /gm)).toBe(0);
    const done = await b.stop('SIGTERM');
    expect(done.code).toBe(0);
    expect(done.stderr).not.toMatch(/mqttkit:/);
  });
});
