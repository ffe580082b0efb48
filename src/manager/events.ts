/**
 * A session's events as the manager's: each becomes the manager event named
 * for it (`connect` -> `session_connected`, `state` ->
 * `session_state_changed`, ...) carrying the session's name, emitted
 * synchronously from the session's own callback. The same listeners keep
 * the member in step: a CONNACK subscribes the route filters again, and a
 * lost connection makes the session not ready.
 */
import type { MqttError } from '../core/errors.js';
import type { ConnackInfo, SessionState } from '../session/index.js';
import type { Readiness } from './readiness.js';
import type { RouteTable } from './routes.js';
import type { ManagerState, Member } from './state.js';

/** Turns the session's events into the manager's; returns the function that undoes it. */
export function bindEvents(
  m: Member,
  state: ManagerState,
  routes: RouteTable,
  readiness: Readiness,
): () => void {
  const s = m.session;
  const name = m.name;
  const onState = (current: SessionState, previous: SessionState) => {
    if (current !== 'connected') m.ready = false;
    state.emit('session_state_changed', { name, previous, state: current });
    if (current === 'connecting') state.emit('session_connecting', { name });
    if (previous === 'connected' && (current === 'closing' || current === 'closed')) {
      state.emit('session_disconnected', { name, error: undefined });
    }
  };
  const onConnect = (connack: ConnackInfo) => {
    m.ready = false;
    m.connections++;
    routes.connected(m);
    state.emit('session_connected', { name, connack });
  };
  const onReady = () => readiness.check(m);
  const onDisconnect = (error: MqttError | undefined) => {
    m.ready = false;
    state.emit('session_disconnected', { name, error });
  };
  const onReconnecting = (attempt: number, delay: number) =>
    state.emit('session_reconnecting', { name, attempt, delay });
  // the session's logger told it already
  const onError = (error: MqttError) => state.relay('session_error', { name, error });
  s.on('state', onState);
  s.on('connect', onConnect);
  s.on('ready', onReady);
  s.on('disconnect', onDisconnect);
  s.on('reconnecting', onReconnecting);
  s.on('error', onError);
  return () => {
    s.off('state', onState);
    s.off('connect', onConnect);
    s.off('ready', onReady);
    s.off('disconnect', onDisconnect);
    s.off('reconnecting', onReconnecting);
    s.off('error', onError);
  };
}
