/**
 * The Prometheus registry of a FleetMetrics, read back with a strict parser
 * of the text format, and its HTTP endpoint over real sockets.
 */
import { createServer, request } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { Counter, type OpenMetricsContentType, Registry } from 'prom-client';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { InvalidArgumentError } from '../../src/core/errors.js';
import {
  createRegistry,
  FleetMetrics,
  type FleetSnapshot,
  METRIC_NAMES,
  type MetricsServer,
  metricsHandler,
  type PrometheusRegistry,
  SESSION_STATES,
  serveMetrics,
} from '../../src/metrics/index.js';
import { LATENCY_BOUNDS } from '../../src/session/index.js';
import { onCleanup } from '../helpers/cleanup.js';
import { type Family, histogramSeries, parsePrometheusText } from '../helpers/prometheus-text.js';
import { FakeSession } from './fake-fleet.js';

// before what onCleanup registered is closed (helpers/cleanup.ts runs after this hook)
afterEach(() => {
  vi.useRealTimers();
});

function fleet(source: Map<string, FakeSession>, interval = 1000): FleetMetrics {
  const f = new FleetMetrics(source, { interval });
  onCleanup(() => f.stop());
  return f;
}

async function serve(registry: PrometheusRegistry, options: { path?: string } = {}): Promise<MetricsServer> {
  const server = await serveMetrics({ registry, port: 0, ...options });
  onCleanup(() => server.close());
  return server;
}

/** Three sessions with traffic, rates and latencies, sampled on a fake clock and then frozen. */
function busyFleet(): { source: Map<string, FakeSession>; metrics: FleetMetrics } {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval', 'Date', 'performance'] });
  const a = new FakeSession({ messagesIn: 5, messagesOut: 7, bytesIn: 100, bytesOut: 200, roundTrip: 12.5 });
  const b = new FakeSession({ state: 'reconnecting', reconnects: 2, errors: 3, dropped: 4, queued: 5 });
  const c = new FakeSession({ inflight: 6, queuedBytes: 1024, roundTrip: 3 });
  a.ready = true;
  c.ready = false;
  a.observe(0.1, 0.7, 4, 4, 90, 30_000);
  c.observe(1);
  const source = new Map([
    ['a', a],
    ['b', b],
    ['c', c],
  ]);
  const metrics = fleet(source);
  a.counters.messagesIn += 40;
  a.counters.messagesOut += 10;
  c.counters.messagesOut += 3;
  vi.advanceTimersByTime(1000);
  metrics.stop(); // the rates stay as sampled
  return { source, metrics };
}

const NAMES = Object.values(METRIC_NAMES).map((n) => `mqttkit_${n}`);

