/**
 * What the parts of a `SessionManager` share (routes, readiness, event
 * binding, the fleet file's stores): a `Member` per session, with the
 * manager's bookkeeping about it, whether the manager is closing, and how a
 * failure nobody else hears of becomes a `session_error` event.
 */
import type { SafeEmitter } from '../core/emitter.js';
import { ErrorCode, MqttError } from '../core/errors.js';
import { type Logger, REPEAT_LOG_INTERVAL, RepeatLimiter } from '../core/logger.js';
import type { Session } from '../session/index.js';
import type { SessionStore } from '../store/types.js';
import type { FilterSub } from './routes.js';
import type { ManagerEventArgs, ManagerEvents } from './types.js';

export const noop = (): void => {};

/** One session of the manager: the session, its filters (see `FilterSub`) and its readiness. */
export class Member {
  readonly subs = new Map<string, FilterSub>();
  /** The last subscription identifier given to one of its filters. */
  lastId = 0;
  /** Connected, and every subscription (its own and the routes') in place. */
  ready = false;
  /** CONNACKs seen, and the one `session_ready` was last emitted for: once per connection. */
  connections = 0;
  readyEmittedFor = -1;
  /** Undoes what `bindEvents` did. */
  unbind: () => void = noop;
  constructor(
    readonly name: string,
    readonly session: Session,
  ) {}
}

export class ManagerState {
  readonly members = new Map<string, Member>();
  /** Set by `close()`; later calls return it. */
  closing: Promise<void> | undefined = undefined;
  /** Stores the manager made (from a config file): closed after the sessions. */
  readonly stores = new Set<SessionStore>();
  /** The manager's `logger` option: its own lines, and its sessions' unless they have one. */
  logger: Logger | undefined = undefined;
  /** `session_error` lines of one kind (session and message) once per interval: a route that throws on every message. */
  private readonly errors = new RepeatLimiter(REPEAT_LOG_INTERVAL);

  constructor(private readonly manager: SafeEmitter<ManagerEventArgs>) {}

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** `m` is still the member of its name (not removed, nor replaced by a later one of that name). */
  isCurrent(m: Member): boolean {
    return this.members.get(m.name) === m;
  }

  /** Emits a manager event, and logs it when it is one the manager logs (see {@link logEvent}). */
  emit<K extends keyof ManagerEvents>(event: K, e: ManagerEvents[K]): void {
    if (this.logger !== undefined) logEvent(this.logger, event, e, this.errors);
    this.relay(event, e);
  }

  /** At close: how many failures of each kind the log left out since their last line. */
  flushLog(): void {
    const log = this.logger;
    if (log === undefined) return;
    for (const [kind, left] of this.errors.drain()) {
      const [session, error] = JSON.parse(kind) as [string, string];
      log.error(
        session === '' ? { error, repeated: left } : { session, error, repeated: left },
        'session error',
      );
    }
  }

  /** Emits a manager event without logging it: a session's own, which its logger already told. */
  relay<K extends keyof ManagerEvents>(event: K, e: ManagerEvents[K]): void {
    // the emitter's signature takes the arguments as a tuple per event, which a generic K cannot index
    (this.manager.emit as (event: K, e: ManagerEvents[K]) => boolean).call(this.manager, event, e);
  }

  /** `session_error` for session `name`: `err` itself when it is an `MqttError`, else wrapped (`ERR_MQTT_HANDLER`). */
  sessionError(name: string, err: unknown, what: string): void {
    const error =
      err instanceof MqttError
        ? err
        : new MqttError(ErrorCode.Handler, `${what}: ${(err as Error)?.message}`, undefined, { cause: err });
    this.emit('session_error', { name, error });
  }
}

/**
 * The manager's own lines: the cluster's events, and the failures it reports
 * as `session_error` that no session logged (routes, forwarders, stores,
 * listeners). The sessions' events are their own loggers' to tell.
 */
function logEvent<K extends keyof ManagerEvents>(
  log: Logger,
  event: K,
  e: ManagerEvents[K],
  errors: RepeatLimiter,
): void {
  switch (event) {
    case 'session_acquired': {
      const { name, clientId, node, token } = e as ManagerEvents['session_acquired'];
      log.info({ session: name, clientId, node, token }, 'session acquired');
      return;
    }
    case 'session_released': {
      const { name, clientId, node, reason } = e as ManagerEvents['session_released'];
      const graceful = reason === 'handoff' || reason === 'leave';
      log[graceful ? 'info' : 'warn']({ session: name, clientId, node, reason }, 'session released');
      return;
    }
    case 'node_joined':
      log.info({ node: (e as ManagerEvents['node_joined']).node }, 'node joined');
      return;
    case 'node_left':
      log.info({ node: (e as ManagerEvents['node_left']).node }, 'node left');
      return;
    case 'cluster_error': {
      const error = (e as ManagerEvents['cluster_error']).error;
      log.warn({ error: error?.message, code: (error as Partial<MqttError>)?.code }, 'cluster error');
      return;
    }
    case 'session_error': {
      const { name, error } = e as ManagerEvents['session_error'];
      const left = errors.admit(JSON.stringify([name, error.message]));
      if (left === undefined) return;
      const fields: Record<string, unknown> = { error: error.message, code: error.code };
      if (left > 0) fields.repeated = left;
      log.error(name === '' ? fields : { session: name, ...fields }, 'session error');
      return;
    }
  }
}
