/**
 * What the tests of `FleetNode` across processes share (`processes.test.ts`,
 * `handoff.test.ts`): a cluster of node processes (`node-process.ts`) on a
 * private redis-server and a private mosquitto, the lines they print parsed
 * into one event log (in the order the lines arrived), a subscriber here
 * counting what arrives, and the waits and checks on them. Counted, not
 * timed: every wait is for lines the nodes print or messages the subscriber
 * gets (`vi.waitFor`), never a sleep.
 *
 * The broker's log is the witness of "never two connections with one
 * client id": mosquitto logs "Client <id> already connected, closing old
 * connection." when a second connection takes an id over.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { expect, vi } from 'vitest';
import { Placement } from '../../src/cluster/assignment.js';
import { clusterKeys } from '../../src/cluster/keys.js';
import { Session } from '../../src/session/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { DEEP } from '../helpers/deep.js';
import type { Broker } from '../helpers/mosquitto.js';
import type { RedisServer } from '../helpers/redis.js';
import type { NodeProcessConfig } from './node-process.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

/**
 * Sessions in a fleet: small enough for a 2-core CI machine running other
 * test files beside these. The issue asks for a few hundred per node;
 * `MQTTKIT_DEEP=1` (`npm run test:deep`) runs that.
 */
export const FLEET = DEEP ? 600 : 60;
/** ms between a node's publishing rounds (each running session publishes once per round). */
export const TICK = DEEP ? 500 : 250;
/** How long a wait for the cluster may take before the test fails (not a measure: a bound). */
export const WAIT = { timeout: DEEP ? 120_000 : 30_000, interval: 50 };

/** A line a node printed, parsed (see node-process.ts). */
export type Event =
  | { node: string; type: 'acquired'; clientId: string; token: number }
  | { node: string; type: 'released'; clientId: string; reason: string }
  | { node: string; type: 'sent' | 'ok'; payload: string }
  | { node: string; type: 'joined' | 'stopped' }
  | { node: string; type: 'error'; text: string };

/** What a payload says: `<node>:<token>:<client id>:<seq>:<qos>#`. */
export interface Mark {
  node: string;
  token: number;
  clientId: string;
  seq: number;
  qos: number;
}

export const PAYLOAD = /([a-z]+):(\d+):([a-z0-9]+-\d+):(\d+):([12])#/g;

export function mark(payload: string): Mark {
  const m = [...payload.matchAll(PAYLOAD)][0];
  if (m === undefined) throw new Error(`not a payload of the test: ${payload}`);
  return { node: m[1], token: Number(m[2]), clientId: m[3], seq: Number(m[4]), qos: Number(m[5]) };
}

