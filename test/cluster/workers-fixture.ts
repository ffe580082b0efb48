/**
 * A program run as a fleet on workers, for `workers.test.ts` (and the
 * shape of a user's own): every process (the primary and each worker it
 * forks, which re-run this script) loads the same fleet file and makes its
 * cluster driver (`SessionManager.fromConfig` with `workers`); the primary
 * runs no session.
 *
 *   node --import tsx workers-fixture.ts <fleet file> <workers> <tick ms>
 *
 * The primary prints each cluster event of its manager:
 *
 *   ev session_acquired <name> <node>
 *   ev session_released <name> <node> <reason>
 *   ev node_joined <node> | ev node_left <node>
 *   ev cluster_error <message>
 *   started                          start() resolved (every worker ready once)
 *   status <json>                    after a `status` line on stdin
 *   stats <json>                     after a `stats` line on stdin: `sharedStats()`, watched
 *                                    from the first such line on
 *
 * Each worker prints `pid <node> <pid>` when it starts, and publishes, every
 * `tick` ms, one QoS 1 message per session it runs (connected, none of its
 * own in flight) to `<client id>/out`, payload `<node>:<pid>:<client id>:<seq>`,
 * printing `ok <payload>` once publish() resolved. Workers share the
 * primary's stdout (one line per write: no line is torn).
 *
 * The primary stops (every worker gracefully) when its stdin ends, and
 * prints `stopped` before it exits.
 */
import { createInterface } from 'node:readline';
import { isFleetWorker, type ManagerEvents, SessionManager } from '../../src/index.js';

const [path, workers, tick] = process.argv.slice(2) as [string, string, string];
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

// what a user writes: the same call in the primary and in every worker it forks
const manager = await SessionManager.fromConfig(path, {
  cluster: { workers: Number(workers), node: 'fx', handoffTimeout: 2_000 },
});
const cluster = manager.cluster;
if (cluster === undefined) throw new Error('not in cluster mode');
const worker = isFleetWorker();
if (!worker) {
  const events = [
    'session_acquired',
    'session_released',
    'node_joined',
    'node_left',
    'cluster_error',
  ] as const;
  for (const event of events)
    manager.on(event, (e: ManagerEvents[typeof event]) => {
      const x = e as Record<string, unknown>;
      if (event === 'cluster_error')
        say(`ev cluster_error ${(x.error as Error).message.replace(/\s+/g, ' ')}`);
      else say(['ev', event, x.name, x.node, x.reason].filter((v) => v !== undefined).join(' '));
    });
}

if (worker) {
  say(`pid ${cluster.node} ${process.pid}`);
  let seq = 0;
  const busy = new Set<string>();
  setInterval(() => {
    for (const [name, session] of manager.entries()) {
      if (session.state !== 'connected' || busy.has(name)) continue;
      busy.add(name);
      const payload = `${cluster.node}:${process.pid}:${session.clientId}:${seq++}`;
      session.publish(`${session.clientId}/out`, payload, { qos: 1 }).then(
        () => {
          busy.delete(name);
          say(`ok ${payload}`);
        },
        () => busy.delete(name),
      );
    }
  }, Number(tick));
  await manager.connectAll();
} else {
  const lines = createInterface({ input: process.stdin });
  let watching = false;
  lines.on('line', (line) => {
    if (line === 'status') void cluster.status().then((s) => say(`status ${JSON.stringify(s)}`));
    if (line === 'stats') {
      if (!watching) cluster.watchStats();
      watching = true;
      void cluster.sharedStats().then((rows) => say(`stats ${JSON.stringify(rows)}`));
    }
  });
  lines.on('close', () => {
    void manager.close().then(() => {
      say('stopped');
      process.exit(0);
    });
  });
  await manager.connectAll();
  say('started');
}
