/**
 * What the parts of a `SessionManager` share (routes, readiness, event
 * binding, the fleet file's stores): a `Member` per session, with the
 * manager's bookkeeping about it, whether the manager is closing, and how a
 * failure nobody else hears of becomes a `session_error` event.
 */
import type { SafeEmitter } from '../core/emitter.js';
import { ErrorCode, MqttError } from '../core/errors.js';
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

  constructor(private readonly manager: SafeEmitter<ManagerEventArgs>) {}

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** `m` is still the member of its name (not removed, nor replaced by a later one of that name). */
  isCurrent(m: Member): boolean {
    return this.members.get(m.name) === m;
  }

  /** Emits a manager event. */
  emit<K extends keyof ManagerEvents>(event: K, e: ManagerEvents[K]): void {
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
