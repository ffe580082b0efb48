/**
 * Cluster mode: the whole cluster in one node's dashboard. While the
 * dashboard runs it watches the cluster's numbers (`watchStats()`: every
 * node then shares its sessions' rows at each lease renewal, or the
 * workers answer their primary); every two seconds (never per tick: it
 * asks Redis or the primary) it reads the status and the shared rows. The
 * nodes go in the tick's `cluster` part; the sessions other nodes run
 * become rows of the fleet table with the numbers their nodes last shared,
 * and the sessions nobody runs now are rows too, `unassigned`.
 */
import type { FleetCluster, SharedSessionStats } from '../manager/index.js';
import type { Aggregator } from './aggregator.js';
import type { ClusterView, RemoteRows, Row } from './view.js';

/** ms between two reads of the cluster's status. */
const EVERY_MS = 2000;
/**
 * Numbers older than this (a node that stopped sharing, or reads that keep
 * failing) are not shown as live: the row keeps its node, state `remote`.
 */
const STALE_MS = 15_000;
/** A read that has not settled after this long is given up: the next tick starts another. */
const READ_TIMEOUT_MS = 10_000;

export class ClusterRows {
  #rows: RemoteRows = [];
  #view: ClusterView | undefined = undefined;
  /** When the read in progress started (0: none), and which read it is. */
  #readingSince = 0;
  #generation = 0;
  #last = 0;
  #lastOk = 0;
  readonly #stopTicks: () => void;
  readonly #unwatch: () => void;

  constructor(
    readonly cluster: FleetCluster,
    readonly agg: Aggregator,
  ) {
    this.#unwatch = cluster.watchStats();
    this.#stopTicks = agg.onTick(() => this.#refresh());
    this.#refresh();
  }

  view(): { rows: RemoteRows; node: string | null; cluster: ClusterView | undefined } {
    return { rows: this.#rows, node: this.cluster.node, cluster: this.#view };
  }

  stop(): void {
    this.#stopTicks();
    this.#unwatch();
  }

  #refresh(): void {
    const now = this.agg.now;
    if (this.#readingSince !== 0 && now - this.#readingSince < READ_TIMEOUT_MS) return;
    if (now - this.#last < EVERY_MS) return;
    const generation = ++this.#generation;
    this.#readingSince = now;
    this.#last = now;
    Promise.all([this.cluster.status(), this.cluster.sharedStats()]).then(
      ([status, shared]) => {
        if (generation !== this.#generation) return; // given up on already
        this.#readingSince = 0;
        this.#lastOk = this.agg.now;
        this.#view = {
          name: status.cluster,
          node: status.node,
          role: status.role,
          nodes: status.nodes.map((n) => ({
            id: n.id,
            weight: n.weight,
            expiresIn: n.expiresIn ?? null,
            sessions: n.sessions.length,
          })),
        };
        // by node and name: while a session moves, both nodes may have shared a row of it
        const stats = new Map(shared.map((x) => [`${x.node}\u0000${x.name}`, x]));
        const rows: Row[] = [];
        for (const s of status.sessions) {
          if (this.agg.tracked.has(s.name)) continue; // this node runs it: its own row is live
          const x = s.node === undefined ? undefined : stats.get(`${s.node}\u0000${s.name}`);
          const fresh = x !== undefined && Date.now() - x.t < STALE_MS;
          rows.push(fresh ? sharedRow(x) : remoteRow(s.name, s.node));
        }
        this.#rows = rows;
      },
      () => {
        if (generation !== this.#generation) return;
        this.#readingSince = 0;
        // Redis or the primary does not answer: after a while the numbers shown are no longer live
        if (this.agg.now - this.#lastOk > STALE_MS) {
          this.#rows = this.#rows.map((r) =>
            r.state === 'unassigned' ? r : remoteRow(r.name, r.node ?? undefined),
          );
        }
      },
    );
  }
}

/** A session another node runs, with the numbers it shared (its state as that node sees it). */
function sharedRow(x: SharedSessionStats): Row {
  return {
    name: x.name,
    url: x.url,
    version: x.version,
    state: x.state,
    ready: x.ready,
    node: x.node,
    inflight: x.inflight,
    queued: x.queued,
    in: x.in,
    out: x.out,
    reconnects: x.reconnects,
    errors: x.errors,
    dropped: x.dropped,
    lastError: x.lastError,
  };
}

/** A session another node holds that shared nothing yet, or one nobody runs now. */
function remoteRow(name: string, node: string | undefined): Row {
  return {
    name,
    url: '',
    version: 5,
    state: node === undefined ? 'unassigned' : 'remote',
    ready: false,
    node: node ?? null,
    inflight: 0,
    queued: 0,
    in: 0,
    out: 0,
    reconnects: 0,
    errors: 0,
    dropped: 0,
    lastError: null,
  };
}
