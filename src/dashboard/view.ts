/**
 * What one browser sees: its view (the query of its stream) cut out of the
 * aggregator's state. The fleet table is sorted, filtered and paged here,
 * on the server, so a browser watching 10,000 sessions receives the 100
 * rows it shows; the topic list is cut at `LISTED` topics; the session and
 * topic details are computed only for the view that asks.
 */
import { InvalidArgumentError } from '../core/errors.js';
import type { SessionState } from '../session/index.js';
import type { Aggregator } from './aggregator.js';
import { HISTORY } from './aggregator.js';
import { round } from './ring.js';
import type { ForwarderRowJSON, RpcRowJSON } from './rpc.js';
import type { TopicDetailJSON, TopicRowJSON } from './topics.js';
import type { LastError, TimelineEvent, Tracked } from './tracked.js';

export const VIEWS = ['fleet', 'session', 'topics', 'rpc'] as const;
export const SORTS = [
  'name',
  'url',
  'version',
  'state',
  'inflight',
  'queued',
  'in',
  'out',
  'reconnects',
  'errors',
  'dropped',
  'node',
] as const;
const MAX_LIMIT = 500;

export interface ViewParams {
  view: (typeof VIEWS)[number];
  sort: (typeof SORTS)[number];
  dir: 'asc' | 'desc';
  q: string;
  offset: number;
  limit: number;
  session: string | undefined;
  prefix: string;
  topic: string | undefined;
}

/** The view a query asks for; `InvalidArgumentError` naming the parameter that is not valid. */
export function parseView(query: URLSearchParams): ViewParams {
  const pick = <T extends string>(name: string, allowed: readonly T[], fallback: T): T => {
    const v = query.get(name);
    if (v === null || v === '') return fallback;
    if (!(allowed as readonly string[]).includes(v)) {
      throw new InvalidArgumentError(name, `must be one of ${allowed.join(', ')}`);
    }
    return v as T;
  };
  const int = (name: string, fallback: number, max: number): number => {
    const v = query.get(name);
    if (v === null || v === '') return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0 || n > max) {
      throw new InvalidArgumentError(name, `must be an integer from 0 to ${max}`);
    }
    return n;
  };
  return {
    view: pick('view', VIEWS, 'fleet'),
    sort: pick('sort', SORTS, 'name'),
    dir: pick('dir', ['asc', 'desc'] as const, 'asc'),
    q: (query.get('q') ?? '').toLowerCase(),
    offset: int('offset', 0, Number.MAX_SAFE_INTEGER),
    limit: int('limit', 100, MAX_LIMIT),
    session: query.get('session') || undefined,
    prefix: query.get('prefix') ?? '',
    topic: query.get('topic') || undefined,
  };
}

/** A session's state, or in cluster mode `remote` (another node runs it) and `unassigned` (nobody does). */
export type RowState = SessionState | 'remote' | 'unassigned';

export interface Row {
  name: string;
  url: string;
  version: 4 | 5;
  state: RowState;
  ready: boolean;
  node: string | null;
  inflight: number;
  queued: number;
  in: number;
  out: number;
  reconnects: number;
  errors: number;
  dropped: number;
  lastError: LastError | null;
}

export interface Info {
  title: string;
  version: string;
  interval: number;
  historySeconds: number;
  publish: boolean;
  publishers: string[];
  explorer: string | undefined;
}

export interface Tick {
  t: number;
  info?: Info;
  totals: Aggregator['totals'];
  history: { t: number[]; in: number[]; out: number[]; disconnected: number[] };
  fleet: { total: number; rows: (Row & { spark: number[] })[] };
  session?: SessionDetail;
  topics?: { total: number; truncated: boolean; items: TopicRowJSON[] };
  topic?: TopicDetailJSON;
  rpc: RpcRowJSON[];
  forwarders: ForwarderRowJSON[];
  cluster?: ClusterView;
}

export interface ClusterView {
  name: string;
  node: string;
  role: string;
  nodes: { id: string; weight: number; expiresIn: number | null; sessions: number }[];
}

export interface SessionDetail {
  name: string;
  url: string;
  clientId: string;
  version: 4 | 5;
  state: RowState;
  ready: boolean;
  roundTrip: number | null;
  history: ReturnType<Tracked['history']>;
  subscriptions: { filter: string; qos: number }[];
  events: TimelineEvent[];
}

/** Rows of sessions other nodes run (cluster mode), merged into the table. */
export type RemoteRows = readonly Row[];

