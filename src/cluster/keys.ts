/**
 * The Redis keys of a cluster, and the names that go into them.
 *
 * Every key of one cluster shares the hash tag `{cluster:<name>}`, so they
 * live in one Redis Cluster slot and one Lua script may touch them all:
 *
 *   <prefix>{cluster:<name>}:nodes        sorted set: node id -> lease expiry (ms, Redis's clock)
 *   <prefix>{cluster:<name>}:weights      hash: node id -> weight (a decimal number)
 *   <prefix>{cluster:<name>}:node:<id>    string: the node's incarnation, PX ttl (its lease)
 *   <prefix>{cluster:<name>}:quiet        string: until when (ms, Redis's clock) no node takes a
 *                                         free session; set when missing, never expires (membership.ts)
 *   <prefix>{cluster:<name>}:watch        string: someone watches the sessions' numbers, PX ttl,
 *                                         kept alive by the watching nodes' renewals (stats.ts)
 *   <prefix>{cluster:<name>}:stats        hash: node id -> its sessions' numbers (JSON), written while
 *                                         watched; PX ttl from the latest write
 *
 * (Per-session keys share RedisStore's tag `{id:<base64url of the client
 * id>}`; they are not here.) Names are used as they are, readable in
 * `redis-cli`, so they are restricted: a cluster name has no `{`, `}` or
 * white space (it is inside the hash tag); a node id has no white space (a
 * session's owner is written `<node id> <token>`) and no control characters.
 */
import type { Rule } from '../core/schema.js';

/** The longest cluster name or node id. */
export const MAX_NAME_LENGTH = 200;

/** Names of the keys of one cluster. */
export interface ClusterKeys {
  /** Sorted set of the members: node id -> lease expiry in ms of Redis time. */
  readonly nodes: string;
  /** Hash of the members' weights: node id -> weight. */
  readonly weights: string;
  /** The lease of node `id`: its incarnation id, with a PX expiry. */
  node(id: string): string;
  /** Until when (ms of Redis time) the cluster is quiet: no node takes a free session. */
  readonly quiet: string;
  /** Set (with an expiry) while someone watches the sessions' numbers: the nodes then share theirs. */
  readonly watch: string;
  /** Hash of the shared numbers: node id -> its sessions' numbers, as JSON. */
  readonly stats: string;
}

/** The keys of cluster `name` under `prefix` (both checked by the caller). */
export function clusterKeys(prefix: string, name: string): ClusterKeys {
  const base = `${prefix}{cluster:${name}}:`;
  return {
    nodes: `${base}nodes`,
    weights: `${base}weights`,
    node: (id) => `${base}node:${id}`,
    quiet: `${base}quiet`,
    watch: `${base}watch`,
    stats: `${base}stats`,
  };
}

/** A cluster name: 1 to 200 characters, no white space, control characters, `{` or `}`. */
export const clusterName: Rule = (v) => {
  if (typeof v !== 'string' || v === '') return 'must be a non-empty string';
  if (v.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters long`;
  return /[\s\p{Cc}{}]/u.test(v) ? 'must not hold white space, control characters, { or }' : undefined;
};

/** A node id: 1 to 200 characters, no white space or control characters. */
export const nodeId: Rule = (v) => {
  if (typeof v !== 'string' || v === '') return 'must be a non-empty string';
  if (v.length > MAX_NAME_LENGTH) return `must be at most ${MAX_NAME_LENGTH} characters long`;
  return /[\s\p{Cc}]/u.test(v) ? 'must not hold white space or control characters' : undefined;
};
