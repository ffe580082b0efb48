/**
 * One fleet node as a process of its own, for `cluster-fleet.ts`: its own
 * ioredis client, `RedisStore`, `SessionManager` and (mode `fleet`) a
 * `FleetNode`; or (mode `plain`, the peer) the same sessions of its shard
 * (`index % shards === shard`) added to the manager and connected with
 * `connectAll`, no cluster at all.
 *
 *   node --expose-gc --import tsx bench/cluster-node.ts '<json: ClusterNodeConfig>'
 *
 * Lines it prints (times are `performance.timeOrigin + performance.now()`,
 * ms since the epoch, so the parent compares them with its own):
 *
 *   base <heap used> <rss>          after a GC, before any session exists
 *   joined <t>                      start() resolved (fleet) / sessions added (plain)
 *   c <client id> <t>               a session connected (CONNACK), each time
 *   r <client id> <t> <reason>      a session stopped running here (fleet)
 *   mem <sessions> <heap> <rss>     answer to `mem`: after a GC, sessions running here
 *   pub <acked> <ms> <failed>       answer to `pub <n>`: every connected session
 *                                   published n QoS 1 messages, one in flight each
 *   stopped <t>                     answer to `stop`: node.stop() resolved
 *   error <text>                    the node's or a session's error, first 20
 *
 * Commands come one a line on stdin; it exits when stdin ends.
 */
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { FleetNode } from '../src/cluster/coordinator.js';
import { type ManagedSessionOptions, SessionManager } from '../src/manager/index.js';
import { RedisStore } from '../src/store/redis.js';

export interface ClusterNodeConfig {
  mode: 'fleet' | 'plain';
  redisUrl: string;
  brokerUrl: string;
  cluster: string;
  prefix: string;
  node: string;
  /** Sessions `<tag>-0` .. `<tag>-<count - 1>`. */
  tag: string;
  count: number;
  ttl: number;
  margin: number;
  weight: number;
  /** Connects in flight; undefined: FleetNode's default (and the same for `plain`). */
  concurrency?: number;
  /** Plain mode: this process runs the sessions whose index % shards === shard. */
  shard: number;
  shards: number;
}

const config = JSON.parse(process.argv[2] as string) as ClusterNodeConfig;
const now = (): number => performance.timeOrigin + performance.now();
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
let errors = 0;
const error = (text: string): void => {
  if (errors++ < 20) say(`error ${text.replace(/\s+/g, ' ')}`);
};
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const memory = (): string => {
  gc();
  gc();
  const m = process.memoryUsage();
  return `${m.heapUsed} ${m.rss}`;
};

const fleet: ManagedSessionOptions[] = Array.from({ length: config.count }, (_, i) => ({
  name: `${config.tag}-${i}`,
  clientId: `${config.tag}-${i}`,
  url: config.brokerUrl,
  clean: false,
  sessionExpiry: 300,
  keepalive: 60,
  reconnect: { initialDelay: 50, maxDelay: 500 },
}));

const client = new Redis(config.redisUrl, { lazyConnect: true, retryStrategy: () => 50 });
client.on('error', () => {});
await client.connect();
const store = new RedisStore({ client, prefix: config.prefix });
const manager = new SessionManager();
manager.on('session_connected', (e) => say(`c ${e.name} ${now()}`));
manager.on('session_error', (e) => error(`${e.name}: ${e.error.message}`));
say(`base ${memory()}`);

let node: FleetNode | undefined;
if (config.mode === 'fleet') {
  node = new FleetNode({
    manager,
    sessions: fleet,
    client,
    store,
    cluster: config.cluster,
    node: config.node,
    prefix: config.prefix,
    ttl: config.ttl,
    margin: config.margin,
    weight: config.weight,
    ...(config.concurrency !== undefined && { concurrency: config.concurrency }),
  });
  node.on('session_released', (e) => say(`r ${e.clientId} ${now()} ${e.reason}`));
  node.on('error', (err) => error(`${err.name}: ${err.message}`));
}

/**
 * Every connected session publishes `n` QoS 1 messages, one in flight each;
 * resolves with how many were acknowledged and how many failed (a session
 * closed meanwhile stops at its first failure).
 */
async function publish(n: number): Promise<[sent: number, failed: number]> {
  const payload = Buffer.alloc(64, 120);
  let sent = 0;
  let failed = 0;
  await Promise.all(
    manager.list().map(async (name) => {
      const session = manager.get(name);
      if (session?.state !== 'connected') return;
      for (let i = 0; i < n; i++) {
        try {
          await session.publish(`${config.tag}/${name}`, payload, { qos: 1 });
          sent++;
        } catch (err) {
          failed++;
          error(`publish ${name}: ${(err as Error).message}`);
          return;
        }
      }
    }),
  );
  return [sent, failed];
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, arg] = line.trim().split(' ');
  if (command === 'mem') say(`mem ${manager.list().length} ${memory()}`);
  else if (command === 'pub') {
    const t0 = performance.now();
    void publish(Number(arg)).then(([sent, failed]) =>
      say(`pub ${sent} ${performance.now() - t0} ${failed}`),
    );
  } else if (command === 'stop')
    void node?.stop().then(
      () => say(`stopped ${now()}`),
      (err: Error) => error(`stop: ${err.message}`),
    );
});
process.stdin.on('end', () => process.exit(0));

if (node !== undefined) {
  await node.start();
  say(`joined ${now()}`);
} else {
  for (let i = config.shard; i < fleet.length; i += config.shards) manager.add({ ...fleet[i], store });
  say(`joined ${now()}`);
  await manager.connectAll(config.concurrency === undefined ? {} : { concurrency: config.concurrency });
}
