/**
 * Cluster mode: the whole cluster in one node's dashboard. Every few
 * seconds (never per tick: it asks Redis or the primary) the cluster's
 * status is read; the nodes go in the tick's `cluster` part, and the
 * sessions other nodes hold become rows of the fleet table, with the
 * numbers their nodes last shared.
 */
import type { FleetCluster } from '../manager/index.js';
import type { Aggregator } from './aggregator.js';
import type { ClusterView, RemoteRows, Row } from './view.js';

/** ms between two reads of the cluster's status. */
const EVERY_MS = 2000;

export class ClusterRows {
  #rows: RemoteRows = [];
  #view: ClusterView | undefined = undefined;
  #reading = false;
  #last = 0;
  readonly #stopTicks: () => void;

  constructor(
    readonly cluster: FleetCluster,
    readonly agg: Aggregator,
  ) {
    this.#stopTicks = agg.onTick(() => this.#refresh());
    this.#refresh();
  }

  view(): { rows: RemoteRows; node: string | null; cluster: ClusterView | undefined } {
    return { rows: this.#rows, node: this.cluster.node, cluster: this.#view };
  }

  stop(): void {
    this.#stopTicks();
  }

  #refresh(): void {
    const now = this.agg.now;
    if (this.#reading || now - this.#last < EVERY_MS) return;
    this.#reading = true;
    this.#last = now;
    this.cluster.status().then(
      (status) => {
        this.#reading = false;
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
        const rows: Row[] = [];
        for (const s of status.sessions) {
          if (s.node === status.node && this.agg.tracked.has(s.name)) continue;
          rows.push(remoteRow(s.name, s.node));
        }
        this.#rows = rows;
      },
      () => {
        // Redis or the primary did not answer: keep the last view, try again later
        this.#reading = false;
      },
    );
  }
}

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
