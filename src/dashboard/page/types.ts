/**
 * The Tick the dashboard server streams once a second (issue 21's contract
 * between server and page). The page keeps its own copy of these types: it is
 * bundled for the browser and imports nothing from the Node side.
 */

/**
 * SessionState, plus in cluster mode 'remote' (a session another node runs that shared no
 * numbers yet) and 'unassigned' (no node runs it now).
 */
export type State =
  | 'new'
  | 'connecting'
  | 'connected'
  | 'reconnecting'
  | 'disconnected'
  | 'closing'
  | 'closed'
  | 'remote'
  | 'unassigned';

export interface Info {
  title: string;
  version: string;
  interval: number;
  historySeconds: number;
  publish: boolean;
  publishers: string[];
  explorer: string | undefined;
}

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

export interface FleetHistory {
  t: number[];
  in: number[];
  out: number[];
  disconnected: number[];
}

export interface Row {
  name: string;
  url: string;
  version: 4 | 5;
  state: State;
  ready: boolean;
  node: string | null;
  inflight: number;
  queued: number;
  in: number;
  out: number;
  reconnects: number;
  errors: number;
  dropped: number;
  lastError: { message: string; code: string; t: number } | null;
  spark: number[];
}

export type EventKind =
  | 'connecting'
  | 'connected'
  | 'ready'
  | 'disconnected'
  | 'reconnecting'
  | 'dropped'
  | 'error'
  | 'closed';

export interface SessionDetail {
  name: string;
  url: string;
  clientId: string;
  version: 4 | 5;
  state: State;
  ready: boolean;
  roundTrip: number | null;
  history: {
    t: number[];
    in: number[];
    out: number[];
    p50: (number | null)[];
    p99: (number | null)[];
  };
  subscriptions: { filter: string; qos: number }[];
  events: { t: number; kind: EventKind; text: string }[];
}

export interface TopicRow {
  topic: string;
  count: number;
  rate: number;
  retained: boolean;
  last: string;
  t: number;
}

export interface TopicMessage {
  t: number;
  session: string;
  qos: 0 | 1 | 2;
  retain: boolean;
  size: number;
  payload: string;
  truncated: boolean;
  contentType: string | null;
  userProperties: [string, string][];
}

export interface TopicDetail {
  topic: string;
  count: number;
  rate: number;
  retained: boolean;
  messages: TopicMessage[];
  series: { t: number[]; fields: Record<string, (number | null)[]> };
}

export interface RpcRow {
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

export interface ForwarderRow {
  name: string;
  from: string[];
  to: string;
  in: number;
  out: number;
  dropped: number;
  errors: number;
  waiting: number;
  inflight: number;
  lag: number | null;
  lagMax: number | null;
}

export interface ClusterInfo {
  name: string;
  node: string;
  role: string;
  nodes: { id: string; weight: number; expiresIn: number | null; sessions: number }[];
}

export interface Tick {
  t: number;
  info?: Info;
  totals: Totals;
  history: FleetHistory;
  fleet: { total: number; rows: Row[] };
  session?: SessionDetail;
  topics?: { total: number; truncated: boolean; items: TopicRow[] };
  topic?: TopicDetail;
  rpc: RpcRow[];
  forwarders: ForwarderRow[];
  cluster?: ClusterInfo;
}

/** A Row field the server sorts the fleet table by. */
export type SortKey =
  | 'name'
  | 'url'
  | 'version'
  | 'state'
  | 'inflight'
  | 'queued'
  | 'in'
  | 'out'
  | 'reconnects'
  | 'errors'
  | 'dropped'
  | 'node';
