/**
 * Prometheus exposition of a `FleetMetrics`, through prom-client.
 *
 * prom-client is an optional peer dependency, so that the registry is the
 * application's own prom-client's and a user without Prometheus installs
 * nothing: `createRegistry` loads it at its first call. The types here are
 * structural ({@link PrometheusRegistry}), so the package's types never
 * name prom-client; serving a registry (`http.ts`) needs only its
 * `metrics()` and `contentType`.
 *
 * Every value is computed at scrape time from one `FleetMetrics.snapshot()`
 * (shared by all the metrics of a scrape): nothing is recorded between
 * scrapes, and a session that left the source is gone from the next scrape.
 *
 * Counters and gauges are prom-client `Counter`s and `Gauge`s with a
 * `collect()` function, prom-client's documented way to compute values at
 * scrape time: `collect()` resets the metric and sets one value per series
 * of the snapshot, so prom-client keeps doing names, label validation and
 * escaping, the OpenMetrics `_total` handling and cluster aggregation.
 * The publish-latency histogram cannot be done that way: a prom-client
 * `Histogram` only takes single observations and the sessions already hold
 * bucket counts. It is a small metric object of its own, registered with
 * `registry.registerMetric`, whose `get()` returns the same shape
 * prom-client's `Histogram.get()` does (`_bucket` series with a cumulative
 * count per `le`, ending at `+Inf`, then `_sum` and `_count`), so the
 * registry formats and escapes it like its own.
 *
 * Only session names (as the `session` label), states and numbers reach
 * the output: no URL, client id, topic or credential.
 */
import { InvalidArgumentError, type MissingPeerError } from '../core/errors.js';
import { requirePeer } from '../core/peer.js';
import type { LatencySnapshot } from '../session/index.js';
import type { FleetMetrics, FleetSnapshot, SessionSnapshot } from './fleet.js';

/** Label values by label name. */
type Labels = Record<string, string>;

/**
 * What mqttkit uses of a prom-client `Registry`, and what `createRegistry`
 * returns when it makes one: any prom-client (15) `Registry` fits. Declared
 * here so that the package's types do not depend on prom-client, an optional
 * peer dependency. For prom-client's own `Registry` type, make the registry
 * yourself and pass it as `options.registry`: `createRegistry` returns it
 * with its type.
 */
export interface PrometheusRegistry<T extends string = string> {
  /** The content type of the text `metrics()` gives (Prometheus or OpenMetrics). */
  readonly contentType: T;
  /** Every registered metric, collected now, in the text format. */
  metrics(): Promise<string>;
  /** The metric registered under `name`, if any. */
  getSingleMetric(name: string): unknown;
  /** One metric, collected now, in the text format. */
  getSingleMetricAsString(name: string): Promise<string>;
  /** Registers a prom-client metric (or an object shaped like one). */
  registerMetric(metric: never): void;
  /** Unregisters the metric named `name`. */
  removeSingleMetric(name: string): void;
  /** Unregisters every metric. */
  clear(): void;
  /** Resets every metric's values. */
  resetMetrics(): void;
  /** Every registered metric, collected now, as prom-client's JSON objects. */
  getMetricsAsJSON(): Promise<unknown[]>;
  /** Labels added to every series of the registry's metrics (mqttkit's own `defaultLabels` are separate). */
  setDefaultLabels(labels: object): void;
  /** Switches the registry between the Prometheus and the OpenMetrics format. */
  setContentType(contentType: T): void;
}

/** The Prometheus text format's content type, as prom-client names it. */
type PrometheusContentType = 'text/plain; version=0.0.4; charset=utf-8';

/** What is used of the prom-client module (loaded on first use). */
export interface PromClient {
  Registry: new () => PrometheusRegistry<PrometheusContentType>;
  Counter: new (config: MetricConfig<CounterLike>) => unknown;
  Gauge: new (config: MetricConfig<GaugeLike>) => unknown;
}

interface MetricConfig<M> {
  name: string;
  help: string;
  labelNames: string[];
  registers: PrometheusRegistry[];
  collect(this: M): void;
}

export interface CounterLike {
  reset(): void;
  inc(labels: Labels, value: number): void;
}

export interface GaugeLike {
  reset(): void;
  set(labels: Labels, value: number): void;
}

/** Options of `createRegistry`. */
export interface PrometheusOptions<T extends PrometheusRegistry = PrometheusRegistry> {
  /** Prepended to every metric name; `''` for none. @default 'mqttkit_' */
  prefix?: string;
  /**
   * The registry to add the metrics to (its other metrics are kept); a name
   * registered already throws `InvalidArgumentError` (use another prefix for
   * a second fleet). @default a new `Registry`
   */
  registry?: T;
  /**
   * Labels added to every series of these metrics (only these: the
   * registry's own default labels are left alone), e.g. `{ instance: 'gw-1' }`.
   * `session`, `state` and `le` are taken.
   */
  defaultLabels?: Record<string, string>;
}

