/**
 * What `SessionManager.fromConfig` does with a loaded fleet file: adds its
 * sessions, takes its stores (reporting the damage a `FileStore` skips, and
 * closing them after the sessions), and makes its forwarders, each started
 * by itself once all its `from` sessions are connected.
 */
import { ClosedError, ErrorCode, MqttError, StoreError } from '../core/errors.js';
import type { Forwarder } from '../forward/forwarder.js';
import { FileStore, type FileStoreDamage } from '../store/file.js';
import type { FleetConfig } from './config.js';
import type { SessionManager } from './manager.js';
import type { ManagerState } from './state.js';

/** Adds the file's sessions and forwarders to `m` (a new manager), whose stores they become. */
export function addFleet(m: SessionManager, state: ManagerState, config: FleetConfig): void {
  for (const o of config.sessions) {
    m.add(o);
    if (o.store === undefined) continue;
    // nobody else holds the stores of a file: damage they skip is reported here
    if (o.store instanceof FileStore && !state.stores.has(o.store))
      o.store.on('damage', (d) => storeDamaged(state, d));
    state.stores.add(o.store);
  }
  for (const o of config.forwarders) {
    startWhenConnected(m, state, m.forward(o), typeof o.from === 'string' ? [o.from] : [...o.from]);
  }
}

/** Closes the stores of the file, after the sessions; a failure is a `session_error` (name `''`). */
export async function closeStores(state: ManagerState): Promise<void> {
  for (const store of state.stores) {
    try {
      await store.close();
    } catch (err) {
      const error = new StoreError('closing a session store failed', { cause: err });
      state.emit('session_error', { name: '', error });
    }
  }
  state.stores.clear();
}

/**
 * Starts `f` once every one of its `sources` is connected. `start()`
 * subscribes on the sources, so it waits for them; once started, the
 * sessions restore the subscriptions after a reconnect themselves. A start
 * that fails is reported as `session_error` and tried again at the next
 * connect of a source.
 */
function startWhenConnected(m: SessionManager, state: ManagerState, f: Forwarder, sources: string[]): void {
  let starting = false;
  const start = ({ name }: { name: string }): void => {
    if (starting || !sources.includes(name)) return;
    if (!sources.every((s) => m.get(s)?.state === 'connected')) return;
    starting = true;
    f.start().then(
      () => m.off('session_connected', start),
      (err: unknown) => {
        starting = false; // again at the next connect of a source
        if (state.closed || err instanceof ClosedError) return;
        const e = err as Partial<MqttError>;
        const error = new MqttError(
          e.code ?? ErrorCode.Handler,
          `forwarder '${f.name}' did not start: ${e.message}`,
          e.reasonCode,
          { cause: err },
        );
        state.emit('session_error', { name, error });
      },
    );
  };
  m.on('session_connected', start);
}

/**
 * A `FileStore` of the config file skipped damage in a log: `session_error`
 * for the session with that client id. A torn tail alone (what a crash
 * leaves) is only counted by the store.
 */
function storeDamaged(state: ManagerState, d: FileStoreDamage): void {
  if (d.skipped.length === 0 && !d.headerDamaged) return;
  let name = '';
  for (const [n, member] of state.members) if (member.session.clientId === d.clientId) name = n;
  const bytes = d.skipped.reduce((sum, r) => sum + r.bytes, 0);
  const what = d.headerDamaged ? `${bytes} damaged bytes (the header among them)` : `${bytes} damaged bytes`;
  const saved = d.savedTo === undefined ? 'they stay in the log' : `the log as it was is ${d.savedTo}`;
  const error = new StoreError(`FileStore skipped ${what} of ${d.path}; ${saved}`);
  state.emit('session_error', { name, error });
}
