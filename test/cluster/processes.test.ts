/**
 * `FleetNode` across processes: three node processes (`node-process.ts`,
 * each with its own ioredis client, RedisStore, SessionManager and
 * FleetNode) on one private redis-server and one private mosquitto, every
 * session publishing QoS 1 and QoS 2 to its own topic, and a subscriber here
 * counting what arrives. Counted, not timed: every wait is for lines the
 * nodes print or messages the subscriber gets (`vi.waitFor`), never a sleep.
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
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Session } from '../../src/session/index.js';
import { sessionKeyBase } from '../../src/store/redis.js';
import { onCleanup } from '../helpers/cleanup.js';
import { DEEP } from '../helpers/deep.js';
import { type Broker, hasMosquitto, startMosquitto } from '../helpers/mosquitto.js';
import { hasRedis, type RedisServer, startRedis } from '../helpers/redis.js';
import type { NodeProcessConfig } from './node-process.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

/**
 * Sessions in the fleet, over three nodes: small enough for a 2-core CI
 * machine running other test files beside this one. The issue asks for a
 * few hundred per node; `MQTTKIT_DEEP=1` (`npm run test:deep`) runs that.
 */
const FLEET = DEEP ? 600 : 60;
/** ms between a node's publishing rounds (each running session publishes once per round). */
const TICK = DEEP ? 500 : 250;
/** How long a wait for the cluster may take before the test fails (not a measure: a bound). */
const WAIT = { timeout: DEEP ? 120_000 : 30_000, interval: 50 };

/** A line a node printed, parsed (see node-process.ts). */
type Event =
  | { node: string; type: 'acquired'; clientId: string; token: number }
  | { node: string; type: 'released'; clientId: string; reason: string }
  | { node: string; type: 'sent' | 'ok'; payload: string }
  | { node: string; type: 'joined' }
  | { node: string; type: 'error'; text: string };

/** What a payload says: `<node>:<token>:<client id>:<seq>:<qos>#`. */
interface Mark {
  node: string;
  token: number;
  clientId: string;
  seq: number;
  qos: number;
}

const PAYLOAD = /([a-z]+):(\d+):([a-z0-9]+-\d+):(\d+):([12])#/g;

function mark(payload: string): Mark {
  const m = [...payload.matchAll(PAYLOAD)][0];
  if (m === undefined) throw new Error(`not a payload of the test: ${payload}`);
  return { node: m[1], token: Number(m[2]), clientId: m[3], seq: Number(m[4]), qos: Number(m[5]) };
}

interface NodeProc {
  id: string;
  proc: ChildProcess;
  exited: Promise<unknown>;
}

