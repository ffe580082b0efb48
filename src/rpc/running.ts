/**
 * The RPC servers running on each session, so that a layer above (the
 * dashboard) finds a session's routes without being handed its servers.
 * `RpcServer.start()` lists a server once its routes are subscribed and
 * `stop()` takes it off; a server never started is not listed. Keyed weakly
 * by session: a session dropped by its owner takes its entry with it.
 * Internal: neither the package's entry point nor `rpc/index.ts` exports it.
 */
import type { Session } from '../session/index.js';
import type { RpcServer } from './server.js';

const running = new WeakMap<Session, Set<RpcServer>>();

/** The servers started and not stopped on `session`, in the order they started. */
export function rpcServersOf(session: Session): readonly RpcServer[] {
  const set = running.get(session);
  return set === undefined ? [] : [...set];
}

/** `server` started (its routes are subscribed). */
export function listServer(server: RpcServer): void {
  let set = running.get(server.session);
  if (set === undefined) {
    set = new Set();
    running.set(server.session, set);
  }
  set.add(server);
}

/** `server` is stopping. */
export function unlistServer(server: RpcServer): void {
  const set = running.get(server.session);
  if (set === undefined) return;
  set.delete(server);
  if (set.size === 0) running.delete(server.session);
}
