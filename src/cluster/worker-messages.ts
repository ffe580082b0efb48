/**
 * What the primary of a fleet's workers and its workers say to each other
 * over the IPC channel `child_process.fork` opens (JSON), and what both
 * read of the fleet: its placement units, in the fleet's order, by key.
 *
 *   primary -> worker   add { units }        run these units' sessions (connect them)
 *                       remove { units }     stop them gracefully, then say released
 *                       stop                 stop everything, close the manager, exit
 *                       status { id, status }   the answer to a worker's status request
 *                       stats                send your sessions' numbers (while watched)
 *                       shared { id, stats }   the answer to a worker's stats request:
 *                                            every worker's latest numbers, by worker id
 *   worker -> primary   ready                the worker's driver started: give it units
 *                       acquired { units }   added here, connecting
 *                       released { units, reason }   closed here ('handoff' or 'leave'):
 *                                            only now may another worker add them
 *                       leaving              its manager is closing: give it nothing more
 *                       status { id }        asks for the cluster's status
 *                       stats { stats }      its sessions' numbers (the answer to `stats`)
 *                       watch { on }         a watch in the worker started (true) or ended
 *                       shared { id }        asks for every worker's latest numbers
 *                       error { message }    a failure the primary reports as cluster_error
 *                       stopped              closed, about to exit (after a `stop`)
 *
 * Units go by key (the client id of their first session): both sides made
 * the same units from the same fleet file.
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { ClusterStatus, FleetConfig } from '../manager/index.js';
import { type PlacementUnit, placementUnits } from './groups.js';
import type { StatsWire } from './stats.js';

/** Set in a worker's environment: its index (0 to workers - 1). */
export const WORKER_ENV = 'MQTTKIT_FLEET_WORKER';
/** Set in a worker's environment: the primary's node id (the worker's is `<node>-w<index>`). */
export const NODE_ENV = 'MQTTKIT_FLEET_NODE';

export type ToWorker =
  | { t: 'add'; units: string[] }
  | { t: 'remove'; units: string[] }
  | { t: 'stop' }
  | { t: 'status'; id: number; status: ClusterStatus }
  | { t: 'stats' }
  | { t: 'shared'; id: number; stats: [node: string, stats: StatsWire][] };

export type ToPrimary =
  | { t: 'ready' }
  | { t: 'acquired'; units: string[] }
  | { t: 'released'; units: string[]; reason: 'handoff' | 'leave' }
  | { t: 'leaving' }
  | { t: 'status'; id: number }
  | { t: 'error'; message: string }
  | { t: 'stopped' }
  | { t: 'stats'; stats: StatsWire }
  | { t: 'watch'; on: boolean }
  | { t: 'shared'; id: number };

/** The id of worker `index` of node `node`. */
export function workerId(node: string, index: number): string {
  return `${node}-w${index}`;
}

/**
 * The fleet's placement units, each once, in the fleet's order, by key
 * (`everyNode` sessions are in none: every worker runs its own copy).
 * Every session needs a client id of its own (the unit and the handover go
 * by it): `InvalidArgumentError` naming the session otherwise.
 */
export function fleetUnits(config: FleetConfig): Map<string, PlacementUnit> {
  const ids = new Set<string>();
  const every = new Set(config.everyNode);
  config.sessions.forEach((s, i) => {
    if (every.has(s.name)) return;
    const id = s.clientId;
    if (typeof id !== 'string' || id === '')
      throw new InvalidArgumentError(
        `sessions[${i}].clientId`,
        'must be set with workers: a session moves between processes by its client id',
      );
    if (ids.has(id))
      throw new InvalidArgumentError(`sessions[${i}].clientId`, 'is the client id of another session too');
    ids.add(id);
  });
  const units = new Map<string, PlacementUnit>();
  const placed = config.sessions.filter((s) => !every.has(s.name));
  for (const u of placementUnits(placed, config.forwarders).values()) units.set(u.key, u);
  return units;
}

/** A message from the other side, checked for its shape (`t`), or undefined. */
export function readMessage<T extends { t: string }>(m: unknown): T | undefined {
  return typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string'
    ? (m as T)
    : undefined;
}
