/**
 * What a dashboard knows of its fleet, sampled once a second: every
 * session's counters and rates (`Tracked`), the fleet's totals and their
 * 15-minute history, the topic table fed by the sessions' received
 * messages, and the RPC routes and forwarders.
 *
 * One `setInterval` per dashboard (unref'd: it never keeps the process
 * alive) drives `tick()`; each tick reads `metrics()` of every session once,
 * whatever the number of browsers watching, then tells the server, which
 * cuts each browser's view out of this state (`view.ts`). Per message only
 * the topic table's counter runs (see `topics.ts`). Sessions are followed as
 * the manager adds and removes them.
 */
import type { ManagerEvents, SessionManager } from '../manager/index.js';
import type { Message, Session } from '../session/index.js';
import { Rings, round } from './ring.js';
import { RpcRoutes } from './rpc.js';
import { TopicTable } from './topics.js';
import { Tracked } from './tracked.js';
import type { Row } from './view.js';

/** One point a second for 15 minutes. */
export const HISTORY = 900;
/** Sessions with a detail history at most; the least recently looked at goes first. */
const MAX_DETAILS = 32;
/** A detail history is dropped this long after it was last asked for. */
const DETAIL_KEEP_MS = 15 * 60_000;

export interface Totals {
  sessions: number;
  ready: number;
  states: Record<string, number>;
  in: number;
  out: number;
  bytesIn: number;
  bytesOut: number;
  inflight: number;
  queued: number;
  reconnects: number;
  errors: number;
  dropped: number;
}

export interface AggregatorOptions {
  /** ms between ticks. */
  interval: number;
  /** Feed the topic table from the sessions' received messages. */
  topics: boolean;
}

