/**
 * The fleet metrics of a `SessionManager`: one `FleetMetrics` sampler over
 * its sessions (started by the first use), the Prometheus registry made
 * from it, and the metrics servers, which close with the manager. The work
 * is done by `metrics/`; this part only owns those three for the manager.
 */
import {
  addClusterMetrics,
  type ClusterMetrics,
  createRegistry,
  FleetMetrics,
  type FleetSnapshot,
  type MetricsServer,
  type MetricsSource,
  type PrometheusOptions,
  type PrometheusRegistry,
  type ServeMetricsOptions,
  serveMetrics,
} from '../metrics/index.js';

export class ManagerMetrics {
  readonly #source: MetricsSource;
  readonly #interval: number;
  #sampler: FleetMetrics | undefined = undefined;
  #registry: PrometheusRegistry | undefined = undefined;
  readonly #servers = new Set<MetricsServer>();

  constructor(
    source: MetricsSource,
    interval: number,
    /** Cluster mode: the node's counters (undefined when the manager is not in a cluster). */
    private readonly cluster: () => ClusterMetrics | undefined = () => undefined,
  ) {
    this.#source = source;
    this.#interval = interval;
  }

  snapshot(): FleetSnapshot {
    return this.#fleet().snapshot();
  }

  /** Made at the first call (its options apply then). */
  registry(options?: Pick<PrometheusOptions, 'prefix' | 'defaultLabels'>): PrometheusRegistry {
    if (this.#registry === undefined) {
      const registry = createRegistry(this.#fleet(), {
        prefix: options?.prefix,
        defaultLabels: options?.defaultLabels,
      });
      const first = this.cluster();
      if (first !== undefined) {
        const read = (): ClusterMetrics => this.cluster() ?? first;
        addClusterMetrics(registry, read, options?.prefix ?? 'mqttkit_', options?.defaultLabels ?? {});
      }
      this.#registry = registry;
    }
    return this.#registry;
  }

  async serve(options: Omit<ServeMetricsOptions, 'registry'>): Promise<MetricsServer> {
    const server = await serveMetrics({ ...options, registry: this.registry() });
    this.#servers.add(server);
    return server;
  }

  stopSampling(): void {
    this.#sampler?.stop();
  }

  async closeServers(): Promise<void> {
    await Promise.all([...this.#servers].map((s) => s.close()));
    this.#servers.clear();
  }

  #fleet(): FleetMetrics {
    this.#sampler ??= new FleetMetrics(this.#source, { interval: this.#interval });
    return this.#sampler;
  }
}