export interface NodeProc {
  id: string;
  proc: ChildProcess;
  /** Resolves with the process's [exit code, signal]. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** The lease and keepalive of a cluster's nodes (`interval`: ms between renewals, the node's default when unset). */
export type Lease = Pick<NodeProcessConfig, 'ttl' | 'margin' | 'keepalive' | 'interval'>;

/** Where the cluster runs: the servers, and a client of the test's own on the Redis. */
export interface FleetEnv {
  redis: RedisServer;
  broker: Broker;
  admin: Redis;
}

/**
 * A cluster of node processes: one fresh cluster name, key prefix and
 * client id tag (`[a-z0-9]+`), one event log, and a subscriber to the
 * fleet's topics.
 */
export async function fleetCluster(env: FleetEnv, tag: string, lease: Lease) {
  const { redis, broker, admin } = env;
  const name = `c-${randomUUID()}`;
  const prefix = `mqttkit-test:${randomUUID()}:`;
  const keys = clusterKeys(prefix, name);
  const log: Event[] = [];
  const ids = Array.from({ length: FLEET }, (_, i) => `${tag}-${i}`);

  // the subscriber: every message of the fleet's topics, at QoS 2, counted by payload
  const received = new Map<string, number>();
  const sub = new Session({ url: broker.url, clientId: `${tag}sub-${randomUUID()}` });
  onCleanup(() => sub.close());
  await sub.connect();
  await sub.subscribe(`${tag}/#`, { qos: 2 }, (m) => {
    const p = Buffer.from(m.payload).toString();
    received.set(p, (received.get(p) ?? 0) + 1);
  });

  /** Starts node process `node` (`overrides` of the cluster's lease for this one). */
  function start(node: string, overrides: Partial<Lease> = {}): NodeProc {
    const config: NodeProcessConfig = {
      redisUrl: redis.url,
      brokerUrl: broker.url,
      cluster: name,
      prefix,
      node,
      tag,
      count: FLEET,
      tick: TICK,
      ...lease,
      ...overrides,
    };
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', join(here, 'node-process.ts'), JSON.stringify(config)],
      { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const exited = once(proc, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    onCleanup(async () => {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill('SIGCONT');
      proc.kill('SIGKILL');
      await exited;
    });
    let buf = '';
    proc.stdout?.on('data', (d: Buffer) => {
      buf += d.toString();
      for (let nl = buf.indexOf('\n'); nl !== -1; nl = buf.indexOf('\n')) {
        log.push(parse(node, buf.slice(0, nl)));
        buf = buf.slice(nl + 1);
      }
    });
    return { id: node, proc, exited };
  }

  /**
   * Ends the quiet period before any node joins, as if the cluster had been
   * up for longer than one ttl (without it, a new cluster waits one ttl
   * before starting sessions: see membership.ts).
   */
  async function skipQuiet(): Promise<void> {
    await admin.set(keys.quiet, '0');
  }

  /** The client ids `node` runs after log entry `upTo` (its last word on each was 'acquired'), with their tokens. */
  function holding(node: string, upTo = log.length): Map<string, number> {
    const held = new Map<string, number>();
    for (const e of log.slice(0, upTo))
      if (e.node !== node) continue;
      else if (e.type === 'acquired') held.set(e.clientId, e.token);
      else if (e.type === 'released') held.delete(e.clientId);
    return held;
  }

  /** Waits until each of `nodes` runs exactly the sessions the placement over them gives it. */
  async function settled(
    nodes: NodeProc[],
    wait: { timeout: number; interval: number } = WAIT,
  ): Promise<void> {
    const share = new Placement(nodes.map((n) => ({ id: n.id }))).assign(ids);
    await vi.waitFor(() => {
      for (const n of nodes)
        expect([n.id, [...holding(n.id).keys()].sort()]).toEqual([n.id, [...(share.get(n.id) ?? [])].sort()]);
    }, wait);
  }

  /** Waits until every session has had `n` publishes resolve, by any of `nodes`, after log entry `from`. */
  async function publishing(nodes: NodeProc[], from: number, n = 2): Promise<void> {
    const live = new Set(nodes.map((x) => x.id));
    await vi.waitFor(() => {
      const count = new Map<string, number>();
      for (const e of log.slice(from))
        if (e.type === 'ok' && live.has(e.node)) {
          const { clientId } = mark(e.payload);
          count.set(clientId, (count.get(clientId) ?? 0) + 1);
        }
      expect(ids.filter((id) => (count.get(id) ?? 0) < n)).toEqual([]);
    }, WAIT);
  }

  /** Every publish that resolved (among the first `upTo` log entries) has arrived at the subscriber. */
  async function allArrived(upTo = log.length): Promise<number> {
    const resolved = log.slice(0, upTo).flatMap((e) => (e.type === 'ok' ? [e.payload] : []));
    await vi.waitFor(() => expect(resolved.filter((p) => !received.has(p))).toEqual([]), WAIT);
    return resolved.length;
  }

  /** The QoS 2 payloads that arrived more than once. */
  function qos2Duplicates(): string[] {
    return [...received].filter(([p, n]) => n > 1 && mark(p).qos === 2).map(([p]) => p);
  }

  /** The client ids of this cluster a second connection took over at the broker. */
  function takeovers(): string[] {
    return [...broker.log().matchAll(new RegExp(`Client (${tag}-\\d+) already connected`, 'g'))].map(
      (m) => m[1],
    );
  }

  /**
   * Sessions acquired by one node while another ran them (its last word on
   * the session 'acquired'), in the log's order, from entry `from` on: the
   * order the lines arrived here, so only a gap longer than the pipes'
   * delivery tells two events apart.
   */
  function twoOwners(from = 0): string[] {
    const running = new Map<string, string>();
    const out: string[] = [];
    log.forEach((e, i) => {
      if (e.type === 'acquired') {
        const other = running.get(e.clientId);
        if (i >= from && other !== undefined && other !== e.node)
          out.push(`${e.clientId}: ${other} and ${e.node}`);
        running.set(e.clientId, e.node);
      } else if (e.type === 'released' && running.get(e.clientId) === e.node) running.delete(e.clientId);
    });
    return out;
  }

  /** Each session of `lost` (client id -> its old token) was acquired by one of `nodes` after entry `since`, with a higher token. */
  function expectTakenOver(lost: ReadonlyMap<string, number>, nodes: readonly string[], since: number): void {
    const after = log.slice(since);
    for (const [id, token] of lost) {
      const took = after.find((e) => e.type === 'acquired' && e.clientId === id);
      expect(took).toMatchObject({ clientId: id });
      expect(nodes).toContain(took?.node);
      expect((took as { token: number }).token).toBeGreaterThan(token);
    }
  }

  /** The 'error' lines printed so far. */
  const errors = (): Event[] => log.filter((e) => e.type === 'error');

  return {
    name,
    prefix,
    keys,
    log,
    ids,
    received,
    start,
    skipQuiet,
    holding,
    settled,
    publishing,
    allArrived,
    qos2Duplicates,
    takeovers,
    twoOwners,
    expectTakenOver,
    errors,
  };
}

function parse(node: string, line: string): Event {
  const [word, a = '', b = ''] = line.split(' ');
  switch (word) {
    case 'acquired':
      return { node, type: 'acquired', clientId: a, token: Number(b) };
    case 'released':
      return { node, type: 'released', clientId: a, reason: b };
    case 'sent':
    case 'ok':
      return { node, type: word, payload: a };
    case 'joined':
    case 'stopped':
      return { node, type: word };
    default:
      return { node, type: 'error', text: line };
  }
}
