/**
 * One node's dashboard shows the whole cluster: two nodes of one fleet file
 * in this process (a private redis-server and mosquitto), the dashboard on
 * node a. Every wait is for a tick of its stream.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SessionManager } from '../../src/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { openStream } from '../helpers/dashboard.js';
import { capture } from '../helpers/log-capture.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';

describe.skipIf(!hasRedis() || !hasMosquitto())("a cluster in one node's dashboard", () => {
  let redis: RedisServer;
  let broker: Broker;
  let dir: string;

  beforeAll(async () => {
    [redis, broker] = await Promise.all([startRedis(), startMosquitto()]);
    dir = mkdtempSync(join(tmpdir(), 'mqttkit-dash-cluster-'));
  });

  afterAll(async () => {
    await Promise.all([redis?.stop(), broker?.stop()]);
  });

  async function node(path: string, id: string): Promise<SessionManager> {
    const m = await SessionManager.fromConfig(path, { cluster: { node: id }, logger: capture() });
    onCleanup(() => m.close());
    return m;
  }

  it("lists every session of every node with its node and numbers, and follows a node's leaving", async () => {
    const path = join(dir, 'fleet.yaml');
    const sessions = Array.from({ length: 6 }, (_, i) => `  - { name: s-${i} }`).join('\n');
    writeFileSync(
      path,
      `defaults:\n  url: ${broker.url}\n  reconnect: { initialDelay: 20, maxDelay: 100 }\n` +
        `cluster:\n  redis: ${redis.url}\n  name: dash\n  ttl: 1000\n  margin: 200\n` +
        `sessions:\n${sessions}\n`,
    );
    const a = await node(path, 'a');
    const b = await node(path, 'b');
    await Promise.all([a.connectAll(), b.connectAll()]);
    const dashboard = await a.serveDashboard({ port: 0, interval: 50 });
    const stream = await openStream(dashboard.url);
    const both = await stream.until(
      (t) =>
        t.fleet.total === 6 &&
        t.fleet.rows.every((r) => r.state === 'connected') &&
        new Set(t.fleet.rows.map((r) => r.node)).size === 2,
    );
    expect(both.cluster).toMatchObject({ name: 'dash', node: 'a', role: 'node' });
    // the totals count every node's sessions, not only this node's
    const counted = await stream.until((t) => t.totals.sessions === 6);
    expect(counted.totals.states.connected).toBe(6);
    expect(both.cluster?.nodes.map((n) => n.id).sort()).toEqual(['a', 'b']);
    expect(both.cluster?.nodes.reduce((sum, n) => sum + n.sessions, 0)).toBe(6);
    const remote = both.fleet.rows.filter((r) => r.node === 'b');
    expect(remote.length).toBeGreaterThan(0);
    for (const r of remote) expect(r).toMatchObject({ url: broker.url, version: 5, ready: true });
    // b leaves: its sessions move to a, and the table says so
    await b.close();
    const moved = await stream.until(
      (t) =>
        t.fleet.total === 6 &&
        t.fleet.rows.every((r) => r.node === 'a' && r.state === 'connected') &&
        t.cluster?.nodes.length === 1,
    );
    expect(moved.cluster?.nodes).toMatchObject([{ id: 'a', sessions: 6 }]);
  });
});