describe.skipIf(!hasRedis() || !hasMosquitto())('FleetNode processes', () => {
  let redis: RedisServer;
  let broker: Broker;
  let admin: Redis;

  beforeAll(async () => {
    [redis, broker] = await Promise.all([startRedis(), startMosquitto()]);
    admin = new Redis(redis.url, { lazyConnect: true });
    await admin.connect();
  });

  afterAll(async () => {
    admin?.disconnect();
    await Promise.all([redis?.stop(), broker?.stop()]);
  });

  /** A cluster of node processes: one fresh cluster name, key prefix and client id tag, one event log. */
  async function cluster(tag: string, lease: { ttl: number; margin: number; keepalive: number }) {
    const name = `c-${randomUUID()}`;
    const prefix = `mqttkit-test:${randomUUID()}:`;
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

    function start(node: string): NodeProc {
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
      };
      const proc = spawn(
        process.execPath,
        ['--import', 'tsx', join(here, 'node-process.ts'), JSON.stringify(config)],
        { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
      );
      const exited = once(proc, 'exit');
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

    /** The client ids `node` runs now (its last word on each was 'acquired'), with their tokens. */
    function holding(node: string, upTo = log.length): Map<string, number> {
      const held = new Map<string, number>();
      for (const e of log.slice(0, upTo))
        if (e.node !== node) continue;
        else if (e.type === 'acquired') held.set(e.clientId, e.token);
        else if (e.type === 'released') held.delete(e.clientId);
      return held;
    }

    /** Waits until each session runs on exactly one of `nodes`, each of them running some. */
    async function settled(nodes: NodeProc[]): Promise<void> {
      await vi.waitFor(() => {
        const owners = new Map<string, string[]>();
        for (const n of nodes) {
          const held = holding(n.id);
          expect([n.id, held.size > 0]).toEqual([n.id, true]);
          for (const id of held.keys()) owners.set(id, [...(owners.get(id) ?? []), n.id]);
        }
        expect(ids.filter((id) => owners.get(id)?.length !== 1)).toEqual([]);
      }, WAIT);
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

    /** Every publish that resolved so far has arrived at the subscriber. */
    async function allArrived(): Promise<number> {
      const resolved = log.flatMap((e) => (e.type === 'ok' ? [e.payload] : []));
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

    return {
      name,
      prefix,
      log,
      ids,
      received,
      start,
      holding,
      settled,
      publishing,
      allArrived,
      qos2Duplicates,
      takeovers,
    };
  }

  it(`SIGKILL one of three nodes (${FLEET} sessions): the survivors run its sessions, every resolved publish arrived, no QoS 2 duplicate`, async () => {
    const c = await cluster('kill', { ttl: 1_500, margin: 300, keepalive: 10 });
    const nodes = ['a', 'b', 'x'].map((id) => c.start(id));
    const [a, b, x] = nodes;
    await c.settled(nodes);
    await c.publishing(nodes, 0);
    const lost = c.holding('x');
    const since = c.log.length;

    x.proc.kill('SIGKILL');
    await x.exited;

    // after its lease runs out, a and b take each session x ran, with a higher token, and keep publishing
    await c.settled([a, b]);
    const after = c.log.slice(since);
    for (const [id, token] of lost) {
      const took = after.find((e) => e.type === 'acquired' && e.clientId === id);
      expect(took).toMatchObject({ clientId: id });
      expect(['a', 'b']).toContain(took?.node);
      expect((took as { token: number }).token).toBeGreaterThan(token);
    }
    await c.publishing([a, b], since);

    // every publish that resolved anywhere (x's included) arrived; QoS 2 exactly once; no takeover at the broker
    expect(await c.allArrived()).toBeGreaterThan(FLEET * 4);
    expect(c.qos2Duplicates()).toEqual([]);
    expect(c.takeovers()).toEqual([]);
    expect(c.log.filter((e) => e.type === 'error')).toEqual([]);
  }, 120_000);

  it('SIGSTOP a node past its lease, then SIGCONT: it neither publishes nor writes for the sessions it lost, and the broker never has two connections of one id', async () => {
    // A frozen node's connections stay open at the broker until its keepalive check drops them; a new
    // owner connecting before that takes the client id over there. So the broker must drop them before
    // the lease can run out (at least ttl - one renewal interval after the freeze): keepalive 1 s, and
    // a ttl well above what mosquitto 2.0.11 takes to enforce it, which is not 1.5 keepalives but up to
    // about 6 s here (its keepalive check runs on a coarse loop). With 4 s the takeovers showed up.
    const c = await cluster('stop', { ttl: 12_000, margin: 2_000, keepalive: 1 });
    const nodes = ['a', 'b', 'x'].map((id) => c.start(id));
    const [a, b, x] = nodes;
    await c.settled(nodes);
    await c.publishing(nodes, 0);
    const lost = c.holding('x');
    const since = c.log.length;

    x.proc.kill('SIGSTOP');
    // a and b take each of x's sessions: its lease ran out in Redis
    await c.settled([a, b]);
    const taken = new Map<string, number>();
    for (const e of c.log.slice(since))
      if (e.type === 'acquired' && lost.has(e.clientId)) taken.set(e.clientId, e.token);
    expect([...taken.keys()].sort()).toEqual([...lost.keys()].sort());
    // what x had sent before it froze (all of it printed before the SIGSTOP)
    const before = new Set(c.log.flatMap((e) => (e.node === 'x' && e.type === 'sent' ? [e.payload] : [])));
    /** A payload x published for a session it lost, with the token it lost, after it froze. */
    const stale = (payload: string): boolean => {
      const m = mark(payload);
      return m.node === 'x' && lost.get(m.clientId) === m.token && !before.has(payload);
    };
    const woke = c.log.length;

    x.proc.kill('SIGCONT');
    // x stops every session it had ('unsafe' at its local deadline, 'lost' or 'fenced'), then joins
    // again and gets its share back
    await vi.waitFor(() => {
      const released = new Map<string, string>();
      for (const e of c.log.slice(woke))
        if (e.node === 'x' && e.type === 'released') released.set(e.clientId, e.reason);
      expect([...released.keys()].sort()).toEqual([...lost.keys()].sort());
      for (const reason of released.values()) expect(['unsafe', 'lost', 'fenced']).toContain(reason);
    }, WAIT);
    await c.settled(nodes);
    const back = c.log.length;
    await c.publishing(nodes, back);

    // the wire: nothing x published under a lost token after it froze reached the subscriber
    expect([...c.received.keys()].filter(stale)).toEqual([]);
    // x may still call publish() at the instant it wakes (its timers fire in one batch, the app's
    // round before the node's deadline check): none of those calls resolved
    expect(c.log.filter((e) => e.type === 'ok' && stale(e.payload))).toEqual([]);

    // the store: each session's fence and owner are its current owner's, and its records hold
    // nothing x wrote under a lost token after it froze
    for (const id of lost.keys()) {
      const base = sessionKeyBase(c.prefix, id);
      const owner = ['a', 'b', 'x'].find((n) => c.holding(n).has(id)) as string;
      const token = c.holding(owner).get(id) as number;
      expect(token).toBeGreaterThanOrEqual(taken.get(id) as number);
      expect(await admin.get(`${base}fence`)).toBe(String(token));
      // `<node> <incarnation> <token>`
      expect(await admin.get(`${base}owner`)).toMatch(new RegExp(`^${owner} \\S+ ${token}$`));
      const records = await admin.hgetallBuffer(`${base}m`);
      const written = Object.values(records).flatMap((r) =>
        [...r.toString('latin1').matchAll(PAYLOAD)].map((m) => m[0]),
      );
      expect(written.filter(stale)).toEqual([]);
    }

    // the broker never had two connections with one client id; every publish that resolved arrived, once at QoS 2
    expect(c.takeovers()).toEqual([]);
    await c.allArrived();
    expect(c.qos2Duplicates()).toEqual([]);
  }, 120_000);
});

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
      return { node, type: 'joined' };
    default:
      return { node, type: 'error', text: line };
  }
}
