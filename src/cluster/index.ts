/**
 * `mqttkit/cluster`: a fleet over processes and machines, in code. A fleet
 * file does the same with `SessionManager.fromConfig(path, { cluster })`
 * (see docs/cluster.md); this entry point is for fleets defined in code:
 * `FleetNode` runs a node on a `SessionManager` you made, and
 * `readClusterStatus` reads who runs what from Redis without joining.
 *
 * @module mqttkit/cluster
 */
export { FleetNode } from './coordinator.js';
export type {
  FleetClient,
  FleetNodeEvents,
  FleetNodeOptions,
  FleetNodeState,
  FleetNodeStatus,
  ReleaseReason,
} from './fleet-options.js';
export { type PlacementUnit, placementUnits } from './groups.js';
export {
  type Member,
  type MembersChange,
  Membership,
  type MembershipClient,
  type MembershipEvents,
  type MembershipOptions,
  type MembershipState,
} from './membership.js';
export type { Command, Reply, ScriptClient, ScriptPipeline } from './scripts.js';
export { type ReadStatusOptions, readClusterStatus, type StatusClient } from './status.js';