/** A local session's row. */
export function rowOf(t: Tracked, ready: boolean): Row {
  return {
    name: t.name,
    url: t.session.url,
    version: t.session.protocolVersion,
    state: t.session.state,
    ready,
    node: null,
    inflight: t.inflight,
    queued: t.queued,
    in: round(t.rateIn),
    out: round(t.rateOut),
    reconnects: t.reconnects,
    errors: t.errors,
    dropped: t.dropped,
    lastError: t.lastError,
  };
}

/**
 * One tick for one view. `first`: the first tick of a connection, with
 * `info` and the whole history; later ones carry the newest point only.
 */
export function buildTick(
  agg: Aggregator,
  p: ViewParams,
  first: boolean,
  info: () => Info,
  remote: { rows: RemoteRows; node: string | null; cluster: ClusterView | undefined },
): Tick {
  const h = agg.history.numbers(first ? HISTORY : 1);
  const tick: Tick = {
    t: agg.now,
    totals: agg.totals,
    history: h,
    fleet:
      p.view === 'fleet'
        ? fleetPage(agg, p, remote.rows, remote.node)
        : { total: agg.tracked.size, rows: [] },
    rpc: agg.rpc.rows,
    forwarders: agg.rpc.forwarderRows,
  };
  if (first) tick.info = info();
  if (remote.cluster !== undefined) tick.cluster = remote.cluster;
  if (p.view === 'session' && p.session !== undefined) tick.session = sessionDetail(agg, p.session);
  if (p.view === 'topics') {
    tick.topics = agg.topics.list(p.prefix);
    if (p.topic !== undefined) tick.topic = agg.topics.detail(p.topic);
  }
  return tick;
}

/**
 * The rows of one tick, built once whatever the number of browsers, and
 * each table view of them (filter, sort) once per tick too: a browser costs
 * the slice of its page, not a sort of the fleet.
 */
interface RowCache {
  t: number;
  all: Row[] | undefined;
  views: Map<string, Row[]>;
}
const caches = new WeakMap<Aggregator, RowCache>();

function rowsOfTick(agg: Aggregator, remote: RemoteRows, node: string | null): RowCache {
  let cache = caches.get(agg);
  if (cache === undefined || cache.t !== agg.now) {
    cache = { t: agg.now, all: undefined, views: new Map() };
    caches.set(agg, cache);
  }
  if (cache.all === undefined) {
    const all: Row[] = [];
    for (const t of agg.tracked.values()) {
      const row = rowOf(t, agg.manager.isReady(t.name));
      row.node = node;
      all.push(row);
    }
    for (const r of remote) if (!agg.tracked.has(r.name)) all.push(r);
    cache.all = all;
  }
  return cache;
}

function fleetPage(agg: Aggregator, p: ViewParams, remote: RemoteRows, node: string | null): Tick['fleet'] {
  const cache = rowsOfTick(agg, remote, node);
  const key = `${p.sort}\u0000${p.dir}\u0000${p.q}`;
  let rows = cache.views.get(key);
  if (rows === undefined) {
    rows = p.q === '' ? [...(cache.all ?? [])] : (cache.all ?? []).filter((r) => matches(r, p.q));
    const k = p.sort;
    const sign = p.dir === 'asc' ? 1 : -1;
    rows.sort((a, b) => {
      const x = a[k] ?? '';
      const y = b[k] ?? '';
      const c = x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
      return c * sign;
    });
    cache.views.set(key, rows);
  }
  return {
    total: rows.length,
    rows: rows
      .slice(p.offset, p.offset + p.limit)
      .map((r) => ({ ...r, spark: agg.tracked.get(r.name)?.sparkline() ?? [] })),
  };
}

function matches(r: Row, q: string): boolean {
  if (q === '') return true;
  return (
    r.name.toLowerCase().includes(q) ||
    r.url.toLowerCase().includes(q) ||
    r.state.includes(q) ||
    (r.node?.toLowerCase().includes(q) ?? false) ||
    (r.lastError?.message.toLowerCase().includes(q) ?? false)
  );
}

function sessionDetail(agg: Aggregator, name: string): SessionDetail | undefined {
  const t = agg.detail(name);
  if (t === undefined) return undefined;
  const s = t.session;
  return {
    name,
    url: s.url,
    clientId: s.clientId,
    version: s.protocolVersion,
    state: s.state,
    ready: agg.manager.isReady(name),
    roundTrip: t.roundTrip ?? null,
    history: t.history(),
    subscriptions: s.subscriptions().map((x) => ({ filter: x.topicFilter, qos: x.qos })),
    events: [...t.events],
  };
}