export class Aggregator {
  readonly tracked = new Map<string, Tracked>();
  readonly history = new Rings(['in', 'out', 'disconnected'] as const, HISTORY);
  readonly topics = new TopicTable();
  readonly rpc: RpcRoutes;
  totals: Totals = emptyTotals();
  /** Cluster mode: the rows of the sessions other nodes run (or nobody does), counted in the totals. */
  remoteRows: () => readonly Row[] = () => [];
  now = Date.now();
  readonly #taps = new Map<string, { session: Session; fn: (m: Message) => void }>();
  readonly #listeners = new Set<() => void>();
  #last = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #ticks = 0;
  readonly #clock = (): number => this.now;
  /** The manager's events of its sessions, into their timelines: listeners on the manager, none per session. */
  readonly #on: { [K in keyof ManagerEvents]?: (e: ManagerEvents[K]) => void } = {
    session_added: (e) => this.#follow(e.name),
    session_removed: (e) => this.#forget(e.name),
    session_state_changed: (e) => {
      const t = this.tracked.get(e.name);
      if (e.state === 'connecting') t?.event('connecting', `connecting to ${t.session.url}`);
      else if (e.state === 'closed') t?.event('closed', 'closed');
    },
    session_connected: (e) => {
      const t = this.tracked.get(e.name);
      const version = t?.session.protocolVersion === 5 ? '5.0' : '3.1.1';
      t?.event('connected', `connected, MQTT ${version}, session present: ${e.connack.sessionPresent}`);
    },
    session_ready: (e) => this.tracked.get(e.name)?.event('ready', 'subscriptions in place'),
    session_disconnected: (e) => {
      const t = this.tracked.get(e.name);
      if (t === undefined) return;
      if (e.error !== undefined) t.failed(e.error);
      t.event('disconnected', e.error === undefined ? 'disconnected' : `connection lost: ${e.error.message}`);
    },
    session_reconnecting: (e) =>
      this.tracked.get(e.name)?.event('reconnecting', `attempt ${e.attempt} in ${Math.round(e.delay)} ms`),
    session_error: (e) => {
      const t = this.tracked.get(e.name);
      if (t === undefined) return;
      t.failed(e.error);
      t.event('error', `${e.error.code}: ${e.error.message}`);
    },
  };

  constructor(
    readonly manager: SessionManager,
    readonly options: AggregatorOptions,
  ) {
    this.rpc = new RpcRoutes(options.interval);
    this.#bind('on');
    for (const name of manager.list()) this.#follow(name);
    this.tick();
    this.#timer = setInterval(() => this.tick(), options.interval);
    this.#timer.unref();
  }

  /** Called after each tick. */
  onTick(fn: () => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /** Reads every session once and updates the totals, the history, the topics and the routes. */
  tick(): void {
    const now = Date.now();
    const seconds = this.#last === 0 ? 0 : (now - this.#last) / 1000;
    this.#last = now;
    this.now = now;
    this.topics.tick(now, seconds);
    const tick = ++this.#ticks;
    const totals = emptyTotals();
    for (const [name, session] of this.manager.entries()) {
      let t = this.tracked.get(name);
      // a session we do not follow yet, or another one under the same name
      if (t === undefined || t.session !== session) {
        this.#follow(name);
        t = this.tracked.get(name);
        if (t === undefined) continue;
      }
      t.tick = tick;
      t.sample(now, seconds);
      if (t.detail !== undefined && now - t.detailAsked > DETAIL_KEEP_MS) t.unwatch();
      totals.sessions++;
      const state = session.state;
      totals.states[state] = (totals.states[state] ?? 0) + 1;
      if (this.manager.isReady(name)) totals.ready++;
      totals.in += t.rateIn;
      totals.out += t.rateOut;
      totals.bytesIn += t.rateBytesIn;
      totals.bytesOut += t.rateBytesOut;
      totals.inflight += t.inflight;
      totals.queued += t.queued;
      totals.reconnects += t.reconnects;
      totals.errors += t.errors;
      totals.dropped += t.dropped;
    }
    // sessions the manager no longer lists
    for (const [name, t] of this.tracked) if (t.tick !== tick) this.#forget(name);
    for (const r of this.remoteRows()) {
      totals.sessions++;
      totals.states[r.state] = (totals.states[r.state] ?? 0) + 1;
      if (r.ready) totals.ready++;
      totals.in += r.in;
      totals.out += r.out;
      totals.inflight += r.inflight;
      totals.queued += r.queued;
      totals.reconnects += r.reconnects;
      totals.errors += r.errors;
      totals.dropped += r.dropped;
    }
    totals.in = round(totals.in);
    totals.out = round(totals.out);
    totals.bytesIn = round(totals.bytesIn);
    totals.bytesOut = round(totals.bytesOut);
    this.totals = totals;
    this.history.push(now, {
      in: totals.in,
      out: totals.out,
      disconnected: totals.sessions - (totals.states.connected ?? 0) - (totals.states.remote ?? 0),
    });
    this.rpc.sample(this.manager, seconds);
    for (const fn of this.#listeners) fn();
  }

  /** The session's tracker, its detail history started (or kept) since someone looks at it. */
  detail(name: string): Tracked | undefined {
    const t = this.tracked.get(name);
    if (t === undefined) return undefined;
    if (t.detail === undefined) {
      const watched = [...this.tracked.values()].filter((x) => x.detail !== undefined);
      if (watched.length >= MAX_DETAILS) {
        watched.sort((a, b) => a.detailAsked - b.detailAsked);
        watched[0].unwatch();
      }
    }
    t.watch(this.now, HISTORY, this.options.interval);
    return t;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#bind('off');
    for (const name of [...this.tracked.keys()]) this.#forget(name);
    this.#listeners.clear();
  }

  #bind(how: 'on' | 'off'): void {
    const on = this.#on as Record<string, (e: unknown) => void>;
    const m = this.manager as unknown as Record<
      'on' | 'off',
      (event: string, fn: (e: unknown) => void) => void
    >;
    for (const event in on) m[how].call(this.manager, event, on[event]);
  }

  #follow(name: string): void {
    const session = this.manager.get(name);
    if (session === undefined) return;
    const known = this.tracked.get(name);
    if (known?.session === session) return;
    if (known !== undefined) this.#forget(name);
    const t = new Tracked(name, session, this.#clock);
    if (session.state === 'connecting') t.event('connecting', `connecting to ${session.url}`);
    else if (session.state === 'connected') t.event('connected', 'connected');
    this.tracked.set(name, t);
    if (this.options.topics) {
      const topics = this.topics;
      const fn = (m: Message): void => topics.seen(name, m);
      session.on('message', fn);
      this.#taps.set(name, { session, fn });
    }
  }

  #forget(name: string): void {
    this.tracked.delete(name);
    const tap = this.#taps.get(name);
    if (tap !== undefined) {
      tap.session.off('message', tap.fn);
      this.#taps.delete(name);
    }
  }
}

function emptyTotals(): Totals {
  const states: Record<string, number> = {};
  return {
    sessions: 0,
    ready: 0,
    states,
    in: 0,
    out: 0,
    bytesIn: 0,
    bytesOut: 0,
    inflight: 0,
    queued: 0,
    reconnects: 0,
    errors: 0,
    dropped: 0,
  };
}
