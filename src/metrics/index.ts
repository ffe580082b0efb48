/**
 * Metrics of a fleet of sessions: `FleetMetrics` samples the sessions of a
 * `SessionManager` (or any `MetricsSource`) for counters, states and rates;
 * `createRegistry` exposes them to Prometheus through prom-client, and
 * `serveMetrics` / `metricsHandler` over HTTP.
 *
 * Built only on the public `Session` API.
 */

export { addClusterMetrics, type ClusterMetrics } from './cluster.js';
export {
  FLEET_METRICS_DEFAULTS,
  FleetMetrics,
  type FleetMetricsOptions,
  type FleetSnapshot,
  type MetricsSource,
  type MetricsSourceSession,
  type Rates,
  type RoundTripSummary,
  SESSION_STATES,
  type SessionSnapshot,
  type TotalSnapshot,
} from './fleet.js';
export {
  type MetricsHandler,
  type MetricsServer,
  metricsHandler,
  type ServeMetricsOptions,
  serveMetrics,
} from './http.js';
export {
  createRegistry,
  METRIC_NAMES,
  PROMETHEUS_DEFAULTS,
  type PrometheusOptions,
  type PrometheusRegistry,
} from './prometheus.js';