/** The value of the sample `name{labels}` (labels matched exactly). */
function value(
  families: Map<string, Family>,
  family: string,
  labels: Record<string, string>,
): number | undefined {
  const f = families.get(family);
  return f?.samples.find((s) => s.name === family && sameLabels(s.labels, labels))?.value;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

describe('createRegistry', () => {
  it('exposes every metric with HELP and TYPE, with the values of the snapshot', async () => {
    const { metrics } = busyFleet();
    const registry = createRegistry(metrics);
    const snap: FleetSnapshot = metrics.snapshot();
    const families = parsePrometheusText(await registry.metrics());
    expect([...families.keys()].sort()).toEqual([...NAMES].sort());
    for (const f of families.values()) {
      expect(f.help, f.name).toMatch(/\S/);
      expect(f.type, f.name).not.toBe('untyped');
      if (f.type === 'counter') expect(f.name).toMatch(/_total$/);
    }
    const types = Object.fromEntries([...families.values()].map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      mqttkit_messages_received_total: 'counter',
      mqttkit_messages_sent_total: 'counter',
      mqttkit_received_bytes_total: 'counter',
      mqttkit_sent_bytes_total: 'counter',
      mqttkit_reconnects_total: 'counter',
      mqttkit_errors_total: 'counter',
      mqttkit_dropped_messages_total: 'counter',
      mqttkit_inflight_operations: 'gauge',
      mqttkit_queued_messages: 'gauge',
      mqttkit_queued_bytes: 'gauge',
      mqttkit_messages_received_per_second: 'gauge',
      mqttkit_messages_sent_per_second: 'gauge',
      mqttkit_round_trip_seconds: 'gauge',
      mqttkit_publish_latency_seconds: 'histogram',
      mqttkit_session_up: 'gauge',
      mqttkit_session_ready: 'gauge',
      mqttkit_session_state: 'gauge',
      mqttkit_sessions: 'gauge',
      mqttkit_sessions_by_state: 'gauge',
      mqttkit_sessions_ready: 'gauge',
    });

    const perSession: [string, (s: FleetSnapshot['sessions'][string]) => number][] = [
      ['mqttkit_messages_received_total', (s) => s.messagesIn],
      ['mqttkit_messages_sent_total', (s) => s.messagesOut],
      ['mqttkit_received_bytes_total', (s) => s.bytesIn],
      ['mqttkit_sent_bytes_total', (s) => s.bytesOut],
      ['mqttkit_reconnects_total', (s) => s.reconnects],
      ['mqttkit_errors_total', (s) => s.errors],
      ['mqttkit_dropped_messages_total', (s) => s.dropped],
      ['mqttkit_inflight_operations', (s) => s.inflight],
      ['mqttkit_queued_messages', (s) => s.queued],
      ['mqttkit_queued_bytes', (s) => s.queuedBytes],
      ['mqttkit_messages_received_per_second', (s) => s.rates.messagesIn],
      ['mqttkit_messages_sent_per_second', (s) => s.rates.messagesOut],
      ['mqttkit_session_up', (s) => (s.state === 'connected' ? 1 : 0)],
      ['mqttkit_session_ready', (s) => (s.ready ? 1 : 0)],
    ];
    for (const [name, pick] of perSession) {
      expect(families.get(name)?.samples).toHaveLength(3);
      for (const [session, s] of Object.entries(snap.sessions)) {
        expect(value(families, name, { session }), `${name}{session="${session}"}`).toBe(pick(s));
      }
    }
    // the sampled rates made it through (not all zero)
    expect(value(families, 'mqttkit_messages_received_per_second', { session: 'a' })).toBe(40);
    expect(value(families, 'mqttkit_messages_sent_per_second', { session: 'c' })).toBe(3);

    // round trip in seconds, only for the sessions that measured one
    const rtt = families.get('mqttkit_round_trip_seconds')!;
    expect(rtt.samples.map((s) => s.labels.session).sort()).toEqual(['a', 'c']);
    expect(value(families, 'mqttkit_round_trip_seconds', { session: 'a' })).toBe(0.0125);
    expect(value(families, 'mqttkit_round_trip_seconds', { session: 'c' })).toBe(0.003);

    // state: one series per session, the current state
    const state = families.get('mqttkit_session_state')!.samples;
    expect(state.map((s) => [s.labels.session, s.labels.state, s.value])).toEqual([
      ['a', 'connected', 1],
      ['b', 'reconnecting', 1],
      ['c', 'connected', 1],
    ]);

    // fleet
    expect(value(families, 'mqttkit_sessions', {})).toBe(3);
    expect(value(families, 'mqttkit_sessions_ready', {})).toBe(snap.total.ready);
    expect(snap.total.ready).toBe(1);
    const byState = families.get('mqttkit_sessions_by_state')!.samples;
    expect(byState.map((s) => s.labels.state)).toEqual(SESSION_STATES);
    for (const s of byState)
      expect(s.value).toBe(snap.total.states[s.labels.state as keyof typeof snap.total.states]);
  });

  it('converts the latency histograms to seconds with cumulative buckets ending at +Inf = _count', async () => {
    const { metrics } = busyFleet();
    const registry = createRegistry(metrics);
    const snap = metrics.snapshot();
    const families = parsePrometheusText(await registry.metrics());
    const series = histogramSeries(families.get('mqttkit_publish_latency_seconds')!);
    expect(series.map((s) => s.labels.session)).toEqual(['a', 'b', 'c']);
    for (const s of series) {
      const h = snap.sessions[s.labels.session].publishLatency;
      expect(s.buckets.map((b) => b.le)).toEqual([
        ...LATENCY_BOUNDS.map((ms) => ms / 1000),
        Number.POSITIVE_INFINITY,
      ]);
      let cumulative = 0;
      s.buckets.forEach((b, i) => {
        cumulative += h.counts[i];
        expect(b.count).toBe(cumulative);
      });
      expect(s.buckets.at(-1)!.count).toBe(s.count);
      expect(s.count).toBe(h.count);
      expect(s.sum).toBeCloseTo(h.sum / 1000, 12);
    }
    const a = series[0];
    expect(a.count).toBe(6);
    expect(a.buckets.find((b) => b.le === 0.0005)!.count).toBe(1); // 0.1 ms
    expect(a.buckets.find((b) => b.le === 0.005)!.count).toBe(4); // + 0.7, 4, 4 ms
    expect(a.buckets.find((b) => b.le === 10)!.count).toBe(5); // + 90 ms; 30 s only in +Inf
    expect(series[1].count).toBe(0);
  });

  it('escapes odd session names so that they parse back as they were', async () => {
    const names = [
      'quote"d',
      'back\\slash',
      'new\nline',
      'all "\\\n',
      'a,session:b',
      '__proto__',
      'ünï cödé 🚀',
      '',
    ];
    const source = new Map(names.map((n, i) => [n, new FakeSession({ messagesIn: i })]));
    const registry = createRegistry(fleet(source));
    const text = await registry.metrics();
    const families = parsePrometheusText(text);
    const received = families.get('mqttkit_messages_received_total')!.samples;
    expect(received.map((s) => s.labels.session)).toEqual(names);
    expect(received.map((s) => s.value)).toEqual(names.map((_, i) => i));
    const latency = histogramSeries(families.get('mqttkit_publish_latency_seconds')!);
    expect(latency.map((s) => s.labels.session)).toEqual(names);
    // a newline in a name stays escaped: every line of the text is a comment, a sample or blank
    for (const line of text.split('\n')) expect(line).toMatch(/^(#|mqttkit_|$)/);
  });

  it('drops removed sessions from the next scrape', async () => {
    const source = new Map([
      ['stay', new FakeSession({ roundTrip: 1 })],
      ['go', new FakeSession({ roundTrip: 2 })],
    ]);
    const registry = createRegistry(fleet(source));
    expect(await registry.metrics()).toContain('session="go"');
    source.delete('go');
    const text = await registry.metrics();
    expect(text).not.toContain('session="go"');
    const families = parsePrometheusText(text);
    expect(value(families, 'mqttkit_sessions', {})).toBe(1);
    for (const f of families.values()) {
      for (const s of f.samples) if ('session' in s.labels) expect(s.labels.session).toBe('stay');
    }
  });

  it('keeps HELP and TYPE for metrics without series, e.g. an empty fleet', async () => {
    const registry = createRegistry(fleet(new Map()));
    const families = parsePrometheusText(await registry.metrics());
    expect(families.size).toBe(NAMES.length);
    expect(families.get('mqttkit_messages_received_total')!.samples).toEqual([]);
    expect(value(families, 'mqttkit_sessions', {})).toBe(0);
  });

  it('takes a prefix, default labels and an existing registry, whose other metrics stay', async () => {
    const registry = new Registry();
    const own = new Counter({ name: 'app_requests_total', help: 'Requests.', registers: [registry] });
    own.inc(3);
    const source = new Map([['a', new FakeSession({ messagesOut: 9 }).observe(2)]]);
    const returned = createRegistry(fleet(source), {
      registry,
      prefix: 'gw_',
      defaultLabels: { instance: 'gw-1', region: 'eu "west"' },
    });
    expect(returned).toBe(registry);
    const families = parsePrometheusText(await registry.metrics());
    expect(value(families, 'app_requests_total', {})).toBe(3);
    expect(families.has('gw_messages_sent_total')).toBe(true);
    expect(families.has('mqttkit_messages_sent_total')).toBe(false);
    const defaults = { instance: 'gw-1', region: 'eu "west"' };
    expect(value(families, 'gw_messages_sent_total', { session: 'a', ...defaults })).toBe(9);
    expect(value(families, 'gw_sessions', defaults)).toBe(1);
    for (const f of families.values()) {
      if (f.name.startsWith('gw_')) for (const s of f.samples) expect(s.labels).toMatchObject(defaults);
    }
    histogramSeries(families.get('gw_publish_latency_seconds')!);
    // no prefix at all
    const bare = parsePrometheusText(await createRegistry(fleet(source), { prefix: '' }).metrics());
    expect(bare.has('messages_sent_total')).toBe(true);
  });

  it('refuses a name already registered, a bad prefix and bad default labels', () => {
    const f = fleet(new Map());
    const registry = createRegistry(f);
    expect(() => createRegistry(f, { registry })).toThrow(/mqttkit_messages_received_total already/);
    expect(() => createRegistry(f, { registry })).toThrow(InvalidArgumentError);
    expect(() => createRegistry(f, { prefix: '9x' })).toThrow(/prefix/);
    expect(() => createRegistry(f, { prefix: 'a-b' })).toThrow(InvalidArgumentError);
    expect(() => createRegistry(f, { defaultLabels: { session: 'x' } })).toThrow(/defaultLabels.session/);
    expect(() => createRegistry(f, { defaultLabels: { le: 'x' } })).toThrow(InvalidArgumentError);
    expect(() => createRegistry(f, { defaultLabels: { 'bad-name': 'x' } })).toThrow(InvalidArgumentError);
    expect(() => createRegistry(f, { defaultLabels: { __x: 'x' } })).toThrow(InvalidArgumentError);
    expect(() => createRegistry(f, { defaultLabels: { n: 1 as unknown as string } })).toThrow(
      /must be a string/,
    );
  });

  it('takes one snapshot per scrape', async () => {
    const f = fleet(new Map([['a', new FakeSession()]]));
    const registry = createRegistry(f);
    const spy = vi.spyOn(f, 'snapshot');
    await registry.metrics();
    expect(spy).toHaveBeenCalledTimes(1);
    await registry.metrics();
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('works with an OpenMetrics registry, and gives back the registry passed in with its own type', async () => {
    const registry = new Registry<OpenMetricsContentType>();
    registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
    const returned: Registry<OpenMetricsContentType> = createRegistry(
      fleet(new Map([['a', new FakeSession({ messagesIn: 2 })]])),
      { registry },
    );
    expect(returned).toBe(registry);
    // prom-client's Registry is a PrometheusRegistry, whatever its format
    const structural: PrometheusRegistry = new Registry();
    expect(structural.contentType).toBe(Registry.PROMETHEUS_CONTENT_TYPE);
    const text = await registry.metrics();
    expect(text).toContain('# TYPE mqttkit_messages_received counter');
    expect(text).toContain('mqttkit_messages_received_total{session="a"} 2');
    expect(text).toContain('mqttkit_publish_latency_seconds_bucket{le="+Inf",session="a"} 0');
    expect(text.endsWith('# EOF\n')).toBe(true);
  });
});

/** GET/HEAD/POST over a real socket; the body as text. */
function http(
  url: string,
  method = 'GET',
): Promise<{ status: number; type: string | undefined; body: string; allow?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          type: res.headers['content-type'],
          body,
          allow: res.headers.allow,
        }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

describe('serveMetrics', () => {
  it('answers GET on its path with the text format and content type, 404 elsewhere, 405 for POST', async () => {
    const source = new Map([['a', new FakeSession({ messagesIn: 11 })]]);
    const registry = createRegistry(fleet(source));
    const server = await serve(registry);
    expect(server.port).toBeGreaterThan(0);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}/metrics`);

    const res = await http(server.url);
    expect(res.status).toBe(200);
    expect(res.type).toBe(registry.contentType);
    expect(res.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    const families = parsePrometheusText(res.body);
    expect(value(families, 'mqttkit_messages_received_total', { session: 'a' })).toBe(11);

    const viaFetch = await fetch(`${server.url}?x=1`);
    expect(viaFetch.status).toBe(200);
    expect(await viaFetch.text()).toContain('mqttkit_messages_received_total{session="a"} 11');

    const head = await http(server.url, 'HEAD');
    expect(head.status).toBe(200);
    expect(head.body).toBe('');

    expect((await http(`http://127.0.0.1:${server.port}/other`)).status).toBe(404);
    expect((await http(`http://127.0.0.1:${server.port}/`)).status).toBe(404);
    const post = await http(server.url, 'POST');
    expect(post.status).toBe(405);
    expect(post.allow).toBe('GET, HEAD');
  });

  it('serves another path, and close() frees the port', async () => {
    const registry = createRegistry(fleet(new Map()));
    const server = await serveMetrics({ registry, port: 0, path: '/m' });
    expect((await http(`http://127.0.0.1:${server.port}/m`)).status).toBe(200);
    expect((await http(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(404);
    await server.close();
    await server.close(); // twice is fine
    await expect(http(server.url)).rejects.toThrow(/ECONNREFUSED/);
    // the port can be bound again
    const probe = createNetServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(server.port, '127.0.0.1', resolve);
    });
    await new Promise((resolve) => probe.close(resolve));
  });

  it('closes with a keep-alive connection open', async () => {
    const registry = createRegistry(fleet(new Map()));
    const server = await serveMetrics({ registry, port: 0 });
    const res = await fetch(server.url); // undici keeps the connection alive
    await res.text();
    await server.close();
    await expect(http(server.url)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('rejects when the port is taken, and refuses bad options', async () => {
    const registry = createRegistry(fleet(new Map()));
    const first = await serve(registry);
    await expect(serveMetrics({ registry, port: first.port })).rejects.toThrow(/EADDRINUSE/);
    await expect(serveMetrics({ registry, port: -1 })).rejects.toThrow(InvalidArgumentError);
    await expect(serveMetrics({ registry, port: 0, path: 'metrics' })).rejects.toThrow(/path/);
    await expect(serveMetrics({ registry: {} as PrometheusRegistry, port: 0 })).rejects.toThrow(/registry/);
  });
});

describe('metricsHandler', () => {
  it('plugs into a node:http server, and answers 500 without details when collecting fails', async () => {
    let broken = false;
    const map = new Map([['a', new FakeSession()]]);
    const f = new FleetMetrics({
      entries: () => {
        if (broken) throw new Error('secret detail');
        return map.entries();
      },
    });
    onCleanup(() => f.stop());
    const server = createServer(metricsHandler(createRegistry(f)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onCleanup(() => new Promise((resolve) => server.close(resolve)));
    const address = server.address();
    const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/anything`;
    expect((await http(url)).status).toBe(200);
    broken = true;
    const res = await http(url);
    expect(res.status).toBe(500);
    expect(res.body).not.toContain('secret');
  });
});