/** Default options of `createRegistry` and `serveMetrics`. */
export const PROMETHEUS_DEFAULTS = Object.freeze({
  prefix: 'mqttkit_',
  port: 9464,
  host: '127.0.0.1',
  path: '/metrics',
});

/** The names of the metrics `createRegistry` registers, without the prefix. */
export const METRIC_NAMES = Object.freeze({
  messagesReceived: 'messages_received_total',
  messagesSent: 'messages_sent_total',
  bytesReceived: 'received_bytes_total',
  bytesSent: 'sent_bytes_total',
  reconnects: 'reconnects_total',
  errors: 'errors_total',
  dropped: 'dropped_messages_total',
  inflight: 'inflight_operations',
  queued: 'queued_messages',
  queuedBytes: 'queued_bytes',
  receiveRate: 'messages_received_per_second',
  sendRate: 'messages_sent_per_second',
  roundTrip: 'round_trip_seconds',
  publishLatency: 'publish_latency_seconds',
  sessionUp: 'session_up',
  sessionReady: 'session_ready',
  sessionState: 'session_state',
  sessions: 'sessions',
  sessionsByState: 'sessions_by_state',
  sessionsReady: 'sessions_ready',
});

const RESERVED_LABELS = new Set(['session', 'state', 'le']);
const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** One counter or gauge: its series computed from a snapshot. */
interface Family {
  name: keyof typeof METRIC_NAMES;
  help: string;
  type: 'counter' | 'gauge';
  /** Label names besides the default labels. */
  labels: readonly string[];
  series(snap: FleetSnapshot): Iterable<[Labels, number]>;
}

/** One series per session, `{session}`, skipping sessions for which `pick` gives undefined. */
function perSession(pick: (s: SessionSnapshot) => number | undefined): Family['series'] {
  return function* (snap) {
    for (const [name, s] of Object.entries(snap.sessions)) {
      const v = pick(s);
      if (v !== undefined) yield [{ session: name }, v];
    }
  };
}

const SESSION = ['session'] as const;

const FAMILIES: readonly Family[] = [
  {
    name: 'messagesReceived',
    help: 'Application messages received by the session.',
    type: 'counter',
    labels: SESSION,
    series: perSession((s) => s.messagesIn),
  },
  {
    name: 'messagesSent',
    help: 'Application messages the session accepted for publishing.',
    type: 'counter',
    labels: SESSION,
    series: perSession((s) => s.messagesOut),
  },
  {
    name: 'bytesReceived',
    help: 'Bytes the session read from the network.',
    type: 'counter',
    labels: SESSION,
    series: perSession((s) => s.bytesIn),
  },
  {
    name: 'bytesSent',
    help: 'Bytes the session wrote to the network.',
    type: 'counter',
    labels: SESSION,
    series: perSession((s) => s.bytesOut),
  },
  {
    name: 'reconnects',
    help: 'Successful reconnects of the session (not counting the first connect).',
    type: 'counter',
    labels: SESSION,
    series: perSession((s) => s.reconnects),
  },
  {
    name: 'errors',
    help: 'Connections lost, connection attempts failed, handler and store errors of the session.',
    type: 'counter',
    labels: SESSION,
    series: perSession((s) => s.errors),
  },
  {
    name: 'dropped',
    help: 'Publishes the session dropped from its offline queue (overflow, expiry, QoS 0 while offline).',
    type: 'counter',
    labels: SESSION,
    series: perSession((s) => s.dropped),
  },
  {
    name: 'inflight',
    help: 'QoS 1/2 operations the session sent and the broker has not acknowledged yet.',
    type: 'gauge',
    labels: SESSION,
    series: perSession((s) => s.inflight),
  },
  {
    name: 'queued',
    help: 'Operations waiting in the session (offline queue, send quota).',
    type: 'gauge',
    labels: SESSION,
    series: perSession((s) => s.queued),
  },
  {
    name: 'queuedBytes',
    help: 'Bytes of the operations waiting in the session.',
    type: 'gauge',
    labels: SESSION,
    series: perSession((s) => s.queuedBytes),
  },
  {
    name: 'receiveRate',
    help: 'Application messages received per second over the last sampling interval.',
    type: 'gauge',
    labels: SESSION,
    series: perSession((s) => s.rates.messagesIn),
  },
  {
    name: 'sendRate',
    help: 'Application messages accepted for publishing per second over the last sampling interval.',
    type: 'gauge',
    labels: SESSION,
    series: perSession((s) => s.rates.messagesOut),
  },
  {
    name: 'roundTrip',
    help: 'Time the latest keepalive PINGREQ took to be answered (sessions that measured one).',
    type: 'gauge',
    labels: SESSION,
    series: perSession((s) => (s.roundTrip === undefined ? undefined : s.roundTrip / 1000)),
  },
  {
    name: 'sessionUp',
    help: 'Whether the session is connected (1) or not (0).',
    type: 'gauge',
    labels: SESSION,
    series: perSession((s) => (s.state === 'connected' ? 1 : 0)),
  },
  {
    name: 'sessionReady',
    help: 'Whether the session is connected and its subscriptions are in place (1) or not (0).',
    type: 'gauge',
    labels: SESSION,
    series: perSession((s) => (s.ready ? 1 : 0)),
  },
  {
    name: 'sessionState',
    help: 'The state of the session: one series per session, with value 1, labelled with the current state.',
    type: 'gauge',
    labels: ['session', 'state'],
    *series(snap) {
      for (const [name, s] of Object.entries(snap.sessions)) yield [{ session: name, state: s.state }, 1];
    },
  },
  {
    name: 'sessions',
    help: 'Sessions in the fleet.',
    type: 'gauge',
    labels: [],
    *series(snap) {
      yield [{}, snap.total.sessions];
    },
  },
  {
    name: 'sessionsByState',
    help: 'Sessions in the fleet by state (every state, 0 when none is in it).',
    type: 'gauge',
    labels: ['state'],
    *series(snap) {
      // every state in lifecycle order (the snapshot lists them all), then any other a source reported
      for (const [state, n] of Object.entries(snap.total.states)) yield [{ state }, n];
    },
  },
  {
    name: 'sessionsReady',
    help: 'Sessions in the fleet that are connected with their subscriptions in place.',
    type: 'gauge',
    labels: [],
    *series(snap) {
      yield [{}, snap.total.ready];
    },
  },
];

