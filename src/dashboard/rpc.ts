/**
 * The RPC and forwarding tab: each RPC route served on a session of the
 * fleet (found through `rpcServersOf`, so nobody has to hand servers to the
 * dashboard) with its request rate, p50/p99 latency over the last minute
 * and the statuses it answered; each forwarder of the manager with its
 * rates, drops and lag. Sampled once a tick; a route keeps its histogram of
 * a minute ago in a ring of 60 snapshots.
 */
import type { Forwarder } from '../forward/index.js';
import type { SessionManager } from '../manager/index.js';
import type { RpcServer } from '../rpc/index.js';
import { rpcServersOf } from '../rpc/running.js';
import { LATENCY_BOUNDS } from '../session/index.js';
import { histogramDelta, quantile, round } from './ring.js';

/** ms of latency a route's p50/p99 cover. */
const WINDOW_MS = 60_000;

export interface RpcRowJSON {
  session: string;
  route: string;
  rate: number;
  total: number;
  p50: number | null;
  p99: number | null;
  statuses: Record<string, number>;
  active: number;
  queued: number;
}

export interface ForwarderRowJSON {
  name: string;
  from: string[];
  to: string;
  in: number;
  out: number;
  dropped: number;
  errors: number;
  waiting: number;
  inflight: number;
  /** Mean receive-to-acknowledgement time of the last interval's messages, ms. */
  lag: number | null;
  /** The longest receive-to-acknowledgement time since the forwarder started, ms. */
  lagMax: number | null;
}

class RouteTrack {
  received = 0;
  rate = 0;
  /** Latency counts at each tick of the last `WINDOW_MS`, oldest first. */
  readonly past: number[][] = [];
  seen = 0;
}

class ForwarderTrack {
  received = 0;
  forwarded = 0;
  lagCount = 0;
  lagSum = 0;
  in = 0;
  out = 0;
  lag: number | null = null;
  seen = 0;
}

export class RpcRoutes {
  /** By server, then pattern: two servers on one session may serve the same pattern. */
  readonly #routes = new Map<RpcServer, Map<string, RouteTrack>>();
  /** Ticks in `WINDOW_MS`. */
  readonly #window: number;
  readonly #forwarders = new Map<Forwarder, ForwarderTrack>();
  rows: RpcRowJSON[] = [];
  forwarderRows: ForwarderRowJSON[] = [];
  #tick = 0;

  constructor(interval: number) {
    this.#window = Math.max(1, Math.ceil(WINDOW_MS / interval));
  }

  /** Once a tick. */
  sample(manager: SessionManager, seconds: number): void {
    const tick = ++this.#tick;
    const rows: RpcRowJSON[] = [];
    for (const [name, session] of manager.entries()) {
      for (const server of rpcServersOf(session)) rows.push(...this.#server(name, server, tick, seconds));
    }
    for (const [server, routes] of this.#routes) {
      for (const [pattern, r] of routes) if (r.seen !== tick) routes.delete(pattern);
      if (routes.size === 0) this.#routes.delete(server);
    }
    this.rows = rows;
    const forwarders: ForwarderRowJSON[] = [];
    for (const f of manager.forwarders()) forwarders.push(this.#forwarder(f, tick, seconds));
    for (const [f, t] of this.#forwarders) if (t.seen !== tick) this.#forwarders.delete(f);
    this.forwarderRows = forwarders;
  }

  #server(session: string, server: RpcServer, tick: number, seconds: number): RpcRowJSON[] {
    const m = server.metrics();
    let routes = this.#routes.get(server);
    if (routes === undefined) {
      routes = new Map();
      this.#routes.set(server, routes);
    }
    const known = routes;
    return m.routes.map((route) => {
      let r = known.get(route.pattern);
      if (r === undefined) {
        r = new RouteTrack();
        r.received = route.received;
        known.set(route.pattern, r);
      }
      r.seen = tick;
      r.rate = seconds > 0 ? Math.max(0, route.received - r.received) / seconds : 0;
      r.received = route.received;
      r.past.push(route.latency.counts);
      if (r.past.length > this.#window + 1) r.past.shift();
      // until a second snapshot there is no window: the counts since the server started are not one
      const delta = r.past.length > 1 ? histogramDelta(route.latency.counts, r.past[0]) : undefined;
      const p50 = delta === undefined ? undefined : quantile(delta, LATENCY_BOUNDS, 0.5);
      const p99 = delta === undefined ? undefined : quantile(delta, LATENCY_BOUNDS, 0.99);
      return {
        session,
        route: route.pattern,
        rate: round(r.rate),
        total: route.received,
        p50: p50 === undefined ? null : round(p50),
        p99: p99 === undefined ? null : round(p99),
        statuses: { ...route.statuses },
        active: m.active,
        queued: m.queued,
      };
    });
  }

  #forwarder(f: Forwarder, tick: number, seconds: number): ForwarderRowJSON {
    const m = f.metrics();
    let t = this.#forwarders.get(f);
    if (t === undefined) {
      t = new ForwarderTrack();
      t.received = m.received;
      t.forwarded = m.forwarded;
      t.lagCount = m.latency.count;
      t.lagSum = m.latency.sum;
      this.#forwarders.set(f, t);
    }
    t.seen = tick;
    if (seconds > 0) {
      t.in = (m.received - t.received) / seconds;
      t.out = (m.forwarded - t.forwarded) / seconds;
    }
    const n = m.latency.count - t.lagCount;
    if (n > 0) t.lag = (m.latency.sum - t.lagSum) / n;
    else if (m.waiting === 0 && m.inflight === 0) t.lag = null;
    t.received = m.received;
    t.forwarded = m.forwarded;
    t.lagCount = m.latency.count;
    t.lagSum = m.latency.sum;
    return {
      name: f.name,
      from: [...f.sources],
      to: f.target,
      in: round(t.in),
      out: round(t.out),
      dropped: m.dropped,
      errors: m.errors,
      waiting: m.waiting,
      inflight: m.inflight,
      lag: t.lag === null ? null : round(t.lag),
      lagMax: m.latency.count > 0 ? round(m.latency.max) : null,
    };
  }
}
