/**
 * A fleet on one machine's cores: `workers: N` runs it as N worker
 * processes (modelled on `node:cluster`) sharing the sessions, so a machine
 * uses all its cores and holds more sessions than one process may open
 * files. No Redis: nothing here outlives the machine.
 *
 * The primary (this process, unless `MQTTKIT_FLEET_WORKER` is set) forks
 * the workers, each re-running the main script (the user's program, or the
 * mqttkit command) with `MQTTKIT_FLEET_WORKER=<index>` in its environment,
 * so routes and handlers registered in code exist in every worker. Every
 * process loads the same fleet file; the primary runs no session:
 *
 *   primary (worker-primary.ts)          workers (worker-member.ts)
 *     placement units (groups.ts) over      add: manager.add, connect
 *     the live workers by weighted            (`concurrency` at once)
 *     rendezvous (assignment.ts)  --add-->  remove: forwarders stopped,
 *                                 <-ready-    manager.remove (graceful),
 *                               <-released-   FileStore.release
 *     a worker exits: its units to the
 *     survivors at once, and it starts again (with backoff); once ready,
 *     its units move back by graceful handoff (released, then added)
 *
 * One owner per session at a time: a unit is added to a worker only once
 * its previous owner said `released` (after closing it) or exited (its
 * process, and with it every connection, is gone: on one machine that is
 * a certain signal, no lease is needed). The broker takes the client id
 * over from a connection it had not seen close yet.
 *
 * Stores: a session's state moves with it through its store. A file store
 * is shared by the workers (each has its own `FileStore` over the same
 * directory; a worker releases a client id before the next one loads it).
 * A redis store works as it is. A memory store cannot move: what a session
 * has in flight is lost when it moves (the primary says so once, as a
 * `cluster_error`, at its start; it does not refuse, as a fleet of idle or
 * QoS 0 sessions loses nothing that matters).
 */
import type { ClusterDriver, ClusterDriverInput } from '../manager/index.js';
import { WorkerMember } from './worker-member.js';
import { WorkerPrimary, type WorkerPrimaryOptions } from './worker-primary.js';

export type { WorkerPrimaryOptions } from './worker-primary.js';
export { WorkerMember, WorkerPrimary };

/** The driver of the primary of `workers` processes (`options.workers` > 0, not itself a worker). */
export function createWorkerPrimary(input: ClusterDriverInput, setup?: WorkerPrimaryOptions): ClusterDriver {
  return new WorkerPrimary(input, setup);
}

/** The driver of one worker without Redis (its environment has `MQTTKIT_FLEET_WORKER`). */
export function createWorkerMember(input: ClusterDriverInput): ClusterDriver {
  return new WorkerMember(input);
}