const LATENCY_HELP =
  "Time from publish() to the broker's acknowledgement of the session's QoS 1/2 publishes.";

/**
 * Registers the metrics of `metrics` in a prom-client `Registry` (a new one
 * unless `options.registry` is given) and returns it. Values are computed at
 * scrape time from one `metrics.snapshot()` per scrape. prom-client is an
 * optional peer dependency (`npm install prom-client`), loaded at the first
 * call: without it, this throws {@link MissingPeerError}.
 *
 * Per session, labelled `session`: `mqttkit_messages_received_total`,
 * `_messages_sent_total`, `_received_bytes_total`, `_sent_bytes_total`,
 * `_reconnects_total`, `_errors_total`, `_dropped_messages_total`
 * (counters); `_inflight_operations`, `_queued_messages`, `_queued_bytes`,
 * `_messages_received_per_second`, `_messages_sent_per_second`,
 * `_round_trip_seconds` (only sessions that measured one), `_session_up`,
 * `_session_ready`, `_session_state{state}` (gauges);
 * `_publish_latency_seconds` (histogram). For the fleet: `_sessions`,
 * `_sessions_by_state{state}`, `_sessions_ready` (gauges). See
 * `METRIC_NAMES`.
 *
 * Throws `InvalidArgumentError` for a bad prefix or default label, or a
 * name already registered in `options.registry`.
 */
export function createRegistry(
  metrics: FleetMetrics,
  options?: PrometheusOptions & { registry?: undefined },
): PrometheusRegistry<PrometheusContentType>;
/** The same, adding the metrics to `options.registry` (Prometheus or OpenMetrics) and returning it. */
export function createRegistry<T extends PrometheusRegistry>(
  metrics: FleetMetrics,
  options: PrometheusOptions<T> & { registry: T },
): T;
export function createRegistry(metrics: FleetMetrics, options: PrometheusOptions = {}): PrometheusRegistry {
  if (metrics === null || typeof metrics !== 'object' || typeof metrics.snapshot !== 'function') {
    throw new InvalidArgumentError('metrics', 'must be a FleetMetrics');
  }
  if (options === null || typeof options !== 'object') {
    throw new InvalidArgumentError('options', 'must be an object');
  }
  const prefix = options.prefix ?? PROMETHEUS_DEFAULTS.prefix;
  if (typeof prefix !== 'string' || (prefix !== '' && !METRIC_NAME.test(prefix))) {
    throw new InvalidArgumentError('prefix', 'must match [a-zA-Z_:][a-zA-Z0-9_:]* or be empty');
  }
  const defaults = checkDefaultLabels(options.defaultLabels);
  if (options.registry !== undefined) checkRegistry(options.registry);
  const prom = requirePeer<PromClient>('prom-client', 'createRegistry (Prometheus metrics)');
  const registry: PrometheusRegistry = options.registry ?? new prom.Registry();
  const fullName = (key: keyof typeof METRIC_NAMES): string => `${prefix}${METRIC_NAMES[key]}`;
  for (const key of Object.keys(METRIC_NAMES) as (keyof typeof METRIC_NAMES)[]) {
    if (registry.getSingleMetric(fullName(key)) !== undefined) {
      throw new InvalidArgumentError('registry', `has a metric named ${fullName(key)} already`);
    }
  }

  const read = sharedSnapshot(metrics);
  const defaultNames = Object.keys(defaults);
  for (const f of FAMILIES) {
    const config = {
      name: fullName(f.name),
      help: f.help,
      labelNames: [...f.labels, ...defaultNames],
      registers: [registry],
    };
    if (f.type === 'counter') {
      new prom.Counter({
        ...config,
        collect(this: CounterLike) {
          this.reset();
          for (const [labels, v] of f.series(read())) this.inc({ ...labels, ...defaults }, v);
        },
      });
    } else {
      new prom.Gauge({
        ...config,
        collect(this: GaugeLike) {
          this.reset();
          for (const [labels, v] of f.series(read())) this.set({ ...labels, ...defaults }, v);
        },
      });
    }
  }
  const latency = new LatencyHistogramMetric(fullName('publishLatency'), LATENCY_HELP, read, defaults);
  // prom-client types registerMetric for its own classes; the registry calls
  // name, help, type, aggregator, get() and reset(), which this object has
  registry.registerMetric(latency as never);
  return registry;
}

