/**
 * The options, events and status of `FleetNode` (`coordinator.ts`), and
 * their checks: the option table, and the fleet definition read into one
 * entry per client id (the lease and the placement go by client id, the
 * manager by name; both must be unique).
 */
import { InvalidArgumentError } from '../core/errors.js';
import { arrayOf, int, MAX_MS, type Rule, table } from '../core/schema.js';
import type { ForwarderOptions } from '../forward/index.js';
import { type ManagedSessionOptions, SessionManager } from '../manager/index.js';
import { RedisStore } from '../store/redis.js';
import type { FleetSession } from './local-sessions.js';
import {
  MEMBERSHIP_FIELDS,
  type Member,
  type MembershipClient,
  type MembershipOptions,
} from './membership.js';
import type { ScriptClient } from './scripts.js';

/** What a fleet node uses of a Redis client: an ioredis `Redis` has it all. */
export type FleetClient = MembershipClient & ScriptClient;

/**
 * Options of `FleetNode`. The node's membership: `cluster`, `node`, `prefix` (the store's too),
 * `weight`, `ttl` and `margin` (how long before its lease could run out
 * the node stops its sessions), as `Membership` takes them.
 */
export interface FleetNodeOptions
  extends Pick<MembershipOptions, 'cluster' | 'node' | 'prefix' | 'weight' | 'ttl' | 'margin'> {
  /** The manager the node's sessions run on (the node adds and removes them; other sessions are left alone). */
  manager: SessionManager;
  /** The whole fleet, the same on every node: each with a unique `name` and a unique, non-empty `clientId`. */
  sessions: readonly ManagedSessionOptions[];
  /**
   * The fleet's forwarders, the same on every node: each runs on the node
   * that runs its sessions, which are placed together (`groups.ts`).
   */
  forwarders?: readonly ForwarderOptions[];
  /** The Redis client of the membership and the leases; the node neither configures nor closes it. */
  client: FleetClient;
  /** The store every session of the fleet uses (a session's own `store`, if set, must be this one). */
  store: RedisStore;
  /** ms between renewals (below `ttl - margin`). @default (ttl - margin) / 3 */
  interval?: number;
  /** Sessions connecting at once. @default 50 */
  concurrency?: number;
  /** How long a handoff waits for what a session has in flight, in ms. @default (ttl - margin) / 2, at most 5000 */
  handoffTimeout?: number;
}

/** Why a session stopped running on this node. */
export type ReleaseReason = 'handoff' | 'leave' | 'unsafe' | 'lost' | 'fenced';

/** The events of a `FleetNode`: each name with its listeners' arguments. */
export interface FleetNodeEvents {
  /** This node took the session's lease and started it (added to the manager, connecting). */
  session_acquired: [
    event: {
      /** The session's name. */
      name: string;
      /** Its client id. */
      clientId: string;
      /** The fencing token of its lease. */
      token: number;
    },
  ];
  /**
   * The session stopped running here. 'handoff' and 'leave': once it is
   * closed (flushed, DISCONNECT sent), before its lease is released.
   * 'unsafe', 'lost' and 'fenced': at once, as its close starts (nothing is
   * published after); 'unsafe' keeps the lease.
   */
  session_released: [
    event: {
      /** The session's name. */
      name: string;
      /** Its client id. */
      clientId: string;
      /** Why it stopped running here. */
      reason: ReleaseReason;
    },
  ];
  /** A node (this one included, at its join) is a live member it was not before. */
  node_joined: [
    event: {
      /** The node's id. */
      id: string;
    },
  ];
  /** A node is no longer a live member (it left, or its lease ran out). */
  node_left: [
    event: {
      /** The node's id. */
      id: string;
    },
  ];
  /** A failure with nobody else to tell: Redis, a renewal, a session the manager refused, a listener. */
  error: [error: Error];
}

/** Where a fleet node is. */
export type FleetNodeState = 'idle' | 'joining' | 'running' | 'unsafe' | 'rejoining' | 'stopping' | 'stopped';

/** What `FleetNode.status()` shows. */
export interface FleetNodeStatus {
  /** The cluster's name. */
  readonly cluster: string;
  /** This node's id. */
  readonly node: string;
  /** Where the node is. */
  readonly state: FleetNodeState;
  /** The incarnation of this join (its lease key holds it), while joined. */
  readonly incarnation: string | undefined;
  /** The live members as the last renewal saw them, each with its lease expiry (ms, Redis's clock). */
  readonly members: readonly Member[];
  /** ms since the renewal that holds the lease now was sent; undefined when not joined. */
  readonly leaseAge: number | undefined;
  /** The sessions held, in the fleet's order: token, ms held, and whether it runs now. */
  readonly sessions: readonly {
    /** The session's name. */
    name: string;
    /** Its client id. */
    clientId: string;
    /** The fencing token of its lease. */
    token: number;
    /** ms since this node acquired it. */
    heldFor: number;
    /** It runs here now (false while paused, 'unsafe', or stopping). */
    running: boolean;
  }[];
}

const isObject: Rule = (v) => (typeof v === 'object' && v !== null ? undefined : 'must be session options');

export const OPTIONS = table(
  {
    manager: ((v) => (v instanceof SessionManager ? undefined : 'must be a SessionManager')) as Rule,
    sessions: arrayOf(isObject),
    forwarders: arrayOf(isObject),
    client: ((v) => {
      const c = v as Partial<MembershipClient & ScriptClient> | null;
      return typeof c?.evalsha === 'function' &&
        typeof c.eval === 'function' &&
        typeof c.call === 'function' &&
        typeof c.pipeline === 'function'
        ? undefined
        : 'must be an ioredis client';
    }) as Rule,
    store: ((v) => (v instanceof RedisStore ? undefined : 'must be a RedisStore')) as Rule,
    ...MEMBERSHIP_FIELDS,
    interval: int(1, MAX_MS),
    concurrency: int(1, 100_000),
    handoffTimeout: int(0, MAX_MS),
  },
  ['manager', 'sessions', 'client', 'store', 'cluster', 'node'],
);

/** The fleet by client id, in the definition's order; throws InvalidArgumentError naming the bad field. */
export function readFleet(
  sessions: readonly ManagedSessionOptions[],
  store: RedisStore,
): Map<string, FleetSession> {
  const fleet = new Map<string, FleetSession>();
  const names = new Set<string>();
  sessions.forEach((s, i) => {
    const { name, clientId } = s;
    const at = `options.sessions[${i}]`;
    if (typeof clientId !== 'string' || clientId === '')
      throw new InvalidArgumentError(
        `${at}.clientId`,
        'must be a non-empty string (the lease is by client id)',
      );
    if (fleet.has(clientId))
      throw new InvalidArgumentError(`${at}.clientId`, 'is the client id of another session too');
    if (names.has(name)) throw new InvalidArgumentError(`${at}.name`, 'is the name of another session too');
    if (s.store !== undefined && s.store !== store)
      throw new InvalidArgumentError(`${at}.store`, "must be the node's store (options.store) or unset");
    names.add(name);
    fleet.set(clientId, { name, clientId, options: s });
  });
  return fleet;
}
