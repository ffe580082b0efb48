/**
 * One fleet node as a process of its own, for the tests of
 * `fleet-harness.ts`: its own
 * ioredis client, `RedisStore`, `SessionManager` and `FleetNode`, and a
 * publisher that keeps every session it runs publishing.
 *
 *   node --import tsx node-process.ts '<json: NodeProcessConfig>'
 *
 * Every `tick` ms, each session running here (on the manager, connected, no
 * publish of its own in flight) publishes one message to `<tag>/<client id>`,
 * QoS 1 and QoS 2 in turn. The payload marks who published it:
 * `<node>:<token>:<client id>:<seq>:<qos>#` (the token is the fencing token
 * the session was acquired with). It prints one line per fact, each written
 * before anything that depends on it (stdout to a pipe is synchronous on
 * Linux, so a line printed before a SIGKILL or SIGSTOP reaches the parent):
 *
 *   joined                             start() resolved
 *   acquired <client id> <token>       session_acquired
 *   released <client id> <reason>      session_released
 *   sent <payload>                     just before publish() is called
 *   ok <payload>                       publish() resolved
 *   error <text>                       the node's 'error' event
 *   stopped                            after SIGTERM: node.stop() resolved (it exits 0 then)
 *
 * On SIGTERM it leaves gracefully (`node.stop()`: its sessions handed off,
 * its leases released, its lease deleted), prints `stopped` and exits 0
 * (1 if the leave failed). It exits when its stdin ends (the parent went
 * away).
 */
import { Redis } from 'ioredis';
import { FleetNode } from '../../src/cluster/coordinator.js';
import type { QoS } from '../../src/index.js';
import { type ManagedSessionOptions, SessionManager } from '../../src/manager/index.js';
import { RedisStore } from '../../src/store/redis.js';

export interface NodeProcessConfig {
  redisUrl: string;
  brokerUrl: string;
  cluster: string;
  prefix: string;
  node: string;
  /** Sessions `<tag>-0` .. `<tag>-<count - 1>`, publishing to `<tag>/<client id>`. */
  tag: string;
  count: number;
  ttl: number;
  margin: number;
  /** The sessions' MQTT keepalive, in seconds. */
  keepalive: number;
  /** ms between publishing rounds. */
  tick: number;
  /** ms between renewals (the node's default, (ttl - margin) / 3, when unset). */
  interval?: number;
}

const config = JSON.parse(process.argv[2] as string) as NodeProcessConfig;
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

const fleet: ManagedSessionOptions[] = Array.from({ length: config.count }, (_, i) => ({
  name: `${config.tag}-${i}`,
  clientId: `${config.tag}-${i}`,
  url: config.brokerUrl,
  clean: false,
  sessionExpiry: 300,
  keepalive: config.keepalive,
  reconnect: { initialDelay: 50, maxDelay: 200 },
}));

const client = new Redis(config.redisUrl, { lazyConnect: true, retryStrategy: () => 50 });
client.on('error', () => {});
await client.connect();
const store = new RedisStore({ client, prefix: config.prefix });
const manager = new SessionManager();
const node = new FleetNode({
  manager,
  sessions: fleet,
  client,
  store,
  cluster: config.cluster,
  node: config.node,
  prefix: config.prefix,
  ttl: config.ttl,
  margin: config.margin,
  interval: config.interval,
});

/** The token each session runs with here, by name (client id = name). */
const tokens = new Map<string, number>();
const busy = new Set<string>();
let seq = 0;

node.on('session_acquired', (e) => {
  tokens.set(e.name, e.token);
  say(`acquired ${e.clientId} ${e.token}`);
});
node.on('session_released', (e) => {
  tokens.delete(e.name);
  say(`released ${e.clientId} ${e.reason}`);
});
node.on('error', (err) => say(`error ${err.name}: ${err.message.replace(/\s+/g, ' ')}`));

function round(): void {
  for (const name of manager.list()) {
    const session = manager.get(name);
    const token = tokens.get(name);
    if (session?.state !== 'connected' || token === undefined || busy.has(name)) continue;
    const qos: QoS = seq % 2 === 0 ? 1 : 2;
    const payload = `${config.node}:${token}:${name}:${seq++}:${qos}#`;
    busy.add(name);
    say(`sent ${payload}`);
    session.publish(`${config.tag}/${name}`, payload, { qos }).then(
      () => {
        busy.delete(name);
        say(`ok ${payload}`);
      },
      () => busy.delete(name),
    );
  }
}

setInterval(round, config.tick);
process.on('SIGTERM', () => {
  node.stop().then(
    () => {
      say('stopped');
      process.exit(0);
    },
    (err: Error) => {
      say(`error stop: ${err.message.replace(/\s+/g, ' ')}`);
      process.exit(1);
    },
  );
});
process.stdin.on('end', () => process.exit(1));
process.stdin.resume();
await node.start();
say('joined');