/** The publish-latency histograms of the sessions, converted to seconds, as prom-client's registry reads a histogram. */
class LatencyHistogramMetric {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly labelNames: readonly string[];

  constructor(
    public name: string,
    readonly help: string,
    private readonly read: () => FleetSnapshot,
    private readonly defaults: Labels,
  ) {
    this.labelNames = ['session', ...Object.keys(defaults)];
  }

  async get(): Promise<{
    name: string;
    help: string;
    type: 'histogram';
    aggregator: 'sum';
    values: { metricName: string; labels: Record<string, string | number>; value: number }[];
  }> {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    const bucket = `${this.name}_bucket`;
    for (const [session, s] of Object.entries(this.read().sessions)) {
      const labels = { session, ...this.defaults };
      const h: LatencySnapshot = s.publishLatency;
      let cumulative = 0;
      for (let i = 0; i < h.bounds.length; i++) {
        cumulative += h.counts[i] ?? 0;
        values.push({ metricName: bucket, labels: { le: h.bounds[i] / 1000, ...labels }, value: cumulative });
      }
      values.push({ metricName: bucket, labels: { le: '+Inf', ...labels }, value: h.count });
      values.push({ metricName: `${this.name}_sum`, labels, value: h.sum / 1000 });
      values.push({ metricName: `${this.name}_count`, labels, value: h.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Nothing to reset: the values live in the sessions. */
  reset(): void {}
}

/**
 * `metrics.snapshot()`, taken once for all the metrics a scrape collects:
 * the registry calls every metric's `collect()`/`get()` in one synchronous
 * run, and the snapshot is forgotten at the next microtask.
 */
function sharedSnapshot(metrics: FleetMetrics): () => FleetSnapshot {
  let cached: FleetSnapshot | undefined;
  const forget = (): void => {
    cached = undefined;
  };
  return () => {
    if (cached === undefined) {
      cached = metrics.snapshot();
      queueMicrotask(forget);
    }
    return cached;
  };
}

/**
 * Throws unless `registry` looks like a prom-client `Registry` (checked by
 * shape, not `instanceof`: the application's prom-client may be another copy
 * than the one this package resolves).
 */
export function checkRegistry(registry: unknown): asserts registry is PrometheusRegistry {
  const r = registry as Partial<PrometheusRegistry> | null;
  if (
    r === null ||
    typeof r !== 'object' ||
    typeof r.metrics !== 'function' ||
    typeof r.registerMetric !== 'function' ||
    typeof r.getSingleMetric !== 'function' ||
    typeof r.contentType !== 'string'
  ) {
    throw new InvalidArgumentError('registry', 'must be a prom-client Registry');
  }
}

function checkDefaultLabels(labels: Record<string, string> | undefined): Labels {
  if (labels === undefined) return {};
  if (labels === null || typeof labels !== 'object') {
    throw new InvalidArgumentError('defaultLabels', 'must be an object of strings');
  }
  const out: Labels = {};
  for (const [name, value] of Object.entries(labels)) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      throw new InvalidArgumentError(`defaultLabels.${name}`, 'is not a valid label name');
    }
    if (RESERVED_LABELS.has(name)) {
      throw new InvalidArgumentError(`defaultLabels.${name}`, 'is a label of the metrics themselves');
    }
    if (typeof value !== 'string')
      throw new InvalidArgumentError(`defaultLabels.${name}`, 'must be a string');
    out[name] = value;
  }
  return out;
}
