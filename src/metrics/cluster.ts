/**
 * The cluster's own metrics (cluster mode of a `SessionManager`), added to
 * the fleet's Prometheus registry next to the sessions' metrics, computed at
 * each scrape from the node's counters:
 *
 *   cluster_owned_sessions             gauge    sessions this node runs now
 *   cluster_members                    gauge    live nodes (workers) it sees
 *   cluster_acquired_total             counter  sessions it took (a takeover or a start)
 *   cluster_released_total{reason}     counter  sessions it stopped running, by why
 *   cluster_handoff_seconds_{sum,count} summary  graceful handoffs: stop to lease released
 *   cluster_renewal_seconds_{sum,count} summary  lease renewals: request to answer
 *   cluster_lease_age_seconds          gauge    since the renewal that holds the lease now was sent
 *
 * A summary without quantiles: `rate(…_sum) / rate(…_count)` is the mean.
 */
import { requirePeer } from '../core/peer.js';
import type { CounterLike, GaugeLike, PromClient, PrometheusRegistry } from './prometheus.js';

/** What a cluster node counts (`manager.cluster.metrics()`). */
export interface ClusterMetrics {
  /** Sessions running on this node now. */
  readonly owned: number;
  /** Live members (nodes, or workers) this node sees. */
  readonly members: number;
  /** Sessions this node took since it started. */
  readonly acquired: number;
  /** Sessions this node stopped running, by reason (`handoff`, `leave`, `unsafe`, `lost`, `fenced`, `worker`). */
  readonly released: Readonly<Record<string, number>>;
  /** Graceful handoffs (each a batch of sessions: a node joined, or this one left). */
  readonly handoffs: number;
  /** Their total duration in seconds, from the first session's stop to the leases released. */
  readonly handoffSeconds: number;
  /** Lease renewals answered. */
  readonly renewals: number;
  /** Their total round trip in seconds. */
  readonly renewalSeconds: number;
  /** Seconds since the renewal that holds the lease now was sent; undefined when not holding one. */
  readonly leaseAgeSeconds: number | undefined;
}

/** Adds the cluster's metrics to `registry` (made by `createRegistry` with the same prefix and labels). */
export function addClusterMetrics(
  registry: PrometheusRegistry,
  read: () => ClusterMetrics,
  prefix: string,
  labels: Record<string, string>,
): void {
  const prom = requirePeer<PromClient>('prom-client', 'cluster metrics');
  const names = Object.keys(labels);
  const gauge = (name: string, help: string, value: (m: ClusterMetrics) => number | undefined): void => {
    new prom.Gauge({
      name: `${prefix}${name}`,
      help,
      labelNames: names,
      registers: [registry],
      collect(this: GaugeLike) {
        this.reset();
        const v = value(read());
        if (v !== undefined) this.set(labels, v);
      },
    });
  };
  const counter = (
    name: string,
    help: string,
    series: (m: ClusterMetrics) => [Record<string, string>, number][],
    extra: string[] = [],
  ): void => {
    new prom.Counter({
      name: `${prefix}${name}`,
      help,
      labelNames: [...extra, ...names],
      registers: [registry],
      collect(this: CounterLike) {
        this.reset();
        for (const [l, v] of series(read())) this.inc({ ...l, ...labels }, v);
      },
    });
  };
  gauge('cluster_owned_sessions', 'Sessions this node runs now', (m) => m.owned);
  gauge('cluster_members', 'Live members of the cluster this node sees', (m) => m.members);
  gauge(
    'cluster_lease_age_seconds',
    "Seconds since the renewal that holds this node's lease was sent",
    (m) => m.leaseAgeSeconds,
  );
  counter('cluster_acquired_total', 'Sessions this node took (started here)', (m) => [[{}, m.acquired]]);
  counter(
    'cluster_released_total',
    'Sessions this node stopped running, by reason',
    (m) => Object.entries(m.released).map(([reason, n]) => [{ reason }, n]),
    ['reason'],
  );
  counter('cluster_handoff_seconds_sum', 'Total seconds of graceful handoffs', (m) => [
    [{}, m.handoffSeconds],
  ]);
  counter('cluster_handoff_seconds_count', 'Graceful handoffs', (m) => [[{}, m.handoffs]]);
  counter('cluster_renewal_seconds_sum', 'Total seconds of lease renewals', (m) => [[{}, m.renewalSeconds]]);
  counter('cluster_renewal_seconds_count', 'Lease renewals answered', (m) => [[{}, m.renewals]]);
}
