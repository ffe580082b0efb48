/**
 * `readClusterStatus`: who is in a cluster and who runs what, read from
 * Redis by anyone (a node's `status()`, or `mqttkit fleet status`, which
 * is not a member): the members (sorted set and weights, against Redis's
 * clock), and the owner of every session of the fleet whose owner's lease
 * is alive. Without the fleet's list, the sessions are found by scanning
 * the owner keys (`SCAN`, a page at a time: fine for a status command,
 * not for a hot path); they are then known by client id only.
 */

import { requirePeer } from '../core/peer.js';
import type {
  ClusterNodeStatus,
  ClusterRole,
  ClusterSessionStatus,
  ClusterStatus,
} from '../manager/index.js';
import { clusterKeys } from './keys.js';
import { Leases } from './leases.js';
import type { ScriptClient } from './scripts.js';

/** What reading the status needs of a Redis client (an ioredis `Redis` has it). */
export interface StatusClient extends ScriptClient {
  call(command: string, ...args: (string | number)[]): Promise<unknown>;
}

/** Options of {@link readClusterStatus}. */
export interface ReadStatusOptions {
  /** The cluster's name. */
  cluster: string;
  /** The key prefix of the cluster and its store. */
  prefix: string;
  /** The fleet's sessions; undefined: scan Redis for them (then named by client id). */
  sessions?: readonly {
    /** The session's name. */
    name: string;
    /** Its client id. */
    clientId: string;
  }[];
  /** Who is asking, for the result's `node`. */
  node?: string;
  /** Who is asking, for the result's `role`. */
  role?: ClusterRole;
}

/** The cluster's live members and the owner of every session, read from Redis now (see the file's header). */
export async function readClusterStatus(client: StatusClient, o: ReadStatusOptions): Promise<ClusterStatus> {
  const keys = clusterKeys(o.prefix, o.cluster);
  const [time, ranked, weights] = (await Promise.all([
    client.call('TIME'),
    client.call('ZRANGE', keys.nodes, 0, -1, 'WITHSCORES'),
    client.call('HGETALL', keys.weights),
  ])) as [[string, string], unknown, unknown];
  const now = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  const weightOf = new Map<string, number>();
  for (const [id, w] of pairs(weights)) weightOf.set(id, Number(w));

  const sessions = o.sessions ?? (await scanSessions(client, o.prefix));
  const owners = await new Leases({ client, cluster: o.cluster, prefix: o.prefix }).owners(
    sessions.map((s) => s.clientId),
  );
  const held = new Map<string, string[]>();
  const sessionStatus: ClusterSessionStatus[] = sessions.map((s) => {
    const owner = owners.get(s.clientId);
    const node = owner?.alive ? owner.node : undefined;
    if (node !== undefined) held.set(node, [...(held.get(node) ?? []), s.name]);
    return { name: s.name, clientId: s.clientId, node, token: node === undefined ? undefined : owner?.token };
  });
  const nodes: ClusterNodeStatus[] = [];
  for (const [id, score] of pairs(ranked)) {
    const expires = Number(score);
    if (expires <= now) continue; // a lease that ran out: not a member
    nodes.push({ id, weight: weightOf.get(id) ?? 1, expiresIn: expires - now, sessions: held.get(id) ?? [] });
  }
  return {
    cluster: o.cluster,
    node: o.node ?? '',
    role: o.role ?? 'node',
    nodes,
    sessions: sessionStatus,
  };
}

/**
 * The field-value pairs of a reply: RESP2 gives a flat list, RESP3 a map
 * (ioredis: an object or a Map) or, for WITHSCORES, a list of pairs.
 */
export function pairs(reply: unknown): [string, string][] {
  if (reply instanceof Map) return [...reply].map(([k, v]) => [String(k), String(v)]);
  if (!Array.isArray(reply)) {
    return reply !== null && typeof reply === 'object'
      ? Object.entries(reply).map(([k, v]) => [k, String(v)])
      : [];
  }
  if (reply.every((x) => Array.isArray(x))) return reply.map((x: unknown[]) => [String(x[0]), String(x[1])]);
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < reply.length; i += 2) out.push([String(reply[i]), String(reply[i + 1])]);
  return out;
}

/** Every client id with an owner key under `prefix`, named by its client id. */
async function scanSessions(
  client: StatusClient,
  prefix: string,
): Promise<{ name: string; clientId: string }[]> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}{id:*}:owner`; // RedisStore's keys (sessionKeyBase)
  const found = new Set<string>();
  let cursor = '0';
  do {
    const [next, batch] = (await client.call('SCAN', cursor, 'MATCH', pattern, 'COUNT', 1000)) as [
      string,
      string[],
    ];
    cursor = next;
    for (const key of batch) {
      const m = /\{id:([A-Za-z0-9_-]*)\}:owner$/.exec(key);
      if (m !== null) found.add(Buffer.from(m[1], 'base64url').toString('utf8'));
    }
  } while (cursor !== '0');
  return [...found].sort().map((clientId) => ({ name: clientId, clientId }));
}

/**
 * `readClusterStatus` over a client of its own to `url`, made for the call
 * and closed after it (`mqttkit fleet status`, the primary of workers):
 * one connect attempt of at most 2 s, each command tried once.
 */
export function readClusterStatusAt(
  url: string,
  options: ReadStatusOptions,
  who = 'cluster status',
): Promise<ClusterStatus> {
  return withRedisAt(url, who, (client) => readClusterStatus(client, options));
}

/** `read` on a client of its own to `url`, made for the call and closed after it (as `readClusterStatusAt`). */
export async function withRedisAt<T>(
  url: string,
  who: string,
  read: (client: StatusClient) => Promise<T>,
): Promise<T> {
  const { Redis } = requirePeer<typeof import('ioredis')>('ioredis', who);
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2_000 });
  client.on('error', () => {}); // the failure is the call's rejection
  try {
    await client.connect();
    return await read(client as unknown as StatusClient);
  } finally {
    client.disconnect();
  }
}
