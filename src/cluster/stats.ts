/**
 * The sessions' numbers a node shares with its cluster while someone
 * watches (`FleetCluster.watchStats()` / `sharedStats()`), so that one
 * node's dashboard (or the primary of workers, which runs no session) shows
 * every session of the cluster. How they travel is the driver's business:
 * a hash in Redis (`stats-redis.ts`), or the workers' IPC channel
 * (`stats-workers.ts`); this file makes them and reads them.
 *
 * A node's rows come from its own manager: `manager.metrics()` (the current
 * rates and the counters; its first call starts the manager's sampler, so
 * it is called only while someone watches) and `manager.get(name)` (url,
 * protocol level). The latest error of each session is kept from the
 * manager's events (`session_error`, `session_disconnected` with an error;
 * dropped at `session_removed`): work per error, never per message.
 *
 * On the wire the rows are compact JSON (`StatsWire`): one array per
 * session, the urls listed once. 10,000 sessions make about 0.6 MB.
 */
import type { MqttError } from '../core/errors.js';
import type { ManagerEvents, SessionManager, SharedSessionStats } from '../manager/index.js';
import type { SessionState } from '../session/index.js';

/** A last error on the wire: message, code, time. */
type WireError = [message: string, code: string, t: number];

/** One session on the wire. */
type WireRow = [
  name: string,
  url: number,
  version: 4 | 5,
  state: SessionState,
  ready: 0 | 1,
  inflight: number,
  queued: number,
  rateIn: number,
  rateOut: number,
  reconnects: number,
  errors: number,
  dropped: number,
  lastError: WireError | 0,
];

/** One node's rows as shared: compact JSON (the public shape is `SharedSessionStats`). */
export interface StatsWire {
  /** `Date.now()` on the node when it computed them. */
  t: number;
  /** The sessions' urls, each once: rows name them by index. */
  u: string[];
  /** One row per session. */
  s: WireRow[];
}

/** The longest error message shared (the rest is cut). */
const MAX_MESSAGE = 200;

/** A rate as shared: two decimals are plenty for a table. */
const rate = (x: number): number => Math.round(x * 100) / 100;

/** This node's rows, made from its manager; and the latest error of each session, while started. */
export class LocalStats {
  readonly #manager: SessionManager;
  readonly #errors = new Map<string, WireError>();
  #on = false;

  constructor(manager: SessionManager) {
    this.#manager = manager;
  }

  /** Starts keeping the sessions' latest errors; rows are made from now on. */
  start(): void {
    if (this.#on) return;
    this.#on = true;
    const m = this.#manager;
    m.on('session_error', this.#onError);
    m.on('session_disconnected', this.#onDisconnected);
    m.on('session_removed', this.#onRemoved);
  }

  /** Stops: no rows any more (the manager is closing). */
  stop(): void {
    if (!this.#on) return;
    this.#on = false;
    const m = this.#manager;
    m.off('session_error', this.#onError);
    m.off('session_disconnected', this.#onDisconnected);
    m.off('session_removed', this.#onRemoved);
    this.#errors.clear();
  }

  /** The rows of every session of the manager, now; empty when not started. */
  wire(): StatsWire {
    if (!this.#on) return { t: Date.now(), u: [], s: [] };
    const m = this.#manager;
    const snapshot = m.metrics();
    const urls = new Map<string, number>();
    const rows: WireRow[] = [];
    for (const [name, x] of Object.entries(snapshot.sessions)) {
      const session = m.get(name);
      if (session === undefined) continue;
      let url = urls.get(session.url);
      if (url === undefined) {
        url = urls.size;
        urls.set(session.url, url);
      }
      rows.push([
        name,
        url,
        session.protocolVersion,
        x.state,
        x.ready ? 1 : 0,
        x.inflight,
        x.queued,
        rate(x.rates.messagesIn),
        rate(x.rates.messagesOut),
        x.reconnects,
        x.errors,
        x.dropped,
        this.#errors.get(name) ?? 0,
      ]);
    }
    return { t: snapshot.at, u: [...urls.keys()], s: rows };
  }

  /** The rows of `wire()`, as `SharedSessionStats` of node `node`. */
  rows(node: string): SharedSessionStats[] {
    return readStats(node, this.wire());
  }

  readonly #onError = ({ name, error }: ManagerEvents['session_error']): void => {
    if (name !== '') this.#note(name, error);
  };

  readonly #onDisconnected = ({ name, error }: ManagerEvents['session_disconnected']): void => {
    if (error !== undefined) this.#note(name, error);
  };

  readonly #onRemoved = ({ name }: ManagerEvents['session_removed']): void => {
    this.#errors.delete(name);
  };

  #note(name: string, error: MqttError | Error): void {
    const message = String(error?.message ?? error).slice(0, MAX_MESSAGE);
    const code = (error as { code?: unknown })?.code;
    this.#errors.set(name, [message, typeof code === 'string' ? code : 'ERR_UNKNOWN', Date.now()]);
  }
}

/**
 * Node `node`'s shared rows, read from their wire form; what is not a row
 * (another version's, damaged) is left out rather than trusted.
 */
export function readStats(node: string, wire: unknown): SharedSessionStats[] {
  const w = (wire ?? {}) as Partial<StatsWire>;
  if (!Array.isArray(w.s) || !Array.isArray(w.u) || typeof w.t !== 'number') return [];
  const out: SharedSessionStats[] = [];
  for (const r of w.s) {
    if (!Array.isArray(r) || r.length < 13 || typeof r[0] !== 'string' || typeof r[3] !== 'string') continue;
    const e = r[12];
    out.push({
      name: r[0],
      node,
      url: String(w.u[r[1]] ?? ''),
      version: r[2] === 4 ? 4 : 5,
      state: r[3],
      ready: r[4] === 1,
      inflight: Number(r[5]),
      queued: Number(r[6]),
      in: Number(r[7]),
      out: Number(r[8]),
      reconnects: Number(r[9]),
      errors: Number(r[10]),
      dropped: Number(r[11]),
      lastError: Array.isArray(e) ? { message: String(e[0]), code: String(e[1]), t: Number(e[2]) } : null,
      t: w.t,
    });
  }
  return out;
}

/** Every node's rows in one list, by node id, each node's sessions in its order. */
export function allRows(byNode: Iterable<[node: string, rows: SharedSessionStats[]]>): SharedSessionStats[] {
  const sorted = [...byNode].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return sorted.flatMap(([, rows]) => rows);
}

/**
 * Counts the watches of one process: `first` when the first starts,
 * `last` when the last stops. Each watch's stop function works once.
 */
export class Watchers {
  #count = 0;

  constructor(
    private readonly first: () => void,
    private readonly last: () => void,
  ) {}

  /** Someone here watches. */
  get watched(): boolean {
    return this.#count > 0;
  }

  /** One more watch; the returned function ends it (once). */
  watch(): () => void {
    if (this.#count++ === 0) this.first();
    let stopped = false;
    return () => {
      if (stopped) return;
      stopped = true;
      if (--this.#count === 0) this.last();
    };
  }
}
